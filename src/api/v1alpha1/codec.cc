#include "api/v1alpha1/codec.h"

#include <set>
#include <string>

#include "common/time.h"

namespace keygate::api::v1alpha1 {
namespace {

std::string join(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

Error fieldError(std::string_view path, std::string_view msg) {
  return makeError(ErrorCode::kInvalidArgument, std::string(path) + ": " + std::string(msg));
}

const char* typeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::string: return "string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::null: return "null";
    default: return "unknown";
  }
}

Error typeError(std::string_view path, std::string_view expected, const Json& got) {
  return fieldError(path, "expected " + std::string(expected) + ", got " + typeName(got));
}

// Reads the fields of one JSON object, remembering which keys it consumed so that strict
// decoding can report the rest. A JSON null counts as absent (as in Kubernetes).
class ObjReader {
 public:
  ObjReader(const Json& j, std::string path, bool strict) : j_(j), path_(std::move(path)), strict_(strict) {}

  const std::string& path() const { return path_; }
  bool strict() const { return strict_; }

  const Json* get(const char* key) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Status str(const char* key, std::string* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_string()) return typeError(join(path_, key), "string", *v);
    *out = v->get<std::string>();
    return okStatus();
  }

  Status i64(const char* key, int64_t* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (v->is_number_integer()) {
      *out = v->get<int64_t>();
    } else if (v->is_number_unsigned()) {
      if (v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return fieldError(join(path_, key), "out of range");
      *out = static_cast<int64_t>(v->get<uint64_t>());
    } else {
      return typeError(join(path_, key), "integer", *v);
    }
    return okStatus();
  }

  Status boolean(const char* key, bool* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_boolean()) return typeError(join(path_, key), "boolean", *v);
    *out = v->get<bool>();
    return okStatus();
  }

  Status optBool(const char* key, std::optional<bool>* out) {
    if (!j_.contains(key) || j_[key].is_null()) {
      seen_.insert(key);
      return okStatus();
    }
    bool b = false;
    RETURN_IF_ERROR(boolean(key, &b));
    *out = b;
    return okStatus();
  }

  template <typename E>
  Status enm(const char* key, E* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_string()) return typeError(join(path_, key), "string", *v);
    auto parsed = parseEnum<E>(v->get<std::string>());
    if (!parsed.ok()) return fieldError(join(path_, key), parsed.error().message);
    *out = *parsed;
    return okStatus();
  }

  Status time(const char* key, std::optional<WallTime>* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_string()) return typeError(join(path_, key), "string", *v);
    auto t = parseRfc3339(v->get<std::string>());
    if (!t.ok()) return fieldError(join(path_, key), t.error().message);
    *out = *t;
    return okStatus();
  }

  Status strList(const char* key, std::vector<std::string>* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_array()) return typeError(join(path_, key), "array", *v);
    out->clear();
    for (size_t i = 0; i < v->size(); ++i) {
      const Json& item = (*v)[i];
      if (!item.is_string()) return typeError(join(path_, key) + "[" + std::to_string(i) + "]", "string", item);
      out->push_back(item.get<std::string>());
    }
    return okStatus();
  }

  Status strMap(const char* key, std::map<std::string, std::string>* out) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_object()) return typeError(join(path_, key), "object", *v);
    out->clear();
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_string()) return typeError(join(path_, key) + "." + it.key(), "string", it.value());
      (*out)[it.key()] = it.value().get<std::string>();
    }
    return okStatus();
  }

  // Calls fn(ObjReader&) for a present object field; returns whether it was present.
  template <typename F>
  Status object(const char* key, F fn, bool* present = nullptr) {
    const Json* v = get(key);
    if (present) *present = v != nullptr;
    if (!v) return okStatus();
    if (!v->is_object()) return typeError(join(path_, key), "object", *v);
    ObjReader sub(*v, join(path_, key), strict_);
    RETURN_IF_ERROR(fn(sub));
    return sub.done();
  }

  template <typename T, typename F>
  Status optObject(const char* key, std::optional<T>* out, F fn) {
    T value{};
    bool present = false;
    RETURN_IF_ERROR(object(key, [&](ObjReader& r) { return fn(r, value); }, &present));
    if (present) *out = std::move(value);
    return okStatus();
  }

  // Calls fn(ObjReader&, T&) for each element of an array of objects.
  template <typename T, typename F>
  Status objList(const char* key, std::vector<T>* out, F fn) {
    const Json* v = get(key);
    if (!v) return okStatus();
    if (!v->is_array()) return typeError(join(path_, key), "array", *v);
    out->clear();
    for (size_t i = 0; i < v->size(); ++i) {
      std::string p = join(path_, key) + "[" + std::to_string(i) + "]";
      const Json& item = (*v)[i];
      if (!item.is_object()) return typeError(p, "object", item);
      ObjReader sub(item, p, strict_);
      T value{};
      RETURN_IF_ERROR(fn(sub, value));
      RETURN_IF_ERROR(sub.done());
      out->push_back(std::move(value));
    }
    return okStatus();
  }

  // In strict mode, any key not consumed is an unknown field.
  Status done() const {
    if (!strict_) return okStatus();
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!seen_.count(it.key())) return fieldError(join(path_, it.key()), "unknown field");
    return okStatus();
  }

  void markSeen(const char* key) { seen_.insert(key); }

 private:
  const Json& j_;
  std::string path_;
  bool strict_;
  std::set<std::string, std::less<>> seen_;
};

