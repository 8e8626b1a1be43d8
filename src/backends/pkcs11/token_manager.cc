#include "backends/pkcs11/token_manager.h"

#include <openssl/rand.h>

#include <cstring>

#include "backends/pkcs11/templates.h"
#include "common/cpu_affinity.h"
#include "common/thread_sched.h"

namespace keygate::backends::pkcs11 {
namespace {

constexpr CK_FLAGS kSessionFlags = CKF_SERIAL_SESSION | CKF_RW_SESSION;

std::string labelOf(const CK_TOKEN_INFO& info) {
  std::string s(reinterpret_cast<const char*>(info.label), sizeof(info.label));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

// ---- Session ----

Session::Session(Session&& o) noexcept
    : token_(o.token_), handle_(o.handle_), generation_(o.generation_), healthy_(o.healthy_) {
  o.token_ = nullptr;
}

Session::~Session() {
  if (token_ != nullptr) token_->release(handle_, generation_, healthy_);
}

Cryptoki& Session::ck() const { return token_->ck(); }

// ---- Token ----

Token::Token(std::shared_ptr<Cryptoki> ck, std::string tenantNamespace, std::string label, CK_SLOT_ID slot,
             SecretValue userPin, size_t maxIdleSessions)
    : ck_(std::move(ck)),
      namespace_(std::move(tenantNamespace)),
      label_(std::move(label)),
      userPin_(std::move(userPin)),
      maxIdle_(maxIdleSessions == 0 ? 1 : maxIdleSessions),
      slot_(slot) {}

Token::~Token() {
  {
    std::lock_guard<std::mutex> l(jobsMu_);
    stopping_ = true;
  }
  jobsCv_.notify_all();
  if (creator_.joinable()) creator_.join();
  std::lock_guard<std::mutex> l(mu_);
  for (CK_SESSION_HANDLE h : idle_) ck_->closeSession(h);
}

void Token::runExclusive(const std::function<void()>& fn) {
  ExclusiveJob job{&fn, nullptr, false, {}};
  std::unique_lock<std::mutex> l(jobsMu_);
  if (!creatorRunning_) {
    if (creator_.joinable()) creator_.join();  // an idle one that has returned already
    creatorRunning_ = true;
    creator_ = startNamedThread("kg-hsm-create", [this] { creatorLoop(); });
  }
  jobs_.push_back(&job);
  jobsCv_.notify_one();
  job.doneCv.wait(l, [&] { return job.done; });
  if (job.error) std::rethrow_exception(job.error);
}

void Token::creatorLoop() {
  constexpr auto kIdleExit = std::chrono::seconds(60);
  // SoftHSM blocks ~65 times per create (file locks, ftruncate, close): get back on a CPU
  // promptly after each, also while reconcile workers and API traffic keep the cores busy.
  if (std::string why = requestShortSchedulerSlice(); !why.empty())
    log_.debug("creator thread keeps the default scheduler slice", {{"token", label_}, {"reason", why}});
  // `--hsm-cpus`: onto the CPUs set aside for object creation (common/cpu_affinity.h).
  if (std::string why = moveToReservedCpus(); !why.empty())
    log_.warn("creator thread stays off the reserved CPUs", {{"token", label_}, {"reason", why}});
  std::unique_lock<std::mutex> l(jobsMu_);
  for (;;) {
    if (!jobsCv_.wait_for(l, kIdleExit, [&] { return stopping_ || !jobs_.empty(); })) {
      creatorRunning_ = false;  // idle: the next runExclusive starts a new one
      return;
    }
    if (jobs_.empty()) {  // stopping, nothing left to run
      creatorRunning_ = false;
      return;
    }
    ExclusiveJob* job = jobs_.front();
    jobs_.pop_front();
    l.unlock();
    {
      std::unique_lock<std::shared_mutex> exclusive(objectsMu_);
      const auto start = std::chrono::steady_clock::now();
      const int64_t cpuStart = threadCpuNs();
      try {
        (*job->fn)();
      } catch (...) {
        job->error = std::current_exception();
      }
      exclusiveSections_++;
      exclusiveHeldNs_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
      exclusiveCpuNs_ += threadCpuNs() - cpuStart;
    }
    l.lock();
    job->done = true;
    job->doneCv.notify_one();
  }
}

Status Token::probe() {
  auto r = withSession<bool>([this](Session&) -> Result<bool> {
    CK_SLOT_ID slot;
    {
      std::lock_guard<std::mutex> l(mu_);
      slot = slot_;
    }
    CK_TOKEN_INFO info;
    std::memset(&info, 0, sizeof(info));
    RETURN_IF_ERROR(ckCheck("C_GetTokenInfo", ck_->getTokenInfo(slot, &info), label_));
    if (labelOf(info) != label_)
      return makeError(ErrorCode::kUnavailable, "token " + label_ + ": the slot now holds another token");
    if (info.flags & CKF_USER_PIN_LOCKED)
      return makeError(ErrorCode::kUnavailable, "token " + label_ + ": the user PIN is locked");
    return true;
  });
  return r.ok() ? okStatus() : Status(r.takeError());
}

Result<Session> Token::acquire() {
  std::lock_guard<std::mutex> l(mu_);
  if (!idle_.empty()) {
    CK_SESSION_HANDLE h = idle_.back();
    idle_.pop_back();
    return Session(this, h, generation_);
  }
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = ck_->openSession(slot_, kSessionFlags, &h);
  if (rv != CKR_OK) return ckError("C_OpenSession", rv, label_);
  ++open_;
  ++stats_.sessionsOpened;
  if (!loggedIn_) {
    // Login state is per application and token: one login covers every session.
    rv = ck_->login(h, CKU_USER, userPin_.value());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      ck_->closeSession(h);
      --open_;
      std::string why = label_;
      if (rv == CKR_PIN_INCORRECT) why += ": the token rejected the user PIN held in the secret store";
      return ckError("C_Login", rv, why);
    }
    loggedIn_ = true;
    ++stats_.logins;
  }
  return Session(this, h, generation_);
}

void Token::release(CK_SESSION_HANDLE handle, uint64_t generation, bool healthy) {
  std::lock_guard<std::mutex> l(mu_);
  if (generation != generation_) {  // from before a recovery: already counted out
    ck_->closeSession(handle);
    return;
  }
  if (healthy && idle_.size() < maxIdle_) {
    idle_.push_back(handle);
    return;
  }
  ck_->closeSession(handle);
  if (open_ > 0) --open_;
  if (open_ == 0) loggedIn_ = false;  // closing the last session logs the application out
}

Status Token::recover(const Error& cause) {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  ++stats_.recoveries;
  for (CK_SESSION_HANDLE h : idle_) ck_->closeSession(h);
  idle_.clear();
  open_ = 0;
  loggedIn_ = false;
  handles_.clear();
  indexClaimed_ = false;
  if (isDeviceLoss(cause)) {
    ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot, findSlotByLabel(*ck_, label_));
    if (!slot) {
      return makeError(ErrorCode::kUnavailable, "token " + label_ + " is no longer present (" + cause.reason + ")");
    }
    slot_ = *slot;
  }
  return okStatus();
}

std::optional<ObjectSet> Token::cachedObjects(const Bytes& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = handles_.find(id);
  if (it == handles_.end()) return std::nullopt;
  return it->second;
}

void Token::cacheObjects(const Bytes& id, ObjectSet objects) {
  std::lock_guard<std::mutex> l(mu_);
  handles_[id] = std::move(objects);
}

void Token::forgetObjects(const Bytes& id) {
  std::lock_guard<std::mutex> l(mu_);
  handles_.erase(id);
}

bool Token::claimIndex() {
  std::lock_guard<std::mutex> l(mu_);
  if (indexClaimed_) return false;
  indexClaimed_ = true;
  return true;
}

void Token::cacheIndex(std::map<Bytes, ObjectSet> byId) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, objs] : byId) handles_.emplace(id, std::move(objs));  // what is cached stays
}

