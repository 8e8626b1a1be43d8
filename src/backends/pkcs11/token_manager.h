#pragma once
// One token per tenant namespace, found by label, initialised on first use; per token a
// pool of logged-in sessions and a cache of object handles.
//
// Why the cache: C_FindObjects is O(objects on the token) in SoftHSM (~3,000/s at 10
// objects, ~15/s at 4,400), so a handle found once is kept until a session/login loss or
// a stale-handle error says it may be wrong.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/cryptoki.h"
#include "backends/secret_store.h"
#include "common/log.h"
#include "common/result.h"

namespace keygate::backends::pkcs11 {

struct ObjectRef {
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  CK_OBJECT_CLASS objectClass = 0;
};
using ObjectSet = std::vector<ObjectRef>;

class Token;

// A logged-in session lent to one thread; goes back to its token's pool when destroyed.
class Session {
 public:
  Session(Token* token, CK_SESSION_HANDLE handle, uint64_t generation)
      : token_(token), handle_(handle), generation_(generation) {}
  Session(Session&& o) noexcept;
  Session& operator=(Session&&) = delete;
  Session(const Session&) = delete;
  ~Session();
  CK_SESSION_HANDLE handle() const { return handle_; }
  Cryptoki& ck() const;
  Token& token() const { return *token_; }
  // Close instead of pooling (the module reported the session unusable).
  void markBroken() { healthy_ = false; }

 private:
  Token* token_;
  CK_SESSION_HANDLE handle_;
  uint64_t generation_;
  bool healthy_ = true;
};

// A tenant's token. Thread-safe; owned by TokenManager (shared with in-flight callers).
class Token {
 public:
  Token(std::shared_ptr<Cryptoki> ck, std::string tenantNamespace, std::string label, CK_SLOT_ID slot,
        SecretValue userPin, size_t maxIdleSessions);
  ~Token();
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  const std::string& label() const { return label_; }
  const std::string& tenantNamespace() const { return namespace_; }
  Cryptoki& ck() const { return *ck_; }

  // Runs fn on a logged-in session. When fn (or getting the session) fails with a session
  // or login loss (CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, CKR_DEVICE_REMOVED, …)
  // or a stale object handle, drops the pool and the handle cache, re-opens (re-finding
  // the slot by label after a device loss) and retries fn once. fn must be idempotent and
  // must not call withSession itself.
  //
  // Access: kExclusive for whatever creates or destroys token objects (generate, unwrap,
  // destroy), kShared for everything else. SoftHSM 2.6.1 (Debian 12) corrupts a token
  // object being created while another session reads the token's object set (SoftHSMv2
  // issue #573, fixed after 2.6.1): parallel C_GenerateKey on one token fails now and then
  // with CKR_GENERAL_ERROR or CKR_TEMPLATE_INCONSISTENT and loses the object. Tokens are
  // per tenant, so different tenants still run fully in parallel.
  //
  // Exclusive sections run one after another on the token's creator thread (started on
  // first use, gone after a minute idle); the caller blocks until its section is done.
  // Back-to-back creates then run like a tight loop on one warm thread: no hand-off of the
  // lock from one worker to the next (a futex wake and a scheduling delay per key), and
  // the finished worker wakes while the next create already runs.
  //
  // kCrypto is for crypto calls on objects whose handles are already cached (the crypto
  // API's Encrypt, Sign, …): it takes no lock at all, so key creation never stalls
  // encryption and encryption never delays a create. It must not find, create or destroy
  // objects (those read or change the token's object set).
  enum class Access { kShared, kExclusive, kCrypto };
  template <typename T>
  Result<T> withSession(const std::function<Result<T>(Session&)>& fn, Access access = Access::kShared);

  // On a pooled logged-in session: the token is still in its slot, with its label, and
  // neither PIN locked (CKR_* errors from the module as they are).
  Status probe();

  // The handle cache, keyed by CKA_ID.
  std::optional<ObjectSet> cachedObjects(const Bytes& id);
  void cacheObjects(const Bytes& id, ObjectSet objects);
  void forgetObjects(const Bytes& id);
  // The cache filled from one pass over the whole token (Pkcs11Backend::lookup, on its first
  // miss): true for the one caller that should make that pass, once per token and again
  // after a recovery (which empties the cache). cacheIndex adds what is not cached yet.
  bool claimIndex();
  void cacheIndex(std::map<Bytes, ObjectSet> byId);


  // Counters for tests and metrics.
  struct Stats {
    uint64_t sessionsOpened = 0;
    uint64_t logins = 0;
    uint64_t recoveries = 0;
    size_t idleSessions = 0;
    // Exclusive (object-creating) sections: how many, and how long the token was held.
    uint64_t exclusiveSections = 0;
    std::chrono::nanoseconds exclusiveHeld{0};
    // CPU time (user + system) of the holding thread inside those sections: held minus
    // CPU is time the holder was runnable but preempted, or blocked in I/O.
    std::chrono::nanoseconds exclusiveCpu{0};
  };
  Stats stats();