// ---- encoding helpers ------------------------------------------------------------------

void putStr(Json& j, const char* key, const std::string& s) {
  if (!s.empty()) j[key] = s;
}
void putTime(Json& j, const char* key, const std::optional<WallTime>& t) {
  if (t) j[key] = formatRfc3339(*t);
}
template <typename E>
void putEnum(Json& j, const char* key, E e) {
  auto s = toString(e);
  if (!s.empty()) j[key] = std::string(s);
}
void putList(Json& j, const char* key, const std::vector<std::string>& v) {
  if (!v.empty()) j[key] = v;
}
void putMap(Json& j, const char* key, const std::map<std::string, std::string>& m) {
  if (!m.empty()) j[key] = m;
}
void putNonEmptyObject(Json& j, const char* key, Json sub) {
  if (sub.is_object() && !sub.empty()) j[key] = std::move(sub);
}

// Copies the keys of `raw` that the structs do not model into `out`.
void keepUnknown(Json& out, const Json& raw, const std::vector<std::string_view>& known) {
  if (!raw.is_object()) return;
  if (out.is_null()) out = Json::object();
  for (auto it = raw.begin(); it != raw.end(); ++it) {
    bool isKnown = false;
    for (auto k : known)
      if (it.key() == k) isKnown = true;
    if (!isKnown && !out.contains(it.key())) out[it.key()] = it.value();
  }
}

const Json& sub(const Json& raw, const char* key) {
  static const Json kNull;
  if (raw.is_object()) {
    auto it = raw.find(key);
    if (it != raw.end()) return *it;
  }
  return kNull;
}

const std::vector<std::string_view> kTopKnown = {"apiVersion", "kind", "metadata", "spec", "status"};
const std::vector<std::string_view> kMetaKnown = {
    "name",        "namespace",   "uid",        "resourceVersion",   "generation",       "labels",
    "annotations", "finalizers", "creationTimestamp", "deletionTimestamp", "ownerReferences"};

Status checkHeader(const Json& j, std::string_view kind) {
  if (!j.is_object()) return makeError(ErrorCode::kInvalidArgument, std::string(kind) + ": expected object, got " + typeName(j));
  if (auto it = j.find("apiVersion"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != kApiVersion)
      return fieldError("apiVersion", "expected \"" + std::string(kApiVersion) + "\", got " + it->dump());
  }
  if (auto it = j.find("kind"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != kind)
      return fieldError("kind", "expected \"" + std::string(kind) + "\", got " + it->dump());
  }
  return okStatus();
}

Status readCondition(ObjReader& r, Condition& c) {
  RETURN_IF_ERROR(r.str("type", &c.type));
  RETURN_IF_ERROR(r.str("status", &c.status));
  RETURN_IF_ERROR(r.str("reason", &c.reason));
  RETURN_IF_ERROR(r.str("message", &c.message));
  RETURN_IF_ERROR(r.i64("observedGeneration", &c.observedGeneration));
  return r.time("lastTransitionTime", &c.lastTransitionTime);
}