Token::Stats Token::stats() {
  std::lock_guard<std::mutex> l(mu_);
  Stats s = stats_;
  s.idleSessions = idle_.size();
  s.exclusiveSections = exclusiveSections_.load();
  s.exclusiveHeld = std::chrono::nanoseconds(exclusiveHeldNs_.load());
  s.exclusiveCpu = std::chrono::nanoseconds(exclusiveCpuNs_.load());
  return s;
}

// ---- TokenManager ----

Result<std::optional<CK_SLOT_ID>> findSlotByLabel(Cryptoki& ck, std::string_view label) {
  std::vector<CK_SLOT_ID> slots;
  RETURN_IF_ERROR(ckCheck("C_GetSlotList", ck.getSlotList(true, &slots)));
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    std::memset(&info, 0, sizeof(info));
    if (ck.getTokenInfo(slot, &info) != CKR_OK) continue;  // a token removed meanwhile
    if ((info.flags & CKF_TOKEN_INITIALIZED) && labelOf(info) == label) return std::optional<CK_SLOT_ID>(slot);
  }
  return std::optional<CK_SLOT_ID>();
}

Result<SecretValue> generatePin() {
  unsigned char raw[24];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    return makeError(ErrorCode::kInternal, "OpenSSL RAND_bytes failed: cannot generate a token PIN");
  }
  static const char* kHex = "0123456789abcdef";
  std::string pin;
  pin.reserve(48);
  for (unsigned char b : raw) {
    pin += kHex[b >> 4];
    pin += kHex[b & 15];
  }
  OPENSSL_cleanse(raw, sizeof(raw));
  return SecretValue(std::move(pin));
}

