#pragma once
// An in-memory Client (unit tests and `keygate local`), with the API-server rules client code depends on:
//  - one global, increasing resourceVersion (opaque string) bumped on every write;
//  - create: name or generateName required, 409 AlreadyExists on a duplicate, uid /
//    creationTimestamp / resourceVersion filled, status dropped for custom resources;
//  - update (PUT): missing object -> kNotFound (no create-on-update), stale
//    metadata.resourceVersion -> kConflict, none -> unconditional for built-ins but 422 for
//    custom resources; the "status" subresource only changes status, the main resource never does;
//  - patch: merge patch (RFC 7386) and JSON patch (RFC 6902); a resourceVersion inside the patch
//    is a precondition; apply -> kUnimplemented;
//  - delete: with finalizers only sets deletionTimestamp; removing the last finalizer of a
//    deleting object removes it; uid / resourceVersion preconditions -> kConflict;
//  - generation: set on custom resources (non built-in groups), bumped on spec changes;
//  - list: label selectors (k=v, k!=v, k, !k), field selectors on dotted paths, limit/continue;
//  - watch: kUnimplemented.
// Errors carry code, httpStatus, reason and the real server's message. Thread-safe.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "kube/client.h"

namespace keygate::kube {

// One call as the fake saw it, for assertions ("the recorder patched instead of creating").
struct MemoryCall {
  std::string verb;         // get, list, create, update, patch, delete, watch
  std::string resource;     // Resource::qualifiedName(), e.g. "leases.coordination.k8s.io"
  std::string ns;
  std::string name;         // for create/update taken from the body
  std::string subresource;
  std::string body;         // request body (create/update/patch), compact JSON
};

// Runs before every call, outside the fake's lock (it may sleep to simulate a slow server).
// Returning an Error fails the call with it and leaves the store untouched.
using MemoryInterceptor = std::function<std::optional<Error>(const MemoryCall&)>;

class MemoryClient final : public Client {
 public:
  // `clock` stamps creationTimestamp/deletionTimestamp; null = realClock().
  explicit MemoryClient(const Clock* clock = nullptr);

  Result<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "") override;
  Result<Json> list(const Resource& r, const std::string& ns, const ListOptions& opts = {}) override;
  Result<Json> create(const Resource& r, const std::string& ns, const Json& body) override;
  Result<Json> update(const Resource& r, const std::string& ns, const Json& body,
                      const std::string& subresource = "") override;
  Result<Json> patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
                     const std::string& body, const PatchOptions& opts = {}) override;
  Result<DeleteResult> remove(const Resource& r, const std::string& ns, const std::string& name,
                                    const DeleteOptions& opts = {}) override;
  Result<WatchStreamPtr> watch(const Resource& r, const std::string& ns,
                                     const WatchOptions& opts) override;

  // Puts an object back exactly as saved (uid, status, finalizers kept; a new
  // resourceVersion), as `keygate local` does with its state file.
  Status restore(const Resource& r, Json obj);

  void setInterceptor(MemoryInterceptor interceptor);
  std::vector<MemoryCall> calls() const;
  // Calls with this verb (and resource, when not empty).
  size_t countCalls(const std::string& verb, const std::string& resource = "") const;
  void clearCalls();
  // Every stored object of a resource (all namespaces when ns is empty), sorted by ns/name.
  std::vector<Json> objects(const Resource& r, const std::string& ns = "") const;
  // The current global resourceVersion.
  int64_t resourceVersion() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // resource, ns, name

  std::optional<Error> intercept(MemoryCall call);
  Result<Json> writeLocked(const Resource& r, const Key& key, const Json& old, Json next,
                           const std::string& subresource);
  std::string nextResourceVersionLocked();
  static std::string nsFor(const Resource& r, const std::string& ns) { return r.namespaced ? ns : ""; }

  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<Key, Json> objects_;
  int64_t resourceVersion_ = 100;
  int64_t uidCounter_ = 0;
  std::vector<MemoryCall> calls_;
  MemoryInterceptor interceptor_;
};

}  // namespace keygate::kube