Json encodeConditions(const std::vector<Condition>& conditions) {
  Json arr = Json::array();
  for (const auto& c : conditions) {
    Json o = Json::object();
    putStr(o, "type", c.type);
    putStr(o, "status", c.status);
    putStr(o, "reason", c.reason);
    // message is required by metav1.Condition even when empty.
    o["message"] = c.message;
    if (c.observedGeneration) o["observedGeneration"] = c.observedGeneration;
    putTime(o, "lastTransitionTime", c.lastTransitionTime);
    arr.push_back(std::move(o));
  }
  return arr;
}

Status readMeta(const Json& j, ObjectMeta* m) {
  if (!j.is_object()) return typeError("metadata", "object", j);
  ObjReader r(j, "metadata", false);
  RETURN_IF_ERROR(r.str("name", &m->name));
  RETURN_IF_ERROR(r.str("namespace", &m->namespace_));
  RETURN_IF_ERROR(r.str("uid", &m->uid));
  RETURN_IF_ERROR(r.str("resourceVersion", &m->resourceVersion));
  RETURN_IF_ERROR(r.i64("generation", &m->generation));
  RETURN_IF_ERROR(r.strMap("labels", &m->labels));
  RETURN_IF_ERROR(r.strMap("annotations", &m->annotations));
  RETURN_IF_ERROR(r.strList("finalizers", &m->finalizers));
  RETURN_IF_ERROR(r.time("creationTimestamp", &m->creationTimestamp));
  RETURN_IF_ERROR(r.time("deletionTimestamp", &m->deletionTimestamp));
  return r.objList("ownerReferences", &m->ownerReferences, [](ObjReader& o, OwnerReference& ref) -> Status {
    RETURN_IF_ERROR(o.str("apiVersion", &ref.apiVersion));
    RETURN_IF_ERROR(o.str("kind", &ref.kind));
    RETURN_IF_ERROR(o.str("name", &ref.name));
    RETURN_IF_ERROR(o.str("uid", &ref.uid));
    RETURN_IF_ERROR(o.optBool("controller", &ref.controller));
    RETURN_IF_ERROR(o.optBool("blockOwnerDeletion", &ref.blockOwnerDeletion));
    for (const char* k : {"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"}) o.markSeen(k);
    return okStatus();
  });
}

// Runs `fn` on the top-level `key` object (spec/status) if present.
template <typename F>
Status readSection(const Json& j, const char* key, bool strict, F fn) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return okStatus();
  if (!it->is_object()) return typeError(key, "object", *it);
  ObjReader r(*it, key, strict);
  RETURN_IF_ERROR(fn(r));
  return r.done();
}

Json finishTop(std::string_view kind, const ObjectMeta& meta, Json spec, Json status, const Json& raw,
               const std::vector<std::string_view>& specKnown, const std::vector<std::string_view>& statusKnown) {
  Json out = Json::object();
  out["apiVersion"] = std::string(kApiVersion);
  out["kind"] = std::string(kind);
  out["metadata"] = encodeObjectMeta(meta, sub(raw, "metadata"));
  keepUnknown(spec, sub(raw, "spec"), specKnown);
  keepUnknown(status, sub(raw, "status"), statusKnown);
  if (!spec.empty() || sub(raw, "spec").is_object()) out["spec"] = std::move(spec);
  if (!status.empty() || sub(raw, "status").is_object()) out["status"] = std::move(status);
  keepUnknown(out, raw, kTopKnown);
  return out;
}

// ---- EncryptionKey ----------------------------------------------------------------------

const std::vector<std::string_view> kKeySpecKnown = {
    "purpose", "algorithm", "backend", "origin", "import", "activation", "rotation", "deactivate",
    "compromised", "scheduleDestruction", "destruction", "jurisdiction", "affectedSystems"};
const std::vector<std::string_view> kKeyStatusKnown = {
    "state",        "observedGeneration", "currentVersion", "versions", "preActiveExpiresAt", "activatedBy",
    "wrappingKey", "selfTest", "observedReconcileRequest", "observedRotateRequest", "conditions"};