TokenManager::TokenManager(std::shared_ptr<Cryptoki> ck, SecretStorePtr secrets, TokenManagerOptions options)
    : ck_(std::move(ck)), secrets_(std::move(secrets)), options_(std::move(options)) {}

std::string TokenManager::userPinName(std::string_view ns) const {
  return options_.backendName + "." + std::string(ns) + ".user-pin";
}

std::string TokenManager::soPinName(std::string_view ns) const {
  return options_.backendName + "." + std::string(ns) + ".so-pin";
}

Status TokenManager::initUserPin(CK_SLOT_ID slot, const std::string& label, const SecretValue& soPin,
                                 const SecretValue& userPin) {
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(ckCheck("C_OpenSession", ck_->openSession(slot, kSessionFlags, &h), label));
  CK_RV rv = ck_->login(h, CKU_SO, soPin.value());
  if (rv != CKR_OK) {
    ck_->closeSession(h);
    return ckError("C_Login(SO)", rv, label);
  }
  rv = ck_->initPin(h, userPin.value());
  ck_->logout(h);
  ck_->closeSession(h);
  return ckCheck("C_InitPIN", rv, label);
}

Status TokenManager::probe() {
  std::vector<CK_SLOT_ID> slots;
  RETURN_IF_ERROR(ckCheck("C_GetSlotList", ck_->getSlotList(true, &slots)));
  std::vector<std::shared_ptr<Token>> inUse;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [ns, t] : tokens_) inUse.push_back(t);
  }
  for (const auto& t : inUse) RETURN_IF_ERROR(t->probe());
  return okStatus();
}