 private:
  friend class Session;
  Result<Session> acquire();
  void release(CK_SESSION_HANDLE handle, uint64_t generation, bool healthy);
  Status recover(const Error& cause);

  std::shared_ptr<Cryptoki> ck_;
  const std::string namespace_;
  const std::string label_;
  const SecretValue userPin_;
  const size_t maxIdle_;
  log::Logger log_{"pkcs11.token"};

  std::mutex mu_;  // guards everything below
  CK_SLOT_ID slot_;
  uint64_t generation_ = 0;
  std::vector<CK_SESSION_HANDLE> idle_;
  size_t open_ = 0;  // sessions of the current generation
  bool loggedIn_ = false;
  std::map<Bytes, ObjectSet> handles_;
  bool indexClaimed_ = false;
  Stats stats_;

  std::shared_mutex objectsMu_;  // see Access
  // The creator thread (see Access).
  struct ExclusiveJob {
    const std::function<void()>* fn;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable doneCv;
  };
  void runExclusive(const std::function<void()>& fn);
  void creatorLoop();
  std::mutex jobsMu_;
  std::condition_variable jobsCv_;
  std::deque<ExclusiveJob*> jobs_;
  std::thread creator_;
  bool creatorRunning_ = false, stopping_ = false;

  template <typename T>
  Result<T> runWithRetry(const std::function<Result<T>(Session&)>& fn);
  std::atomic<uint64_t> exclusiveSections_{0};
  std::atomic<int64_t> exclusiveHeldNs_{0};
  std::atomic<int64_t> exclusiveCpuNs_{0};
};

struct TokenManagerOptions {
  std::string backendName = "pkcs11";  // names the PIN secrets
  size_t maxIdleSessionsPerToken = 4;  // ≈ reconcile workers; more are opened on demand
  // Called after a tenant token was initialised (C_InitToken + C_InitPIN); may be empty.
  std::function<void(const std::string& label)> onTokenInitialised;
};

class TokenManager {
 public:
  TokenManager(std::shared_ptr<Cryptoki> ck, SecretStorePtr secrets, TokenManagerOptions options);

  // The tenant's token, logged in. First use: initialises a free slot (C_InitToken, then
  // C_InitPIN through an SO session) with PINs from a CSPRNG that are stored in the
  // SecretStore *before* the token is touched. Later (and after a restart): found by
  // label, PIN read from the store. Errors: Unauthenticated when the stored PIN is
  // rejected (nothing is changed on the token), FailedPrecondition when the token exists
  // but the store has no PIN for it, ResourceExhausted when no free slot is left.
  Result<std::shared_ptr<Token>> token(std::string_view tenantNamespace);
  // The module answers C_GetSlotList, and every token in use passes Token::probe().
  Status probe();

  // Secret names: "<backend>.<namespace>.user-pin" / ".so-pin".
  std::string userPinName(std::string_view ns) const;
  std::string soPinName(std::string_view ns) const;

 private:
  Status initUserPin(CK_SLOT_ID slot, const std::string& label, const SecretValue& soPin,
                     const SecretValue& userPin);

  std::shared_ptr<Cryptoki> ck_;
  SecretStorePtr secrets_;
  TokenManagerOptions options_;
  log::Logger log_{"pkcs11.tokens"};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Token>, std::less<>> tokens_;
};

// The slot whose initialised token has this (unpadded) label; nullopt when none.
Result<std::optional<CK_SLOT_ID>> findSlotByLabel(Cryptoki& ck, std::string_view label);
// A PIN from OpenSSL's CSPRNG: 48 hex characters (192 bits).
Result<SecretValue> generatePin();

template <typename T>
Result<T> Token::withSession(const std::function<Result<T>(Session&)>& fn, Access access) {
  if (access == Access::kExclusive) {
    std::optional<Result<T>> out;
    runExclusive([&] { out.emplace(runWithRetry<T>(fn)); });
    return std::move(*out);
  }
  if (access == Access::kCrypto) return runWithRetry<T>(fn);
  std::shared_lock<std::shared_mutex> shared(objectsMu_);
  return runWithRetry<T>(fn);
}

template <typename T>
Result<T> Token::runWithRetry(const std::function<Result<T>(Session&)>& fn) {
  for (int attempt = 0;; ++attempt) {
    Result<Session> session = acquire();
    if (!session.ok()) {
      if (attempt == 0 && isSessionLoss(session.error())) {
        RETURN_IF_ERROR(recover(session.error()));
        continue;
      }
      return session.takeError();
    }
    Result<T> r = fn(session.value());
    if (r.ok() || attempt > 0) return r;
    const Error& e = r.error();
    if (!isSessionLoss(e) && !isStaleHandle(e)) return r;
    session.value().markBroken();
    { Session drop(std::move(session.value())); }  // back before recovering
    log_.warn("retrying after session loss", {{"token", label_}, {"cause", e.reason}});
    RETURN_IF_ERROR(recover(e));
  }
}

}  // namespace keygate::backends::pkcs11