Status readKeySpec(ObjReader& r, EncryptionKeySpec& s) {
  RETURN_IF_ERROR(r.enm("purpose", &s.purpose));
  RETURN_IF_ERROR(r.enm("algorithm", &s.algorithm));
  RETURN_IF_ERROR(r.str("backend", &s.backend));
  RETURN_IF_ERROR(r.enm("origin", &s.origin));
  RETURN_IF_ERROR(r.optObject("import", &s.import, [](ObjReader& o, ImportSpec& imp) {
    return o.optObject("secretRef", &imp.secretRef, [](ObjReader& sr, SecretKeyRef& ref) -> Status {
      RETURN_IF_ERROR(sr.str("name", &ref.name));
      RETURN_IF_ERROR(sr.str("key", &ref.key));
      return sr.str("namespace", &ref.namespace_);
    });
  }));
  RETURN_IF_ERROR(r.object("activation", [&](ObjReader& o) -> Status {
    RETURN_IF_ERROR(o.i64("requiredApprovals", &s.activation.requiredApprovals));
    RETURN_IF_ERROR(o.str("preActiveTTL", &s.activation.preActiveTTL));
    return o.str("notBefore", &s.activation.notBefore);
  }));
  RETURN_IF_ERROR(r.optObject("rotation", &s.rotation, [](ObjReader& o, RotationSpec& rot) -> Status {
    RETURN_IF_ERROR(o.str("period", &rot.period));
    return o.boolean("requireApproval", &rot.requireApproval);
  }));
  RETURN_IF_ERROR(r.boolean("deactivate", &s.deactivate));
  RETURN_IF_ERROR(r.optObject("compromised", &s.compromised,
                              [](ObjReader& o, CompromisedSpec& c) { return o.str("reason", &c.reason); }));
  RETURN_IF_ERROR(r.boolean("scheduleDestruction", &s.scheduleDestruction));
  RETURN_IF_ERROR(r.object("destruction", [&](ObjReader& o) -> Status {
    RETURN_IF_ERROR(o.enm("policy", &s.destruction.policy));
    return o.str("pendingWindow", &s.destruction.pendingWindow);
  }));
  RETURN_IF_ERROR(r.str("jurisdiction", &s.jurisdiction));
  return r.strList("affectedSystems", &s.affectedSystems);
}

Status readKeyStatus(ObjReader& r, EncryptionKeyStatus& s) {
  RETURN_IF_ERROR(r.enm("state", &s.state));
  RETURN_IF_ERROR(r.i64("observedGeneration", &s.observedGeneration));
  RETURN_IF_ERROR(r.i64("currentVersion", &s.currentVersion));
  RETURN_IF_ERROR(r.objList("versions", &s.versions, [](ObjReader& o, KeyVersionStatus& v) -> Status {
    RETURN_IF_ERROR(o.i64("version", &v.version));
    RETURN_IF_ERROR(o.enm("state", &v.state));
    RETURN_IF_ERROR(o.str("backendKeyId", &v.backendKeyId));
    RETURN_IF_ERROR(o.str("fingerprint", &v.fingerprint));
    RETURN_IF_ERROR(o.time("createdAt", &v.createdAt));
    RETURN_IF_ERROR(o.time("activatedAt", &v.activatedAt));
    RETURN_IF_ERROR(o.time("deactivatedAt", &v.deactivatedAt));
    return o.time("destroyAt", &v.destroyAt);
  }));
  RETURN_IF_ERROR(r.time("preActiveExpiresAt", &s.preActiveExpiresAt));
  RETURN_IF_ERROR(r.optObject("activatedBy", &s.activatedBy, [](ObjReader& o, ActivatedBy& a) -> Status {
    RETURN_IF_ERROR(o.str("request", &a.request));
    return o.strList("approvers", &a.approvers);
  }));
  RETURN_IF_ERROR(r.optObject("wrappingKey", &s.wrappingKey, [](ObjReader& o, WrappingKeyStatus& w) -> Status {
    RETURN_IF_ERROR(o.str("algorithm", &w.algorithm));
    RETURN_IF_ERROR(o.strList("algorithms", &w.algorithms));
    RETURN_IF_ERROR(o.str("publicKeyPem", &w.publicKeyPem));
    RETURN_IF_ERROR(o.i64("version", &w.version));
    RETURN_IF_ERROR(o.i64("serial", &w.serial));
    return o.time("expiresAt", &w.expiresAt);
  }));
  RETURN_IF_ERROR(r.optObject("selfTest", &s.selfTest, [](ObjReader& o, SelfTestStatus& st) -> Status {
    RETURN_IF_ERROR(o.str("result", &st.result));
    return o.time("at", &st.at);
  }));
  RETURN_IF_ERROR(r.str("observedReconcileRequest", &s.observedReconcileRequest));
  RETURN_IF_ERROR(r.str("observedRotateRequest", &s.observedRotateRequest));
  return r.objList("conditions", &s.conditions, readCondition);
}

