#pragma once
// `keygate local`: the real EncryptionKey reconciler and the embedded SoftHSM2 backend on
// an in-memory store filled from a manifest directory, no cluster. State (objects with
// their uids and status) persists in <stateDir>/state.json next to the SoftHSM2 tokens,
// so a second run continues where the first stopped instead of making new keys.
//
// Approvals are taken as written in the manifests: local mode trusts its single user.
// They still have to come from a KeyApprover named in a current KeyRoleBinding, and the
// requester may not approve (segregation of duties), as in a cluster.

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "api/v1alpha1/policy.h"
#include "backends/key_backend.h"
#include "controllers/audit.h"
#include "kube/cache.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/result.h"

namespace keygate::controllers {

struct LocalRunnerOptions {
  std::string stateDir = ".keygate";
  std::string modulePath;  // "" = find SoftHSM2 in the usual Debian locations
  api::v1alpha1::Policy policy;
  const Clock* clock = nullptr;
};

struct LocalRow {
  std::string ns, kind, name, state, versions, conditions;
};

class LocalRunner {
 public:
  static Result<std::unique_ptr<LocalRunner>> create(LocalRunnerOptions options);
  ~LocalRunner();

  // Reads every *.yaml/*.yml/*.json under dir; keygate objects become the desired state
  // (created, updated, or deleted when no longer present). Problems are returned as
  // "file:line: Kind/name: message" lines; other objects are loaded.
  Result<std::vector<std::string>> loadManifests(const std::string& dir);
  // Reconciles until nothing changes (bounded); returns the number of rounds.
  Result<int> reconcileToFixedPoint(int maxRounds = 30);
  std::vector<LocalRow> rows() const;
  // Stored objects of one kind ("EncryptionKey", "KeyActivationRequest", "KeyRoleBinding"),
  // for the metrics snapshot of local mode.
  std::vector<Json> objects(const std::string& kind) const;
  std::vector<std::string> auditLines() const;
  Status saveState() const;
  // Prints the table and the audit lines.
  void print(std::ostream& out) const;
  // What `keygate local --serve` gives the crypto API: readers over the store (safe to use
  // from other threads while reconciles run), the backend by name, the audit sink.
  const kube::ObjectReader& keyReader() const;
  const kube::ObjectReader& bindingReader() const;
  backends::KeyBackend* backend(const std::string& name) const;
  AuditSinkPtr auditSink() const;

  // Usage of a key's objects as the backend sees them ("none", "Encrypt+Decrypt"...), for tests.
  Result<std::string> describeKey(const std::string& ns, const std::string& name) const;

 private:
  struct Impl;
  explicit LocalRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// First existing SoftHSM2 module among the usual Debian paths, or "".
std::string findSoftHsmModule();

}  // namespace keygate::controllers
