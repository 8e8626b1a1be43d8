#include "controllers/stray_sweeper.h"

#include <algorithm>

#include "api/v1alpha1/codec.h"
#include "common/log.h"
#include "common/thread_sched.h"

namespace keygate::controllers {
namespace {

namespace v1 = api::v1alpha1;

const log::Logger& logger() {
  static const log::Logger l("stray.sweeper");
  return l;
}

}  // namespace

namespace {

using Entry = KeyAccountingIndex::Entry;

// One key's share of what is accounted for in `ns`.
Status account(backends::AccountedObjects& acc, const std::string& ns, const std::string& name, const Entry& e) {
  if (!e.error.empty())
    return makeError(ErrorCode::kFailedPrecondition,
                     "EncryptionKey " + ns + "/" + name + " cannot be read, so no object is called a stray: " + e.error);
  int64_t last = 0;
  for (const KeyAccountingIndex::Version& v : e.versions) {
    last = std::max(last, v.version);
    backends::KeyRef ref{ns, e.uid, static_cast<int>(v.version)};
    (v.destroyed ? acc.destroyed : acc.keys).push_back(ref);
    if (v.pending) {
      // The wrapping key of the import window, and the next one (made just before its
      // status is written).
      const int serial = e.wrappingVersion == v.version ? static_cast<int>(e.wrappingSerial) : 0;
      if (serial > 0) acc.wrappingKeys.emplace_back(ref, serial);
      acc.wrappingKeys.emplace_back(ref, serial + 1);
    }
  }
  // The version a reconcile may be creating right now, before its status is written, and the
  // first wrapping key of that version (a BYOK key's first reconcile makes it before the
  // version is in status; ByokE2E caught a sweep at start destroying it).
  const backends::KeyRef next{ns, e.uid, static_cast<int>(last + 1)};
  acc.keys.push_back(next);
  acc.wrappingKeys.emplace_back(next, 1);
  return okStatus();
}

}  // namespace

namespace {

// An integer field of an accounting object, as the codec reads it: absent or null is 0.
Status readInt(const Json& o, const char* field, const std::string& path, int64_t* out) {
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) return okStatus();
  if (it->is_number_integer() && !(it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX))) {
    *out = it->get<int64_t>();
    return okStatus();
  }
  return makeError(ErrorCode::kInvalidArgument, path + "." + field + ": must be an integer");
}

// The fields the accounting needs, and only those: uid, each version's number and state, the
// open import's wrapping key. A full decode (spec, conditions, times and a copy of the whole
// object) was half of what listing 100k keys cost the informer thread per key. A field the
// accounting reads that has the wrong type is still an error that keeps the tenant's sweep
// from calling anything a stray.
Status readEntry(const Json& obj, KeyAccountingIndex::Entry& e) {
  if (!obj.is_object()) return makeError(ErrorCode::kInvalidArgument, "not an object");
  if (const Json* uid = findPath(obj, "metadata.uid"); uid && !uid->is_null()) {
    if (!uid->is_string()) return makeError(ErrorCode::kInvalidArgument, "metadata.uid: must be a string");
    e.uid = uid->get<std::string>();
  }
  auto status = obj.find("status");
  if (status == obj.end() || status->is_null()) return okStatus();
  if (!status->is_object()) return makeError(ErrorCode::kInvalidArgument, "status: must be an object");
  if (auto vs = status->find("versions"); vs != status->end() && !vs->is_null()) {
    if (!vs->is_array()) return makeError(ErrorCode::kInvalidArgument, "status.versions: must be an array");
    for (size_t i = 0; i < vs->size(); ++i) {
      const Json& v = (*vs)[i];
      const std::string path = "status.versions[" + std::to_string(i) + "]";
      if (!v.is_object()) return makeError(ErrorCode::kInvalidArgument, path + ": must be an object");
      KeyAccountingIndex::Version out;
      RETURN_IF_ERROR(readInt(v, "version", path, &out.version));
      v1::KeyState state = v1::KeyState::kUnspecified;
      if (auto st = v.find("state"); st != v.end() && !st->is_null()) {
        if (!st->is_string()) return makeError(ErrorCode::kInvalidArgument, path + ".state: must be a string");
        auto parsed = v1::parseKeyState(st->get_ref<const std::string&>());
        if (!parsed.ok()) return makeError(ErrorCode::kInvalidArgument, path + ".state: " + parsed.error().message);
        state = *parsed;
      }
      out.destroyed = state == v1::KeyState::kDestroyed;
      out.pending = state == v1::KeyState::kPending;
      e.versions.push_back(out);
    }
  }
  if (auto wk = status->find("wrappingKey"); wk != status->end() && !wk->is_null()) {
    if (!wk->is_object()) return makeError(ErrorCode::kInvalidArgument, "status.wrappingKey: must be an object");
    RETURN_IF_ERROR(readInt(*wk, "version", "status.wrappingKey", &e.wrappingVersion));
    RETURN_IF_ERROR(readInt(*wk, "serial", "status.wrappingKey", &e.wrappingSerial));
  }
  return okStatus();
}

}  // namespace