Json encodeKeySpec(const EncryptionKeySpec& s) {
  Json j = Json::object();
  putEnum(j, "purpose", s.purpose);
  putEnum(j, "algorithm", s.algorithm);
  putStr(j, "backend", s.backend);
  putEnum(j, "origin", s.origin);
  if (s.import) {
    Json imp = Json::object();
    if (s.import->secretRef) {
      Json ref = Json::object();
      putStr(ref, "name", s.import->secretRef->name);
      putStr(ref, "key", s.import->secretRef->key);
      putStr(ref, "namespace", s.import->secretRef->namespace_);
      imp["secretRef"] = std::move(ref);
    }
    j["import"] = std::move(imp);
  }
  Json act = Json::object();
  if (s.activation.requiredApprovals) act["requiredApprovals"] = s.activation.requiredApprovals;
  putStr(act, "preActiveTTL", s.activation.preActiveTTL);
  putStr(act, "notBefore", s.activation.notBefore);
  putNonEmptyObject(j, "activation", std::move(act));
  if (s.rotation) {
    Json rot = Json::object();
    putStr(rot, "period", s.rotation->period);
    rot["requireApproval"] = s.rotation->requireApproval;
    j["rotation"] = std::move(rot);
  }
  j["deactivate"] = s.deactivate;
  if (s.compromised) j["compromised"] = Json{{"reason", s.compromised->reason}};
  j["scheduleDestruction"] = s.scheduleDestruction;
  Json des = Json::object();
  putEnum(des, "policy", s.destruction.policy);
  putStr(des, "pendingWindow", s.destruction.pendingWindow);
  putNonEmptyObject(j, "destruction", std::move(des));
  putStr(j, "jurisdiction", s.jurisdiction);
  putList(j, "affectedSystems", s.affectedSystems);
  return j;
}

// ---- KeyActivationRequest ------------------------------------------------------------

const std::vector<std::string_view> kReqSpecKnown = {"keyRef",          "reason",    "changeReference",
                                                                    "affectedSystems", "requester", "approvals"};
const std::vector<std::string_view> kReqStatusKnown = {
    "phase", "observedGeneration", "approvalsRequired", "approvalsReceived", "approvals", "activatedAt", "conditions"};

Status readReqSpec(ObjReader& r, KeyActivationRequestSpec& s) {
  RETURN_IF_ERROR(r.object("keyRef", [&](ObjReader& o) -> Status {
    RETURN_IF_ERROR(o.str("name", &s.keyRef.name));
    RETURN_IF_ERROR(o.i64("version", &s.keyRef.version));
    return o.str("namespace", &s.keyRef.namespace_);
  }));
  RETURN_IF_ERROR(r.str("reason", &s.reason));
  RETURN_IF_ERROR(r.str("changeReference", &s.changeReference));
  RETURN_IF_ERROR(r.strList("affectedSystems", &s.affectedSystems));
  RETURN_IF_ERROR(r.str("requester", &s.requester));
  return r.objList("approvals", &s.approvals, [](ObjReader& o, Approval& a) -> Status {
    RETURN_IF_ERROR(o.str("approver", &a.approver));
    RETURN_IF_ERROR(o.enm("decision", &a.decision));
    RETURN_IF_ERROR(o.str("comment", &a.comment));
    RETURN_IF_ERROR(o.str("time", &a.time));
    RETURN_IF_ERROR(o.str("specHash", &a.specHash));
    RETURN_IF_ERROR(o.strList("approverGroups", &a.approverGroups));
    return o.str("signature", &a.signature);
  });
}