Result<std::shared_ptr<Token>> TokenManager::token(std::string_view ns) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = tokens_.find(ns); it != tokens_.end()) return it->second;

  const std::string label = tokenLabel(ns);
  // The SO PIN is read only where it is used: creating the token, or finishing one whose
  // creation was interrupted. Opening an existing token never touches it.
  ASSIGN_OR_RETURN(std::optional<SecretValue> userPin, secrets_->get(userPinName(ns)));
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot, findSlotByLabel(*ck_, label));
  std::optional<SecretValue> soPin;

  if (slot) {
    if (!userPin) {
      return makeError(ErrorCode::kFailedPrecondition,
                       "token " + label + " exists but the secret store has no " + userPinName(ns) +
                           "; refusing to re-initialise a token that may hold keys");
    }
    CK_TOKEN_INFO info;
    std::memset(&info, 0, sizeof(info));
    RETURN_IF_ERROR(ckCheck("C_GetTokenInfo", ck_->getTokenInfo(*slot, &info), label));
    if (!(info.flags & CKF_USER_PIN_INITIALIZED)) {
      // A crash between C_InitToken and C_InitPIN: finish the job.
      ASSIGN_OR_RETURN(soPin, secrets_->get(soPinName(ns)));
      if (!soPin) {
        return makeError(ErrorCode::kFailedPrecondition,
                         "token " + label + " has no user PIN and the secret store has no " + soPinName(ns));
      }
      RETURN_IF_ERROR(initUserPin(*slot, label, *soPin, *userPin));
      log_.info("finished initialising token", {{"token", label}, {"namespace", ns}});
    }
  } else {
    ASSIGN_OR_RETURN(soPin, secrets_->get(soPinName(ns)));
    if (!soPin || !userPin) {
      // Persist the PINs before the token exists: a crash after C_InitToken must not
      // leave a token nobody can log in to.
      // putIfAbsent: a PIN another writer stored first is the one the token gets.
      ASSIGN_OR_RETURN(SecretValue so, generatePin());
      ASSIGN_OR_RETURN(SecretValue user, generatePin());
      ASSIGN_OR_RETURN(SecretValue keptSo, secrets_->putIfAbsent(soPinName(ns), so));
      ASSIGN_OR_RETURN(SecretValue keptUser, secrets_->putIfAbsent(userPinName(ns), user));
      soPin = std::move(keptSo);
      userPin = std::move(keptUser);
    }
    std::vector<CK_SLOT_ID> slots;
    RETURN_IF_ERROR(ckCheck("C_GetSlotList", ck_->getSlotList(true, &slots)));
    std::optional<CK_SLOT_ID> freeSlot;
    for (CK_SLOT_ID s : slots) {
      CK_TOKEN_INFO info;
      std::memset(&info, 0, sizeof(info));
      if (ck_->getTokenInfo(s, &info) == CKR_OK && !(info.flags & CKF_TOKEN_INITIALIZED)) {
        freeSlot = s;
        break;
      }
    }
    if (!freeSlot) {
      return makeError(ErrorCode::kResourceExhausted,
                       "no uninitialised token left for " + label + " (the module has no free slot)");
    }
    RETURN_IF_ERROR(ckCheck("C_InitToken", ck_->initToken(*freeSlot, soPin->value(), paddedLabel(label)), label));
    // Slot ids are not stable (SoftHSM renumbers after C_InitToken): find it again.
    ASSIGN_OR_RETURN(slot, findSlotByLabel(*ck_, label));
    if (!slot) return makeError(ErrorCode::kInternal, "token " + label + " not found right after C_InitToken");
    RETURN_IF_ERROR(initUserPin(*slot, label, *soPin, *userPin));
    log_.info("initialised tenant token", {{"token", label}, {"namespace", ns}, {"slot", *slot}});
    if (options_.onTokenInitialised) options_.onTokenInitialised(label);
  }

  auto token = std::make_shared<Token>(ck_, std::string(ns), label, *slot, *userPin,
                                       options_.maxIdleSessionsPerToken);
  // Log in now: a wrong PIN is reported here, before anything else touches the token.
  RETURN_IF_ERROR(token->withSession<bool>([](Session&) -> Result<bool> { return true; }));
  tokens_.emplace(std::string(ns), token);
  return token;
}

}  // namespace keygate::backends::pkcs11
