#include "controllers/role_binding/rbac.h"

#include <algorithm>

#include "api/v1alpha1/validation.h"
#include "common/time.h"

namespace keygate::controllers {
namespace v1 = keygate::api::v1alpha1;

namespace {

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

Json rule(std::vector<std::string> groups, std::vector<std::string> resources, std::vector<std::string> verbs) {
  return {{"apiGroups", groups}, {"resources", resources}, {"verbs", verbs}};
}

Json metadataFor(const v1::KeyRoleBinding& b) {
  Json owner = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyRoleBinding"},
                {"name", b.metadata.name},
                {"uid", b.metadata.uid},
                {"controller", true},
                {"blockOwnerDeletion", true}};
  return {{"name", rbacObjectName(b.metadata.name)},
          {"namespace", b.metadata.namespace_},
          {"labels", {{kManagedByLabel, "keygate"}, {kBindingLabel, b.metadata.name}}},
          {"ownerReferences", Json::array({owner})}};
}

std::string subjectText(const v1::Subject& s) {
  std::string t = std::string(v1::toString(s.kind)) + "/";
  if (s.kind == v1::SubjectKind::kServiceAccount && !s.namespace_.empty()) t += s.namespace_ + "/";
  return t + s.name;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string rbacObjectName(const std::string& binding) { return "keygate-" + binding; }

// The verbs are the ones people's tools send: `kubectl patch`, `kubectl edit`, `kubectl
// apply`, `kubectl label` and server-side apply all need `patch` (a separate verb from
// `update`, which only `kubectl replace`/PUT uses), and each of them GETs the object first.
Json rulesFor(v1::Role role) {
  switch (role) {
    case v1::Role::kKeyAdministrator:
      return Json::array({rule({"keygate.dev"}, {"encryptionkeys"},
                               {"create", "update", "patch", "delete", "get", "list", "watch"})});
    case v1::Role::kKeyApprover:
      // Approving is appending to spec.approvals (JSON patch, merge patch, edit or replace);
      // reading the keys shows the approver what they approve, reading the KeyRoleBindings
      // who else holds the role (`kubectl keygate status/pending`).
      return Json::array({rule({"keygate.dev"}, {"keyactivationrequests"}, {"get", "list", "watch", "update", "patch"}),
                          rule({"keygate.dev"}, {"encryptionkeys", "keyrolebindings"}, {"get", "list", "watch"})});
    case v1::Role::kKeyUser: return Json::array({rule({"keygate.dev"}, {"encryptionkeys"}, {"get"})});
    case v1::Role::kKeyAuditor:
      return Json::array({rule({"keygate.dev"}, {"encryptionkeys", "keyactivationrequests", "keyrolebindings"},
                               {"get", "list", "watch"}),
                          rule({""}, {"events"}, {"get", "list", "watch"})});
    case v1::Role::kUnspecified: break;
  }
  return Json::array();
}

Json desiredRole(const v1::KeyRoleBinding& b) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "Role"},
          {"metadata", metadataFor(b)},
          {"rules", rulesFor(b.spec.role)}};
}

Json desiredRoleBinding(const v1::KeyRoleBinding& b) {
  Json subjects = Json::array();
  for (const auto& s : b.spec.subjects) {
    if (s.kind == v1::SubjectKind::kServiceAccount) {
      subjects.push_back({{"kind", "ServiceAccount"},
                          {"name", s.name},
                          {"namespace", s.namespace_.empty() ? b.metadata.namespace_ : s.namespace_}});
    } else if (s.kind != v1::SubjectKind::kUnspecified) {
      subjects.push_back({{"apiGroup", kRbacGroup}, {"kind", std::string(v1::toString(s.kind))}, {"name", s.name}});
    }
  }
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "RoleBinding"},
          {"metadata", metadataFor(b)},
          {"roleRef", {{"apiGroup", kRbacGroup}, {"kind", "Role"}, {"name", rbacObjectName(b.metadata.name)}}},
          {"subjects", subjects}};
}