Status readReqStatus(ObjReader& r, KeyActivationRequestStatus& s) {
  RETURN_IF_ERROR(r.enm("phase", &s.phase));
  RETURN_IF_ERROR(r.i64("observedGeneration", &s.observedGeneration));
  RETURN_IF_ERROR(r.i64("approvalsRequired", &s.approvalsRequired));
  RETURN_IF_ERROR(r.i64("approvalsReceived", &s.approvalsReceived));
  RETURN_IF_ERROR(r.str("approvals", &s.approvals));
  RETURN_IF_ERROR(r.time("activatedAt", &s.activatedAt));
  return r.objList("conditions", &s.conditions, readCondition);
}

Json encodeReqSpec(const KeyActivationRequestSpec& s) {
  Json j = Json::object();
  Json ref = Json::object();
  putStr(ref, "name", s.keyRef.name);
  if (s.keyRef.version) ref["version"] = s.keyRef.version;
  putStr(ref, "namespace", s.keyRef.namespace_);
  putNonEmptyObject(j, "keyRef", std::move(ref));
  putStr(j, "reason", s.reason);
  putStr(j, "changeReference", s.changeReference);
  putList(j, "affectedSystems", s.affectedSystems);
  putStr(j, "requester", s.requester);
  if (!s.approvals.empty()) {
    Json arr = Json::array();
    for (const auto& a : s.approvals) {
      Json o = Json::object();
      putStr(o, "approver", a.approver);
      putEnum(o, "decision", a.decision);
      putStr(o, "comment", a.comment);
      putStr(o, "time", a.time);
      putStr(o, "specHash", a.specHash);
      putList(o, "approverGroups", a.approverGroups);
      putStr(o, "signature", a.signature);
      arr.push_back(std::move(o));
    }
    j["approvals"] = std::move(arr);
  }
  return j;
}

// ---- KeyRoleBinding --------------------------------------------------------------------

const std::vector<std::string_view> kBindingSpecKnown = {"role", "subjects", "keySelector", "reviewBy"};
const std::vector<std::string_view> kBindingStatusKnown = {"observedGeneration", "rbac", "conditions"};

Status readBindingSpec(ObjReader& r, KeyRoleBindingSpec& s) {
  RETURN_IF_ERROR(r.enm("role", &s.role));
  RETURN_IF_ERROR(r.objList("subjects", &s.subjects, [](ObjReader& o, Subject& sub) -> Status {
    RETURN_IF_ERROR(o.enm("kind", &sub.kind));
    RETURN_IF_ERROR(o.str("name", &sub.name));
    return o.str("namespace", &sub.namespace_);
  }));
  RETURN_IF_ERROR(r.optObject("keySelector", &s.keySelector,
                              [](ObjReader& o, KeySelector& ks) { return o.strMap("matchLabels", &ks.matchLabels); }));
  return r.str("reviewBy", &s.reviewBy);
}

Status readBindingStatus(ObjReader& r, KeyRoleBindingStatus& s) {
  RETURN_IF_ERROR(r.i64("observedGeneration", &s.observedGeneration));
  RETURN_IF_ERROR(r.optObject("rbac", &s.rbac, [](ObjReader& o, RbacRefs& refs) -> Status {
    RETURN_IF_ERROR(o.str("role", &refs.role));
    return o.str("roleBinding", &refs.roleBinding);
  }));
  return r.objList("conditions", &s.conditions, readCondition);
}

Json encodeBindingSpec(const KeyRoleBindingSpec& s) {
  Json j = Json::object();
  putEnum(j, "role", s.role);
  if (!s.subjects.empty()) {
    Json arr = Json::array();
    for (const auto& sub : s.subjects) {
      Json o = Json::object();
      putEnum(o, "kind", sub.kind);
      putStr(o, "name", sub.name);
      putStr(o, "namespace", sub.namespace_);
      arr.push_back(std::move(o));
    }
    j["subjects"] = std::move(arr);
  }
  if (s.keySelector) {
    Json ks = Json::object();
    putMap(ks, "matchLabels", s.keySelector->matchLabels);
    j["keySelector"] = std::move(ks);
  }
  putStr(j, "reviewBy", s.reviewBy);
  return j;
}

}  // namespace