KeyAccountingIndex::Entry KeyAccountingIndex::entryOf(const Json& obj) {
  Entry e;
  if (const Json* b = findPath(obj, "spec.backend"); b && b->is_string()) e.backend = b->get<std::string>();
  if (Status st = readEntry(obj, e); !st.ok()) {
    e.error = st.error().message;
    e.versions.clear();
  }
  return e;
}

void KeyAccountingIndex::set(const Json& key) {
  Entry e = entryOf(key);
  std::lock_guard<std::mutex> l(mu_);
  byNamespace_[kube::namespaceOf(key)][getString(key, "metadata.name")] = std::move(e);
}

void KeyAccountingIndex::drop(const std::string& cacheKey) {
  auto slash = cacheKey.find('/');
  if (slash == std::string::npos) return;
  std::lock_guard<std::mutex> l(mu_);
  auto ns = byNamespace_.find(cacheKey.substr(0, slash));
  if (ns == byNamespace_.end()) return;
  ns->second.erase(cacheKey.substr(slash + 1));
  if (ns->second.empty()) byNamespace_.erase(ns);
}

kube::EventHandlers KeyAccountingIndex::handlers() {
  return kube::indexHandlers([this](const Json& o) { set(o); }, [this](const std::string& k) { drop(k); });
}

Result<backends::AccountedObjects> KeyAccountingIndex::accountedIn(const std::string& ns) const {
  backends::AccountedObjects acc;
  std::lock_guard<std::mutex> l(mu_);
  auto it = byNamespace_.find(ns);
  if (it == byNamespace_.end()) return acc;
  for (const auto& [name, e] : it->second) RETURN_IF_ERROR(account(acc, ns, name, e));
  return acc;
}

std::map<std::string, std::set<std::string>> KeyAccountingIndex::tenantsByBackend() const {
  std::map<std::string, std::set<std::string>> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [ns, keys] : byNamespace_)
    for (const auto& [_, e] : keys)
      if (!e.backend.empty()) out[e.backend].insert(ns);
  return out;
}

Result<backends::AccountedObjects> accountedIn(const kube::ObjectReader& keys, const std::string& ns) {
  backends::AccountedObjects acc;
  Status st;
  // One key decoded at a time: a tenant with 100k keys is not held decoded all at once.
  keys.forEachInNamespace(ns, [&](const Json& obj) {
    st = account(acc, ns, getString(obj, "metadata.name"), KeyAccountingIndex::entryOf(obj));
    return st.ok();
  });
  RETURN_IF_ERROR(st);
  return acc;
}

StraySweeper::StraySweeper(StraySweeperOptions options) : o_(std::move(options)) {
  if (!o_.clock) o_.clock = &realClock();
}

StraySweeper::~StraySweeper() { stop(); }

WallTime StraySweeper::now() const { return o_.clock->now(); }

