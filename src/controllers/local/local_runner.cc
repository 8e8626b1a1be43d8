#include "controllers/local/local_runner.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "api/v1alpha1/codec.h"
#include "api/v1alpha1/manifest.h"
#include "api/v1alpha1/validation.h"
#include "backends/file_secret_store.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "common/time.h"
#include "controllers/activation_request/decide.h"
#include "controllers/audit.h"
#include "controllers/backend_set.h"
#include "controllers/encryption_key/reconciler.h"
#include "controllers/indexes.h"
#include "controllers/local/memory_reader.h"
#include "kube/memory_client.h"

namespace keygate::controllers {
namespace fs = std::filesystem;
namespace v1 = keygate::api::v1alpha1;

namespace {

const kube::Resource kKeys = kube::resources::encryptionKeys();
const kube::Resource kRequests = kube::resources::keyActivationRequests();
const kube::Resource kBindings = kube::resources::keyRoleBindings();
const kube::Resource kNamespaces = kube::resources::namespaces();
// BYOK: the tenant's wrapped material (keygate wrap's Secret). Held in memory for the run,
// never written to state.json.
const kube::Resource kSecrets = kube::resources::secrets();

const kube::Resource* resourceForKind(const std::string& apiVersion, const std::string& kind) {
  if (apiVersion == "v1" && kind == "Namespace") return &kNamespaces;
  if (apiVersion == "v1" && kind == "Secret") return &kSecrets;
  if (apiVersion != v1::kApiVersion) return nullptr;
  if (kind == "EncryptionKey") return &kKeys;
  if (kind == "KeyActivationRequest") return &kRequests;
  if (kind == "KeyRoleBinding") return &kBindings;
  return nullptr;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

std::string findSoftHsmModule() {
  for (const char* p : {"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

struct LocalRunner::Impl {
  LocalRunnerOptions options;
  const Clock* clock = nullptr;
  kube::MemoryClient store;
  std::shared_ptr<kube::MemoryClient> storeRef;  // non-owning alias for ClientPtr
  BackendSet backends;
  backends::KeyBackend* backend = nullptr;
  std::ofstream auditFile;  // <stateDir>/audit.log: every run's records, appended
  std::shared_ptr<StreamAuditSink> audit;
  std::unique_ptr<MemoryReader> keys, requests, bindings;
  std::unique_ptr<EncryptionKeyReconciler> reconciler;

  explicit Impl(const Clock* c) : clock(c), store(c) {}

  std::string statePath() const { return options.stateDir + "/state.json"; }

  // Local stand-in for the activation-request controller: counts approvals as written,
  // from current KeyApprovers other than the requester, against the key's requirement.
  void evaluateRequests() {
    const WallTime now = clock->now();
    for (const auto& obj : store.objects(kRequests)) {
      auto req = v1::decodeKeyActivationRequest(obj);
      if (!req.ok()) continue;
      auto phase = req->status.phase;
      const std::string ns = req->metadata.namespace_;
      auto write = [&](const v1::KeyActivationRequestStatus& st) {
        if (st == req->status) return;
        Json body = obj;
        body["status"] = v1::encodeStatus(st);
        (void)store.update(kRequests, ns, body, "status");
      };
      if (phase == v1::RequestPhase::kActivated || phase == v1::RequestPhase::kDenied ||
          phase == v1::RequestPhase::kExpired || phase == v1::RequestPhase::kFailed) {
        v1::KeyActivationRequestStatus st = req->status;  // decided: only Ready follows the phase
        setRequestReady(st, req->metadata.generation, now);
        write(st);
        continue;
      }
      auto keyObj = store.get(kKeys, ns, req->spec.keyRef.name);
      int64_t required = 1;
      if (keyObj.ok()) {
        auto key = v1::decodeEncryptionKey(*keyObj);
        if (key.ok()) {
          required = std::max<int64_t>(key->spec.activation.requiredApprovals,
                                       options.policy.minApprovalsFor(key->spec.purpose));
        }
      }
      std::set<std::string> approvers;
      for (const auto& b : store.objects(kBindings, ns)) {
        auto kb = v1::decodeKeyRoleBinding(b);
        if (!kb.ok() || kb->spec.role != v1::Role::kKeyApprover) continue;
        auto review = v1::parseReviewBy(kb->spec.reviewBy);
        if (!review.ok() || *review + std::chrono::hours(24) <= now) continue;  // review overdue: grants nothing
        for (const auto& s : kb->spec.subjects)
          if (s.kind == v1::SubjectKind::kUser) approvers.insert(s.name);
      }
      std::set<std::string> counted;
      std::vector<std::string> ignored;
      bool denied = false;
      for (const auto& a : req->spec.approvals) {
        if (!approvers.count(a.approver)) {
          ignored.push_back(a.approver + ": not a current KeyApprover");
          continue;
        }
        if (a.approver == req->spec.requester && !options.policy.segregationOfDuties.requesterMayApprove) {
          ignored.push_back(a.approver + ": is the requester");
          continue;
        }
        if (a.decision == v1::Decision::kDeny) denied = true;
        else if (a.decision == v1::Decision::kApprove) counted.insert(a.approver);
      }
      v1::KeyActivationRequestStatus st = req->status;
      st.approvalsRequired = required;
      st.approvalsReceived = static_cast<int64_t>(counted.size());
      st.approvals = v1::formatApprovals(st.approvalsReceived, required);
      st.phase = denied ? v1::RequestPhase::kDenied
                        : (st.approvalsReceived >= required ? v1::RequestPhase::kApproved : v1::RequestPhase::kPending);
      v1::setCondition(st.conditions, "InvalidApprovals", !ignored.empty(),
                       ignored.empty() ? "None" : "Ignored",
                       ignored.empty() ? "no approval ignored" : std::to_string(ignored.size()) + " ignored: " + join(ignored, "; "),
                       req->metadata.generation, now);
      setRequestReady(st, req->metadata.generation, now);
      write(st);
    }
  }
};

LocalRunner::LocalRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalRunner::~LocalRunner() = default;

Result<std::unique_ptr<LocalRunner>> LocalRunner::create(LocalRunnerOptions options) {
  const Clock* clock = options.clock ? options.clock : &realClock();
  auto impl = std::make_unique<Impl>(clock);
  impl->options = std::move(options);
  LocalRunnerOptions& o = impl->options;
  std::error_code ec;
  fs::create_directories(o.stateDir + "/tokens", ec);
  if (ec) return makeError(ErrorCode::kInvalidArgument, "state dir " + o.stateDir + ": " + ec.message());
  ::chmod(o.stateDir.c_str(), 0700);
  ::chmod((o.stateDir + "/tokens").c_str(), 0700);
  const std::string conf = o.stateDir + "/softhsm2.conf";
  if (!fs::exists(conf)) {
    std::ofstream(conf) << "# SoftHSM2 tokens of `keygate local` (one token per tenant namespace)\n"
                        << "directories.tokendir = " << fs::absolute(o.stateDir + "/tokens").string() << "\n"
                        << "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
  }
  ::setenv("SOFTHSM2_CONF", fs::absolute(conf).c_str(), 1);
  impl->auditFile.open(o.stateDir + "/audit.log", std::ios::app);
  ::chmod((o.stateDir + "/audit.log").c_str(), 0600);
  impl->audit = std::make_shared<StreamAuditSink>(impl->auditFile ? &impl->auditFile : nullptr, 10000);
  if (o.modulePath.empty()) o.modulePath = findSoftHsmModule();
  if (o.modulePath.empty())
    return makeError(ErrorCode::kFailedPrecondition,
                     "SoftHSM2 not found (looked in /usr/lib/softhsm and /usr/lib/<arch>/softhsm): install the softhsm2 "
                     "package or pass --module");
  auto secrets = backends::FileSecretStore::open(o.stateDir + "/secrets");
  if (!secrets.ok()) return secrets.takeError();
  backends::pkcs11::Pkcs11BackendOptions bo;
  bo.name = "softhsm";
  bo.modulePath = o.modulePath;
  auto backend = backends::pkcs11::Pkcs11Backend::open(bo, *secrets);
  if (!backend.ok()) return makeError(backend.error().code, "backend softhsm (module " + o.modulePath + "): " + backend.error().message);
  impl->backend = backend->get();
  impl->backends.add(std::move(*backend));
  if (o.policy.knownBackends.empty()) o.policy.knownBackends = {"softhsm"};

  impl->storeRef = std::shared_ptr<kube::MemoryClient>(&impl->store, [](kube::MemoryClient*) {});
  impl->keys = std::make_unique<MemoryReader>(impl->store, kKeys);
  impl->requests = std::make_unique<MemoryReader>(impl->store, kRequests);
  impl->bindings = std::make_unique<MemoryReader>(impl->store, kBindings);
  impl->requests->addIndexer(kRequestsByKeyIndex, requestsByKey);
  EncryptionKeyReconcilerDeps deps;
  deps.keys = impl->keys.get();
  deps.requests = impl->requests.get();
  deps.client = impl->storeRef;
  deps.backends = &impl->backends;
  deps.policy = o.policy;
  deps.audit = impl->audit;
  deps.clock = clock;
  impl->reconciler = std::make_unique<EncryptionKeyReconciler>(std::move(deps));

  // Restore the previous run's objects (uids and status), if any.
  if (fs::exists(impl->statePath())) {
    std::ifstream in(impl->statePath());
    std::stringstream ss;
    ss << in.rdbuf();
    auto state = parseJson(ss.str());
    if (!state.ok()) return makeError(ErrorCode::kInvalidArgument, impl->statePath() + ": " + state.error().message);
    for (const auto& obj : (*state)["objects"]) {
      const kube::Resource* r = resourceForKind(getString(obj, "apiVersion"), getString(obj, "kind"));
      if (r) RETURN_IF_ERROR(impl->store.restore(*r, obj));
    }
  }
  return std::unique_ptr<LocalRunner>(new LocalRunner(std::move(impl)));
}

Result<std::vector<std::string>> LocalRunner::loadManifests(const std::string& dir) {
  std::vector<std::string> problems;
  if (!fs::is_directory(dir)) return makeError(ErrorCode::kInvalidArgument, dir + ": not a directory");
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto ext = e.path().extension().string();
    if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::set<std::tuple<std::string, std::string, std::string>> desired;  // resource, ns, name
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    auto docs = v1::parseManifests(ss.str(), f);
    if (!docs.ok()) {
      problems.push_back(docs.error().message);
      continue;
    }
    for (auto& m : *docs) {
      Json& obj = m.object;
      const kube::Resource* r = resourceForKind(getString(obj, "apiVersion"), getString(obj, "kind"));
      if (!r) continue;  // not ours: skipped, as `keygate check` does
      std::string name = getString(obj, "metadata.name");
      std::string ns = r->namespaced ? getString(obj, "metadata.namespace", "default") : "";
      const std::string where = f + ":" + std::to_string(m.line) + ": " + getString(obj, "kind") + "/" + name + ": ";
      // The same validation the webhook applies on create.
      v1::FieldErrors errs;
      if (r == &kKeys) {
        auto k = v1::decodeEncryptionKey(obj);
        if (!k.ok()) problems.push_back(where + k.error().message);
        else errs = v1::validateCreate(*k, impl_->options.policy);
      } else if (r == &kRequests) {
        auto k = v1::decodeKeyActivationRequest(obj);
        if (!k.ok()) problems.push_back(where + k.error().message);
        else errs = v1::validateCreate(*k, impl_->options.policy);
      } else if (r == &kBindings) {
        auto k = v1::decodeKeyRoleBinding(obj);
        if (!k.ok()) problems.push_back(where + k.error().message);
        else errs = v1::validateCreate(*k, impl_->options.policy);
      }
      for (const auto& e : errs) problems.push_back(where + e.field + ": " + e.message);
      if (!errs.empty()) continue;
      desired.insert({r->qualifiedName(), ns, name});
      obj["metadata"]["namespace"] = ns;
      if (!r->namespaced) obj["metadata"].erase("namespace");
      auto existing = impl_->store.get(*r, ns, name);
      if (!existing.ok()) {
        obj.erase("status");
        auto c = impl_->store.create(*r, ns, obj);
        if (!c.ok()) problems.push_back(where + c.error().message);
        continue;
      }
      // Re-applied manifest: the spec, labels and annotations come from the file.
      Json next = *existing;
      bool changed = false;
      for (const char* field : {"spec", "data"}) {
        if (obj.contains(field) && next[field] != obj[field]) {
          next[field] = obj[field];
          changed = true;
        }
      }
      for (const char* field : {"labels", "annotations"}) {
        Json want = obj["metadata"].value(field, Json::object());
        Json have = next["metadata"].value(field, Json::object());
        // keygate's own annotations (created-by) are kept.
        for (auto it = have.begin(); it != have.end(); ++it)
          if (it.key().rfind("keygate.dev/", 0) == 0 && !want.contains(it.key())) want[it.key()] = it.value();
        if (want != have) {
          next["metadata"][field] = want;
          changed = true;
        }
      }
      if (changed) {
        auto u = impl_->store.update(*r, ns, next);
        if (!u.ok()) problems.push_back(where + u.error().message);
      }
    }
  }
  // Objects no longer in the manifests are deleted (keys go through their finalizer).
  for (const kube::Resource* r : {&kRequests, &kKeys, &kBindings}) {
    for (const auto& obj : impl_->store.objects(*r)) {
      std::string ns = getString(obj, "metadata.namespace"), name = getString(obj, "metadata.name");
      if (!desired.count({r->qualifiedName(), ns, name})) (void)impl_->store.remove(*r, ns, name);
    }
  }
  return problems;
}

Result<int> LocalRunner::reconcileToFixedPoint(int maxRounds) {
  for (int round = 1; round <= maxRounds; ++round) {
    int64_t before = impl_->store.resourceVersion();
    impl_->evaluateRequests();
    for (const auto& obj : impl_->store.objects(kKeys)) {
      auto r = impl_->reconciler->reconcile(kube::objectKey(obj));
      if (!r.ok() && r.error().code != ErrorCode::kConflict)
        return makeError(r.error().code, kube::objectKey(obj) + ": " + r.error().message);
    }
    if (impl_->store.resourceVersion() == before) return round;
  }
  return makeError(ErrorCode::kInternal, "no fixed point after " + std::to_string(maxRounds) + " rounds");
}

std::vector<LocalRow> LocalRunner::rows() const {
  std::vector<LocalRow> out;
  auto conds = [](const Json& obj) {
    std::vector<std::string> c;
    if (const Json* cs = findPath(obj, "status.conditions"); cs && cs->is_array())
      for (const auto& x : *cs) c.push_back(getString(x, "type") + "=" + getString(x, "status"));
    return join(c, ",");
  };
  for (const auto& k : impl_->store.objects(kKeys)) {
    std::vector<std::string> vs;
    if (const Json* versions = findPath(k, "status.versions"); versions && versions->is_array())
      for (const auto& v : *versions) vs.push_back("v" + std::to_string(getInt(v, "version")) + ":" + getString(v, "state"));
    out.push_back({getString(k, "metadata.namespace"), "EncryptionKey", getString(k, "metadata.name"),
                   getString(k, "status.state", "Pending"), join(vs, ","), conds(k)});
  }
  for (const auto& r : impl_->store.objects(kRequests)) {
    out.push_back({getString(r, "metadata.namespace"), "KeyActivationRequest", getString(r, "metadata.name"),
                   getString(r, "status.phase", "Pending"), getString(r, "status.approvals"), conds(r)});
  }
  for (const auto& b : impl_->store.objects(kBindings)) {
    out.push_back({getString(b, "metadata.namespace"), "KeyRoleBinding", getString(b, "metadata.name"),
                   getString(b, "spec.role"), "reviewBy " + getString(b, "spec.reviewBy"), conds(b)});
  }
  return out;
}

std::vector<Json> LocalRunner::objects(const std::string& kind) const {
  const kube::Resource* r = resourceForKind(std::string(v1::kApiVersion), kind);
  return r ? impl_->store.objects(*r) : std::vector<Json>{};
}

std::vector<std::string> LocalRunner::auditLines() const { return impl_->audit->lines(); }

Status LocalRunner::saveState() const {
  Json objects = Json::array();
  for (const kube::Resource* r : {&kBindings, &kKeys, &kRequests})
    for (auto& o : impl_->store.objects(*r)) objects.push_back(std::move(o));
  Json state = {{"apiVersion", "keygate.dev/local-state/v1"}, {"objects", objects}};
  const std::string tmp = impl_->statePath() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << state.dump(2) << "\n";
    if (!out) return makeError(ErrorCode::kInternal, "cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, impl_->statePath(), ec);
  if (ec) return makeError(ErrorCode::kInternal, "cannot write " + impl_->statePath() + ": " + ec.message());
  return okStatus();
}

void LocalRunner::print(std::ostream& out) const {
  auto rs = rows();
  LocalRow header{"NAMESPACE", "KIND", "NAME", "STATE/PHASE", "VERSIONS", "CONDITIONS"};
  size_t w[5] = {header.ns.size(), header.kind.size(), header.name.size(), header.state.size(), header.versions.size()};
  for (const auto& r : rs) {
    w[0] = std::max(w[0], r.ns.size());
    w[1] = std::max(w[1], r.kind.size());
    w[2] = std::max(w[2], r.name.size());
    w[3] = std::max(w[3], r.state.size());
    w[4] = std::max(w[4], r.versions.size());
  }
  auto line = [&](const LocalRow& r) {
    auto pad = [](const std::string& s, size_t n) { return s + std::string(n - s.size() + 2, ' '); };
    out << pad(r.ns, w[0]) << pad(r.kind, w[1]) << pad(r.name, w[2]) << pad(r.state, w[3]) << pad(r.versions, w[4])
        << r.conditions << "\n";
  };
  line(header);
  for (const auto& r : rs) line(r);
  auto lines = auditLines();
  // BYOK: what the tenant does next for keys waiting for their material.
  for (const auto& obj : impl_->store.objects(kKeys)) {
    const Json* conds = findPath(obj, "status.conditions");
    if (conds == nullptr || !conds->is_array()) continue;
    for (const auto& c : *conds)
      if (getString(c, "type") == "ImportPending" && getString(c, "status") == "True")
        out << "\n" << getString(obj, "metadata.namespace") << "/" << getString(obj, "metadata.name") << " waits for its key material ("
            << getString(c, "reason") << "): keygate wrap --state-dir " << impl_->options.stateDir << " --key "
            << getString(obj, "metadata.namespace") << "/" << getString(obj, "metadata.name")
            << " --material FILE --out MANIFEST_DIR/wrapped-key.yaml, then run again\n";
      else if (getString(c, "type") == "ImportFailed" && getString(c, "status") == "True")
        out << getString(obj, "metadata.namespace") << "/" << getString(obj, "metadata.name") << ": import refused ("
            << getString(c, "reason") << "): " << getString(c, "message") << "\n";
  }
  out << "\nAudit records of this run (" << lines.size() << "; all runs in " << impl_->options.stateDir
      << "/audit.log):\n";
  for (const auto& l : lines) out << l << "\n";
}

Result<std::string> LocalRunner::describeKey(const std::string& ns, const std::string& name) const {
  auto obj = impl_->store.get(kKeys, ns, name);
  if (!obj.ok()) return obj.takeError();
  backends::KeySpec spec;
  spec.ref = {ns, getString(*obj, "metadata.uid"), static_cast<int>(getInt(*obj, "status.currentVersion", 1))};
  ASSIGN_OR_RETURN(spec.purpose, backends::parsePurpose(getString(*obj, "spec.purpose")));
  ASSIGN_OR_RETURN(spec.algorithm, backends::parseAlgorithm(getString(*obj, "spec.algorithm")));
  ASSIGN_OR_RETURN(backends::KeyDescription d, impl_->backend->describe(spec));
  return std::string(backends::backendKeyStateName(d.state));
}

const kube::ObjectReader& LocalRunner::keyReader() const { return *impl_->keys; }
const kube::ObjectReader& LocalRunner::bindingReader() const { return *impl_->bindings; }
backends::KeyBackend* LocalRunner::backend(const std::string& name) const { return impl_->backends.find(name); }
AuditSinkPtr LocalRunner::auditSink() const { return impl_->audit; }

}  // namespace keygate::controllers