// ---- public -------------------------------------------------------------------------

Result<ObjectMeta> decodeObjectMeta(const Json& j) {
  ObjectMeta m;
  RETURN_IF_ERROR(readMeta(j, &m));
  return m;
}

Json encodeObjectMeta(const ObjectMeta& m, const Json& raw) {
  Json j = Json::object();
  putStr(j, "name", m.name);
  putStr(j, "namespace", m.namespace_);
  putStr(j, "uid", m.uid);
  putStr(j, "resourceVersion", m.resourceVersion);
  if (m.generation) j["generation"] = m.generation;
  putMap(j, "labels", m.labels);
  putMap(j, "annotations", m.annotations);
  putList(j, "finalizers", m.finalizers);
  putTime(j, "creationTimestamp", m.creationTimestamp);
  putTime(j, "deletionTimestamp", m.deletionTimestamp);
  if (!m.ownerReferences.empty()) {
    Json arr = Json::array();
    for (const auto& r : m.ownerReferences) {
      Json o = Json::object();
      putStr(o, "apiVersion", r.apiVersion);
      putStr(o, "kind", r.kind);
      putStr(o, "name", r.name);
      putStr(o, "uid", r.uid);
      if (r.controller) o["controller"] = *r.controller;
      if (r.blockOwnerDeletion) o["blockOwnerDeletion"] = *r.blockOwnerDeletion;
      arr.push_back(std::move(o));
    }
    j["ownerReferences"] = std::move(arr);
  }
  keepUnknown(j, raw, kMetaKnown);
  return j;
}

Result<EncryptionKey> decodeEncryptionKey(const Json& j, DecodeOptions options) {
  RETURN_IF_ERROR(checkHeader(j, "EncryptionKey"));
  EncryptionKey k;
  if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) RETURN_IF_ERROR(readMeta(*it, &k.metadata));
  RETURN_IF_ERROR(readSection(j, "spec", options.strict, [&](ObjReader& r) { return readKeySpec(r, k.spec); }));
  RETURN_IF_ERROR(readSection(j, "status", options.strict, [&](ObjReader& r) { return readKeyStatus(r, k.status); }));
  k.raw = j;
  return k;
}

Json encodeStatus(const EncryptionKeyStatus& s) {
  Json j = Json::object();
  putEnum(j, "state", s.state);
  if (s.observedGeneration) j["observedGeneration"] = s.observedGeneration;
  if (s.currentVersion) j["currentVersion"] = s.currentVersion;
  if (!s.versions.empty()) {
    Json arr = Json::array();
    for (const auto& v : s.versions) {
      Json o = Json::object();
      o["version"] = v.version;
      putEnum(o, "state", v.state);
      putStr(o, "backendKeyId", v.backendKeyId);
      putStr(o, "fingerprint", v.fingerprint);
      putTime(o, "createdAt", v.createdAt);
      putTime(o, "activatedAt", v.activatedAt);
      putTime(o, "deactivatedAt", v.deactivatedAt);
      putTime(o, "destroyAt", v.destroyAt);
      arr.push_back(std::move(o));
    }
    j["versions"] = std::move(arr);
  }
  putTime(j, "preActiveExpiresAt", s.preActiveExpiresAt);
  if (s.activatedBy) {
    Json a = Json::object();
    putStr(a, "request", s.activatedBy->request);
    putList(a, "approvers", s.activatedBy->approvers);
    j["activatedBy"] = std::move(a);
  }
  if (s.wrappingKey) {
    Json w = Json::object();
    putStr(w, "algorithm", s.wrappingKey->algorithm);
    putList(w, "algorithms", s.wrappingKey->algorithms);
    putStr(w, "publicKeyPem", s.wrappingKey->publicKeyPem);
    putTime(w, "expiresAt", s.wrappingKey->expiresAt);
    if (s.wrappingKey->version > 0) w["version"] = s.wrappingKey->version;
    if (s.wrappingKey->serial > 0) w["serial"] = s.wrappingKey->serial;
    j["wrappingKey"] = std::move(w);
  }
  if (s.selfTest) {
    Json t = Json::object();
    putStr(t, "result", s.selfTest->result);
    putTime(t, "at", s.selfTest->at);
    j["selfTest"] = std::move(t);
  }
  putStr(j, "observedReconcileRequest", s.observedReconcileRequest);
  putStr(j, "observedRotateRequest", s.observedRotateRequest);
  if (!s.conditions.empty()) j["conditions"] = encodeConditions(s.conditions);
  return j;
}