std::vector<backends::StrayObject> StraySweeper::sweep(const std::string& backendName, const std::string& ns) {
  backends::KeyBackend* b = o_.backends ? o_.backends->find(backendName) : nullptr;
  if (!b || (!o_.keys && !o_.accounting)) return {};
  backends::StraySweepOptions so;
  so.now = now();
  so.grace = o_.grace;
  so.accounted = [&] { return o_.accounting ? o_.accounting->accountedIn(ns) : accountedIn(*o_.keys, ns); };
  auto found = b->sweepStrays(ns, so);
  if (!found.ok()) {
    if (found.error().code != ErrorCode::kUnimplemented)
      logger().warn("stray sweep failed", {{"backend", backendName}, {"namespace", ns}, {"error", found.error().toString()}});
    return {};
  }
  for (const backends::StrayObject& s : *found) {
    using A = backends::StrayObject::Action;
    if (s.action == A::kWaiting) continue;
    const std::string action = backends::strayActionName(s.action);
    if (s.action == A::kRetained) {
      logger().info("retained key material of a deleted EncryptionKey",
                    {{"backend", backendName}, {"namespace", ns}, {"object", s.label}, {"class", s.objectClass}});
      continue;
    }
    logger().warn("stray backend object " + std::string(s.action == A::kDestroyed ? "destroyed" : "disabled"),
                  {{"backend", backendName}, {"namespace", ns}, {"location", s.location}, {"class", s.objectClass},
                   {"id", s.id}, {"label", s.label}, {"usage", s.usage}, {"detail", s.detail}});
    if (o_.counted) o_.counted(backendName, action);
    if (o_.audit) {
      AuditRecord r;
      r.time = so.now;
      r.event = "StrayObject" + action;
      r.ns = ns;
      r.backend = backendName;
      r.backendKeyId = !s.label.empty() ? s.label : (s.id.empty() ? "(no id)" : "id:" + s.id);
      r.initiator = "keygate";
      r.message = s.objectClass + " in " + s.location + (s.usage.empty() ? "" : " (usage on: " + s.usage + ")") + ": " +
                  s.detail;
      o_.audit->write(r);
    }
  }
  return *found;
}

std::vector<backends::StrayObject> StraySweeper::sweepAll() {
  std::vector<backends::StrayObject> all;
  if (!o_.backends || (!o_.keys && !o_.accounting)) return all;
  // Namespaces per backend, from the keys that name it.
  std::map<std::string, std::set<std::string>> tenants;
  if (o_.accounting) {
    tenants = o_.accounting->tenantsByBackend();
  } else {
    o_.keys->forEach([&tenants](const Json& obj) {
      const Json* b = findPath(obj, "spec.backend");
      if (b && b->is_string()) tenants[b->get<std::string>()].insert(kube::namespaceOf(obj));
    });
  }
  for (const std::string& backend : o_.backends->names()) {
    size_t pending = 0, retained = 0;
    for (const std::string& ns : tenants[backend]) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stopping_) return all;
      }
      auto found = sweep(backend, ns);
      lastSwept_[{backend, ns}] = o_.clock->steadyNow();
      for (auto& s : found) {
        using A = backends::StrayObject::Action;
        pending += s.action == A::kDisabled || s.action == A::kWaiting;
        retained += s.action == A::kRetained;
        all.push_back(std::move(s));
      }
    }
    if (o_.present) o_.present(backend, pending, retained);
  }
  return all;
}

void StraySweeper::request(const std::string& backend, const std::string& ns) {
  {
    std::lock_guard<std::mutex> l(mu_);
    requested_.emplace(backend, ns);
  }
  cv_.notify_all();
}

void StraySweeper::start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = startNamedThread("kg-strays", [this] { run(); });
}

void StraySweeper::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StraySweeper::run() {
  if (o_.ready) {
    std::unique_lock<std::mutex> l(mu_);
    while (!stopping_ && !o_.ready()) cv_.wait_for(l, std::chrono::milliseconds(200));
    if (stopping_) return;
  }
  sweepAll();
  SteadyTime nextFull = o_.clock->steadyNow() + o_.interval;
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    // Requests are served after minSpacing since the tenant's last sweep.
    SteadyTime wake = o_.interval.count() > 0 ? nextFull : SteadyTime::max();
    std::vector<std::pair<std::string, std::string>> due;
    const SteadyTime t = o_.clock->steadyNow();
    for (const auto& r : requested_) {
      auto last = lastSwept_.find(r);
      SteadyTime at = last == lastSwept_.end() ? t : last->second + o_.minSpacing;
      if (at <= t) due.push_back(r);
      else wake = std::min(wake, at);
    }
    for (const auto& r : due) requested_.erase(r);
    if (!due.empty() || (o_.interval.count() > 0 && t >= nextFull)) {
      const bool full = o_.interval.count() > 0 && t >= nextFull;
      l.unlock();
      if (full) {
        sweepAll();
        nextFull = o_.clock->steadyNow() + o_.interval;
      } else {
        for (const auto& [backend, ns] : due) {
          sweep(backend, ns);
          lastSwept_[{backend, ns}] = o_.clock->steadyNow();
        }
      }
      l.lock();
      continue;
    }
    if (wake == SteadyTime::max()) cv_.wait(l);
    else cv_.wait_for(l, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - t));
  }
}

}  // namespace keygate::controllers
