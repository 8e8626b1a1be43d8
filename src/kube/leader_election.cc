#include "kube/leader_election.h"

#include <algorithm>
#include <functional>

#include "common/thread_sched.h"
#include "common/time.h"
#include "kube/resource.h"

namespace keygate::kube {
namespace {

using std::chrono::nanoseconds;

int64_t wholeSecondsUp(std::chrono::milliseconds d) { return (d.count() + 999) / 1000; }

int64_t steadyNs(SteadyTime t) { return std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count(); }

}  // namespace

Result<std::unique_ptr<LeaderElector>> LeaderElector::create(ClientPtr client, LeaderElectionOptions options) {
  auto bad = [](const std::string& m) { return makeError(ErrorCode::kInvalidArgument, "leader election: " + m); };
  if (!client) return bad("a client is required");
  if (options.ns.empty() || options.leaseName.empty()) return bad("the Lease namespace and name are required");
  if (options.identity.empty()) return bad("identity must not be empty");
  if (options.leaseDuration < std::chrono::seconds(1)) return bad("leaseDuration must be at least 1s");
  if (options.retryPeriod <= std::chrono::milliseconds::zero()) return bad("retryPeriod must be positive");
  if (options.jitterFactor < 0) return bad("jitterFactor must not be negative");
  // Same constraints as client-go: the leader must give up before anyone may take over, and
  // must get more than one renewal attempt within the deadline.
  if (options.renewDeadline >= options.leaseDuration) return bad("renewDeadline must be less than leaseDuration");
  if (static_cast<double>(options.renewDeadline.count()) <=
      options.jitterFactor * static_cast<double>(options.retryPeriod.count()))
    return bad("renewDeadline must be greater than retryPeriod * jitterFactor");
  return std::unique_ptr<LeaderElector>(new LeaderElector(std::move(client), std::move(options)));
}

LeaderElector::LeaderElector(ClientPtr client, LeaderElectionOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : realClock()),
      rngState_(std::hash<std::string>{}(options_.identity) ^
                static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) {}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = startNamedThread("kg-leader", [this] { loop(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cond_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
    return;
  }
  // Driven by step() (tests): shut down the same way the loop does.
  if (leading_.load()) {
    stepDown("stopping");
    if (options_.releaseOnStop) release();
  }
}

bool LeaderElector::isLeader() const {
  if (!leading_.load(std::memory_order_acquire)) return false;
  return steadyNs(clock_.steadyNow()) < leaderUntilNs_.load(std::memory_order_acquire);
}

std::string LeaderElector::leader() const {
  std::lock_guard<std::mutex> lock(leaderMu_);
  return leader_;
}

void LeaderElector::loop() {
  while (true) {
    nanoseconds wait = step();
    std::unique_lock<std::mutex> lock(mu_);
    if (cond_.wait_for(lock, wait, [this] { return stopping_; })) break;
  }
  if (leading_.load()) {
    // Stop the work before giving the Lease away, so two leaders never overlap.
    stepDown("stopping");
    if (options_.releaseOnStop) release();
  }
}

nanoseconds LeaderElector::step() {
  const nanoseconds retry = options_.retryPeriod;
  const nanoseconds deadline = options_.renewDeadline;
  if (!leading_.load()) {
    SteadyTime attempt = clock_.steadyNow();
    if (!tryAcquireOrRenew()) return jittered(retry);
    lastRenew_ = attempt;
    if (clock_.steadyNow() >= lastRenew_ + deadline) return jittered(retry);  // too slow to trust
    becomeLeader();
    return retry;
  }
  SteadyTime attempt = clock_.steadyNow();
  if (attempt >= lastRenew_ + deadline) {
    stepDown("renew deadline passed");
    return jittered(retry);
  }
  bool renewed = tryAcquireOrRenew();
  SteadyTime now = clock_.steadyNow();
  if (renewed) {
    // Count from when the request was sent: the server applied it no earlier, so others
    // cannot have seen an older record than this.
    lastRenew_ = attempt;
    leaderUntilNs_.store(steadyNs(lastRenew_ + deadline), std::memory_order_release);
  }
  if (now >= lastRenew_ + deadline) {
    stepDown("renew deadline passed");
    return jittered(retry);
  }
  std::string holder = getString(observedSpec_, "holderIdentity");
  if (!renewed && !holder.empty() && holder != options_.identity) {
    stepDown("lease taken over");
    return jittered(retry);
  }
  // Wake no later than the deadline so the step-down callback is not late.
  return std::min<nanoseconds>(retry, lastRenew_ + deadline - now);
}

bool LeaderElector::tryAcquireOrRenew() {
  const Resource leases = resources::leases();
  // Fast path while leading: renew from the cached Lease without a GET; a conflict means the
  // cache is stale, so fall back to reading it.
  if (leading_.load() && !observedLease_.is_null() && writeRecord(&observedLease_, true)) return true;

  auto got = client_->get(leases, options_.ns, options_.leaseName);
  if (!got.ok()) {
    if (got.error().code == ErrorCode::kNotFound) return writeRecord(nullptr, false);
    log_.warn("reading the lease failed",
              {{"lease", options_.leaseName}, {"namespace", options_.ns}, {"error", got.error().toString()}});
    return false;
  }
  observe(*got);
  std::string holder = getString(observedSpec_, "holderIdentity");
  if (!holder.empty() && holder != options_.identity) {
    int64_t seconds = getInt(observedSpec_, "leaseDurationSeconds", 0);
    if (seconds <= 0) seconds = wholeSecondsUp(options_.leaseDuration);
    if (observedTime_ + std::chrono::seconds(seconds) > clock_.steadyNow()) return false;  // held, not expired
    log_.info("lease expired, taking over", {{"lease", options_.leaseName}, {"previousHolder", holder}});
  }
  return writeRecord(&*got, holder == options_.identity);
}

bool LeaderElector::writeRecord(const Json* current, bool keepAcquire) {
  const Resource leases = resources::leases();
  std::string now = formatRfc3339Micro(clock_.now());
  Json spec = {{"holderIdentity", options_.identity},
               {"leaseDurationSeconds", wholeSecondsUp(options_.leaseDuration)},
               {"acquireTime", now},
               {"renewTime", now},
               {"leaseTransitions", 0}};
  Result<Json> written = makeError(ErrorCode::kInternal, "unset");
  if (current == nullptr) {
    Json body = {{"apiVersion", leases.apiVersion()},
                 {"kind", leases.kind},
                 {"metadata", {{"name", options_.leaseName}, {"namespace", options_.ns}}},
                 {"spec", spec}};
    written = client_->create(leases, options_.ns, body);
  } else {
    int64_t transitions = getInt(*current, "spec.leaseTransitions", 0);
    std::string acquired = getString(*current, "spec.acquireTime");
    if (keepAcquire && !acquired.empty()) spec["acquireTime"] = acquired;
    spec["leaseTransitions"] = keepAcquire ? transitions : transitions + 1;
    Json body = *current;
    body["spec"] = spec;
    if (body.contains("metadata")) body["metadata"].erase("managedFields");
    written = client_->update(leases, options_.ns, body);
  }
  if (!written.ok()) {
    // A 409 (AlreadyExists / Conflict) means another candidate wrote first: expected.
    bool raced = written.error().code == ErrorCode::kConflict || written.error().code == ErrorCode::kAlreadyExists;
    log::Level level = raced ? log::Level::kDebug : log::Level::kWarn;
    log_.write(level, current ? "updating the lease failed" : "creating the lease failed",
               {{"lease", options_.leaseName}, {"error", written.error().toString()}});
    return false;
  }
  observe(*written);
  return true;
}

void LeaderElector::observe(const Json& lease) {
  Json spec = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : Json::object();
  if (spec != observedSpec_) {
    observedSpec_ = spec;
    observedTime_ = clock_.steadyNow();
  }
  observedLease_ = lease;
  std::string holder = getString(spec, "holderIdentity");
  {
    std::lock_guard<std::mutex> lock(leaderMu_);
    leader_ = holder;
  }
  if (!holder.empty() && holder != reportedLeader_) {
    reportedLeader_ = holder;
    log_.info("new leader observed", {{"lease", options_.leaseName}, {"leader", holder}});
    if (options_.callbacks.onNewLeader) options_.callbacks.onNewLeader(holder);
  }
}

void LeaderElector::becomeLeader() {
  leaderUntilNs_.store(steadyNs(lastRenew_ + options_.renewDeadline), std::memory_order_release);
  leading_.store(true, std::memory_order_release);
  log_.info("started leading", {{"lease", options_.leaseName}, {"identity", options_.identity}});
  if (options_.callbacks.onStartedLeading) options_.callbacks.onStartedLeading();
}

void LeaderElector::stepDown(const char* why) {
  leading_.store(false, std::memory_order_release);
  leaderUntilNs_.store(0, std::memory_order_release);
  log_.info("stopped leading", {{"lease", options_.leaseName}, {"identity", options_.identity}, {"reason", why}});
  if (options_.callbacks.onStoppedLeading) options_.callbacks.onStoppedLeading();
}

void LeaderElector::release() {
  if (leading_.load()) stepDown("releasing");
  if (observedLease_.is_null() || getString(observedSpec_, "holderIdentity") != options_.identity) return;
  // client-go's release: empty holder and a 1s duration so a successor takes over at once.
  std::string now = formatRfc3339Micro(clock_.now());
  Json body = observedLease_;
  body["spec"] = {{"holderIdentity", ""},
                  {"leaseDurationSeconds", 1},
                  {"acquireTime", now},
                  {"renewTime", now},
                  {"leaseTransitions", getInt(observedSpec_, "leaseTransitions", 0)}};
  if (body.contains("metadata")) body["metadata"].erase("managedFields");
  auto written = client_->update(resources::leases(), options_.ns, body);
  if (!written.ok()) {
    // A conflict means someone else already wrote the Lease: nothing of ours to release.
    log_.warn("releasing the lease failed", {{"lease", options_.leaseName}, {"error", written.error().toString()}});
    return;
  }
  observe(*written);
  log_.info("released the lease", {{"lease", options_.leaseName}, {"identity", options_.identity}});
}

nanoseconds LeaderElector::jittered(nanoseconds d) {
  // splitmix64: a tiny private generator, enough to spread candidates apart.
  uint64_t z = (rngState_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  double unit = static_cast<double>(z >> 11) / static_cast<double>(1ULL << 53);
  return d + std::chrono::duration_cast<nanoseconds>(d * (unit * options_.jitterFactor));
}

}  // namespace keygate::kube