Json encode(const EncryptionKey& k) {
  return finishTop("EncryptionKey", k.metadata, encodeKeySpec(k.spec), encodeStatus(k.status), k.raw, kKeySpecKnown,
                   kKeyStatusKnown);
}

Result<KeyActivationRequest> decodeKeyActivationRequest(const Json& j, DecodeOptions options) {
  RETURN_IF_ERROR(checkHeader(j, "KeyActivationRequest"));
  KeyActivationRequest k;
  if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) RETURN_IF_ERROR(readMeta(*it, &k.metadata));
  RETURN_IF_ERROR(readSection(j, "spec", options.strict, [&](ObjReader& r) { return readReqSpec(r, k.spec); }));
  RETURN_IF_ERROR(readSection(j, "status", options.strict, [&](ObjReader& r) { return readReqStatus(r, k.status); }));
  k.raw = j;
  return k;
}

Json encodeStatus(const KeyActivationRequestStatus& s) {
  Json j = Json::object();
  putEnum(j, "phase", s.phase);
  if (s.observedGeneration) j["observedGeneration"] = s.observedGeneration;
  if (s.approvalsRequired) j["approvalsRequired"] = s.approvalsRequired;
  if (s.approvalsReceived) j["approvalsReceived"] = s.approvalsReceived;
  putStr(j, "approvals", s.approvals);
  putTime(j, "activatedAt", s.activatedAt);
  if (!s.conditions.empty()) j["conditions"] = encodeConditions(s.conditions);
  return j;
}

Json encode(const KeyActivationRequest& k) {
  return finishTop("KeyActivationRequest", k.metadata, encodeReqSpec(k.spec), encodeStatus(k.status), k.raw,
                   kReqSpecKnown, kReqStatusKnown);
}

Result<KeyRoleBinding> decodeKeyRoleBinding(const Json& j, DecodeOptions options) {
  RETURN_IF_ERROR(checkHeader(j, "KeyRoleBinding"));
  KeyRoleBinding k;
  if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) RETURN_IF_ERROR(readMeta(*it, &k.metadata));
  RETURN_IF_ERROR(readSection(j, "spec", options.strict, [&](ObjReader& r) { return readBindingSpec(r, k.spec); }));
  RETURN_IF_ERROR(
      readSection(j, "status", options.strict, [&](ObjReader& r) { return readBindingStatus(r, k.status); }));
  k.raw = j;
  return k;
}

Json encodeStatus(const KeyRoleBindingStatus& s) {
  Json j = Json::object();
  if (s.observedGeneration) j["observedGeneration"] = s.observedGeneration;
  if (s.rbac) {
    Json r = Json::object();
    putStr(r, "role", s.rbac->role);
    putStr(r, "roleBinding", s.rbac->roleBinding);
    j["rbac"] = std::move(r);
  }
  if (!s.conditions.empty()) j["conditions"] = encodeConditions(s.conditions);
  return j;
}

Json encode(const KeyRoleBinding& k) {
  return finishTop("KeyRoleBinding", k.metadata, encodeBindingSpec(k.spec), encodeStatus(k.status), k.raw,
                   kBindingSpecKnown, kBindingStatusKnown);
}

std::string jurisdictionOfNamespace(const Json& ns) {
  const Json* labels = findPath(ns, "metadata.labels");
  if (!labels || !labels->is_object()) return "";
  auto it = labels->find(std::string(kJurisdictionLabel));
  return it != labels->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace keygate::api::v1alpha1