bool rbacInSync(const Json& live, const Json& desired) {
  const Json& dm = desired["metadata"];
  const Json* labels = findPath(live, "metadata.labels");
  for (const auto& [k, v] : dm["labels"].items())
    if (!labels || !labels->contains(k) || (*labels)[k] != v) return false;
  const Json* owners = findPath(live, "metadata.ownerReferences");
  if (!owners || !owners->is_array()) return false;
  const Json& want = dm["ownerReferences"][0];
  bool owned = std::any_of(owners->begin(), owners->end(), [&](const Json& o) {
    for (const char* f : {"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"})
      if (!o.contains(f) || o[f] != want[f]) return false;
    return true;
  });
  if (!owned) return false;
  for (const char* f : {"rules", "roleRef", "subjects"}) {
    if (!desired.contains(f)) continue;
    // An empty subjects list may come back absent.
    const Json empty = Json::array();
    const Json& got = live.contains(f) && !live[f].is_null() ? live[f] : empty;
    if (got != desired[f]) return false;
  }
  return true;
}

BindingDecision decideBinding(const v1::KeyRoleBinding& b, const std::vector<v1::KeyRoleBinding>& namespaceBindings,
                              WallTime now) {
  BindingDecision d;
  d.status = b.status;
  v1::KeyRoleBindingStatus& st = d.status;
  const int64_t gen = b.metadata.generation;
  st.observedGeneration = gen;
  auto cond = [&](std::string_view type, bool on, std::string_view reason, const std::string& msg) {
    v1::setCondition(st.conditions, type, on, reason, msg, gen, now);
  };
  const std::string name = rbacObjectName(b.metadata.name);

  // Segregation of duties over the namespace's declared subjects; only conflicts this
  // binding takes part in are reported on it.
  std::vector<std::string> conflicts;
  for (const auto& c : v1::findSegregationConflicts(namespaceBindings)) {
    if (c.namespace_ != b.metadata.namespace_) continue;
    bool mine = std::find(c.administratorBindings.begin(), c.administratorBindings.end(), b.metadata.name) !=
                    c.administratorBindings.end() ||
                std::find(c.approverBindings.begin(), c.approverBindings.end(), b.metadata.name) !=
                    c.approverBindings.end();
    if (mine)
      conflicts.push_back(subjectText(c.subject) + " holds KeyAdministrator (" + join(c.administratorBindings) +
                          ") and KeyApprover (" + join(c.approverBindings) + ")");
  }
  if (conflicts.empty()) cond("SegregationConflict", false, "NoConflict", "no subject holds both KeyAdministrator and KeyApprover");
  else cond("SegregationConflict", true, "AdministratorIsApprover", join(conflicts));

  auto due = v1::parseReviewBy(b.spec.reviewBy);
  if (!due.ok()) {
    // Fail closed: a binding whose review date cannot be read grants nothing.
    d.grant = false;
    std::string msg = "spec.reviewBy: " + due.error().message;
    cond("ReviewOverdue", true, "InvalidReviewBy", msg);
    cond("Ready", false, "InvalidReviewBy", msg);
    v1::setProgressConditions(st.conditions, v1::Progress::kStalled, "InvalidReviewBy", msg, gen, now);
    st.rbac = v1::RbacRefs{name, ""};
    return d;
  }
  d.reviewDue = *due;
  if (now >= *due) {
    d.grant = false;
    std::string msg = "reviewBy " + b.spec.reviewBy + " has passed: the binding grants nothing until it is renewed";
    cond("ReviewOverdue", true, "ReviewOverdue", msg);
    cond("Ready", false, "ReviewOverdue", msg);
    v1::setProgressConditions(st.conditions, v1::Progress::kStalled, "ReviewOverdue", msg, gen, now);
    st.rbac = v1::RbacRefs{name, ""};
    return d;
  }
  d.grant = true;
  d.requeueAfter = std::chrono::duration_cast<Duration>(*due - now);
  cond("ReviewOverdue", false, "ReviewCurrent", "grants " + std::string(v1::toString(b.spec.role)) + " until " + formatRfc3339(*due));
  cond("Ready", true, "Materialized", "Role and RoleBinding " + name + " grant " + std::string(v1::toString(b.spec.role)));
  v1::setProgressConditions(st.conditions, v1::Progress::kDone, "Materialized", "", gen, now);
  st.rbac = v1::RbacRefs{name, name};
  return d;
}

}  // namespace keygate::controllers
