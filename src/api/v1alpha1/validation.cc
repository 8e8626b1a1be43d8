#include "api/v1alpha1/validation.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <regex>
#include <set>

#include "api/v1alpha1/defaults.h"
#include "common/time.h"

namespace keygate::api::v1alpha1 {
namespace {

using Errs = FieldErrors;

std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }
std::string idx(const std::string& field, size_t i) { return field + "[" + std::to_string(i) + "]"; }

bool isDnsLabel(std::string_view s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return s.size() <= 63 && std::regex_match(s.begin(), s.end(), re);
}

bool isDnsSubdomain(std::string_view s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return s.size() <= kMaxNameLength && std::regex_match(s.begin(), s.end(), re);
}

// YYYY-MM-DD naming a day of the calendar (2027-06-31 is not one). The crypto API checks
// each granting binding's reviewBy per call, so this is plain arithmetic, not a regex.
std::optional<std::chrono::year_month_day> strictDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto number = [&](size_t from, size_t n) {
    int v = 0;
    for (size_t i = from; i < from + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int y = number(0, 4), m = number(5, 2), d = number(8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(m)},
                                         std::chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  return date;
}

bool isStrictDate(std::string_view s) { return strictDate(s).has_value(); }

void required(Errs& e, const std::string& field, bool present) {
  if (!present) e.push_back({field, "Required value"});
}

void maxLen(Errs& e, const std::string& field, std::string_view s, size_t n) {
  if (s.size() > n) e.push_back({field, "may not be longer than " + std::to_string(n) + " characters"});
}

// Go duration, positive, optionally at least `min`.
void checkDuration(Errs& e, const std::string& field, const std::string& text, Duration min = Duration::zero()) {
  if (text.empty()) return;
  auto d = parseGoDuration(text);
  if (!d.ok() || text[0] == '-' || text[0] == '+') {
    e.push_back({field, "invalid duration " + dq(text) + " (use Go syntax such as 168h, 90m, 1h30m)"});
    return;
  }
  if (*d <= Duration::zero()) e.push_back({field, "must be positive"});
  else if (*d < min) e.push_back({field, "must be at least " + formatGoDuration(min)});
}

void checkTime(Errs& e, const std::string& field, const std::string& text) {
  if (text.empty()) return;
  auto t = parseRfc3339(text);
  if (text.size() > 10 && t.ok() && formatRfc3339(*t).compare(0, 10, text.substr(0, 10)) == 0) return;
  e.push_back({field, "invalid RFC 3339 date-time " + dq(text) + " (e.g. 2026-12-01T00:00:00Z)"});
}

void checkAffectedSystems(Errs& e, const std::string& field, const std::vector<std::string>& v) {
  if (v.size() > kMaxAffectedSystems)
    e.push_back({field, "must have at most " + std::to_string(kMaxAffectedSystems) + " items"});
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].empty()) e.push_back({idx(field, i), "Required value"});
    maxLen(e, idx(field, i), v[i], kMaxNameLength);
    if (!seen.insert(v[i]).second) e.push_back({idx(field, i), "Duplicate value: " + dq(v[i])});
  }
}

void checkSameNamespace(Errs& e, const std::string& field, const std::string& refNamespace,
                        const std::string& objectNamespace, std::string_view what) {
  if (refNamespace.empty() || refNamespace == objectNamespace) return;
  e.push_back({field, "references must stay in the " + std::string(what) + "'s namespace" +
                          (objectNamespace.empty() ? std::string() : " " + dq(objectNamespace)) + ", got " +
                          dq(refNamespace) + " (cross-namespace references are not allowed)"});
}

void checkMeta(Errs& e, const ObjectMeta& m) {
  if (m.name.empty()) e.push_back({"metadata.name", "Required value"});
  else if (!isDnsSubdomain(m.name))
    e.push_back({"metadata.name", "invalid name " + dq(m.name) +
                                      ": must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.')"});
}

bool anyVersionActive(const EncryptionKeyStatus& s) {
  if (s.state == KeyState::kActive) return true;
  return std::any_of(s.versions.begin(), s.versions.end(),
                     [](const KeyVersionStatus& v) { return v.state == KeyState::kActive; });
}

template <typename T>
void immutable(Errs& e, const std::string& field, const T& oldV, const T& newV) {
  if (!(oldV == newV)) e.push_back({field, "field is immutable"});
}

// ---- EncryptionKey spec ---------------------------------------------------------------

void checkKeySpec(Errs& e, const EncryptionKey& key, const Policy& policy) {
  const auto& s = key.spec;
  required(e, "spec.purpose", s.purpose != Purpose::kUnspecified);
  required(e, "spec.algorithm", s.algorithm != Algorithm::kUnspecified);
  if (s.purpose != Purpose::kUnspecified && s.algorithm != Algorithm::kUnspecified &&
      !algorithmServesPurpose(s.algorithm, s.purpose))
    e.push_back({"spec.algorithm", std::string(toString(s.algorithm)) + " cannot serve purpose " +
                                       std::string(toString(s.purpose))});
  required(e, "spec.backend", !s.backend.empty());
  if (!s.backend.empty()) {
    if (!isDnsLabel(s.backend))
      e.push_back({"spec.backend", "invalid backend name " + dq(s.backend) +
                                       ": must be a lowercase RFC 1123 label of at most 63 characters"});
    else if (!policy.knownBackends.empty() &&
             std::find(policy.knownBackends.begin(), policy.knownBackends.end(), s.backend) ==
                 policy.knownBackends.end())
      e.push_back({"spec.backend", "unknown backend " + dq(s.backend) + " (not in the operator config)"});
  }

  const bool external = s.origin == Origin::kExternal;
  const bool hasSecretRef = s.import && s.import->secretRef;
  if (external && !hasSecretRef)
    e.push_back({"spec.import.secretRef", "Required value: spec.origin External needs the wrapped key material"});
  if (!external && s.import)
    e.push_back({"spec.import", "only allowed when spec.origin is External"});
  if (hasSecretRef) {
    const auto& ref = *s.import->secretRef;
    required(e, "spec.import.secretRef.name", !ref.name.empty());
    required(e, "spec.import.secretRef.key", !ref.key.empty());
    maxLen(e, "spec.import.secretRef.name", ref.name, kMaxNameLength);
    maxLen(e, "spec.import.secretRef.key", ref.key, kMaxNameLength);
    checkSameNamespace(e, "spec.import.secretRef.namespace", ref.namespace_, key.metadata.namespace_, "key");
  }

  const auto& a = s.activation;
  if (a.requiredApprovals != 0 && (a.requiredApprovals < 1 || a.requiredApprovals > kMaxApprovals))
    e.push_back({"spec.activation.requiredApprovals",
                 "must be between 1 and " + std::to_string(kMaxApprovals) + ", got " + std::to_string(a.requiredApprovals)});
  checkDuration(e, "spec.activation.preActiveTTL", a.preActiveTTL);
  checkTime(e, "spec.activation.notBefore", a.notBefore);

  if (s.rotation) {
    required(e, "spec.rotation.period", !s.rotation->period.empty());
    checkDuration(e, "spec.rotation.period", s.rotation->period, std::chrono::hours(1));
  }
  if (s.compromised) maxLen(e, "spec.compromised.reason", s.compromised->reason, kMaxReasonLength);
  checkDuration(e, "spec.destruction.pendingWindow", s.destruction.pendingWindow, std::chrono::hours(1));

  if (!s.jurisdiction.empty()) {
    maxLen(e, "spec.jurisdiction", s.jurisdiction, 63);
    auto it = policy.jurisdictions.find(s.jurisdiction);
    if (it == policy.jurisdictions.end()) {
      if (!policy.jurisdictions.empty()) {
        std::string known;
        for (const auto& [name, _] : policy.jurisdictions) known += (known.empty() ? "" : ", ") + dq(name);
        e.push_back({"spec.jurisdiction", "unknown jurisdiction " + dq(s.jurisdiction) + ": known: " + known});
      }
    } else {
      const auto& j = it->second;
      if (!j.backends.empty() && !s.backend.empty() &&
          std::find(j.backends.begin(), j.backends.end(), s.backend) == j.backends.end()) {
        std::string allowed;
        for (const auto& b : j.backends) allowed += (allowed.empty() ? "" : ", ") + b;
        e.push_back({"spec.backend", s.backend + " is not allowed in jurisdiction " + s.jurisdiction +
                                         " (allowed: " + allowed + ")"});
      }
      if (!j.algorithms.empty() && s.algorithm != Algorithm::kUnspecified &&
          std::find(j.algorithms.begin(), j.algorithms.end(), s.algorithm) == j.algorithms.end()) {
        std::string allowed;
        for (auto alg : j.algorithms) allowed += (allowed.empty() ? "" : ", ") + std::string(toString(alg));
        e.push_back({"spec.algorithm", std::string(toString(s.algorithm)) + " is not allowed in jurisdiction " +
                                           s.jurisdiction + " (allowed: " + allowed + ")"});
      }
    }
  }
  checkAffectedSystems(e, "spec.affectedSystems", s.affectedSystems);
  // Approval bypasses the policy can forbid (docs/security.md).
  if (s.rotation && !s.rotation->requireApproval && !policy.allowUnapprovedRotation)
    e.push_back({"spec.rotation.requireApproval",
                 "false is not allowed by the operator policy: every new version needs approval "
                 "(policy.allowUnapprovedRotation)"});
  if (s.jurisdiction.empty() && policy.requireJurisdiction)
    e.push_back({"spec.jurisdiction", "Required value: the operator policy requires a jurisdiction "
                                      "(policy.requireJurisdiction); set it, or label the namespace "
                                      "keygate.dev/jurisdiction"});
}

// ---- KeyActivationRequest spec ---------------------------------------------------------

void checkRequestSpec(Errs& e, const KeyActivationRequest& r, const Policy& policy) {
  const auto& s = r.spec;
  required(e, "spec.keyRef.name", !s.keyRef.name.empty());
  if (!s.keyRef.name.empty() && !isDnsSubdomain(s.keyRef.name))
    e.push_back({"spec.keyRef.name", "invalid key name " + dq(s.keyRef.name)});
  if (s.keyRef.version < 0) e.push_back({"spec.keyRef.version", "must be at least 1"});
  checkSameNamespace(e, "spec.keyRef.namespace", s.keyRef.namespace_, r.metadata.namespace_, "request");
  required(e, "spec.reason", !s.reason.empty());
  maxLen(e, "spec.reason", s.reason, kMaxReasonLength);
  maxLen(e, "spec.changeReference", s.changeReference, 128);
  maxLen(e, "spec.requester", s.requester, kMaxNameLength);
  checkAffectedSystems(e, "spec.affectedSystems", s.affectedSystems);

  if (s.approvals.size() > kMaxApprovalEntries)
    e.push_back({"spec.approvals", "must have at most " + std::to_string(kMaxApprovalEntries) + " items"});
  std::set<std::string> approvers;
  for (size_t i = 0; i < s.approvals.size(); ++i) {
    const auto& a = s.approvals[i];
    const std::string f = idx("spec.approvals", i);
    required(e, f + ".approver", !a.approver.empty());
    required(e, f + ".decision", a.decision != Decision::kUnspecified);
    maxLen(e, f + ".approver", a.approver, kMaxNameLength);
    maxLen(e, f + ".comment", a.comment, kMaxReasonLength);
    checkTime(e, f + ".time", a.time);
    if (!a.approver.empty() && !approvers.insert(a.approver).second)
      e.push_back({f + ".approver", "duplicate approval by " + a.approver + " (one entry per approver)"});
    if (!a.approver.empty() && a.approver == s.requester && !policy.segregationOfDuties.requesterMayApprove)
      e.push_back({f + ".approver", a.approver + " is the requester and may not approve (segregation of duties)"});
  }
}

// ---- KeyRoleBinding spec --------------------------------------------------------------

void checkBindingSpec(Errs& e, const KeyRoleBinding& b) {
  const auto& s = b.spec;
  required(e, "spec.role", s.role != Role::kUnspecified);
  if (s.subjects.empty()) e.push_back({"spec.subjects", "Required value: at least one subject"});
  if (s.subjects.size() > kMaxSubjects)
    e.push_back({"spec.subjects", "must have at most " + std::to_string(kMaxSubjects) + " items"});
  for (size_t i = 0; i < s.subjects.size(); ++i) {
    const auto& sub = s.subjects[i];
    const std::string f = idx("spec.subjects", i);
    required(e, f + ".kind", sub.kind != SubjectKind::kUnspecified);
    required(e, f + ".name", !sub.name.empty());
    maxLen(e, f + ".name", sub.name, kMaxNameLength);
    if (sub.kind == SubjectKind::kServiceAccount) {
      if (sub.namespace_.empty())
        e.push_back({f + ".namespace", "Required value: a ServiceAccount subject names its namespace"});
      else
        checkSameNamespace(e, f + ".namespace", sub.namespace_, b.metadata.namespace_, "binding");
    } else if (!sub.namespace_.empty()) {
      e.push_back({f + ".namespace", "only allowed for kind ServiceAccount"});
    }
  }
  required(e, "spec.reviewBy", !s.reviewBy.empty());
  if (!s.reviewBy.empty() && !isStrictDate(s.reviewBy))
    e.push_back({"spec.reviewBy", "invalid date " + dq(s.reviewBy) + " (use YYYY-MM-DD)"});
  if (s.keySelector)
    for (const auto& [k, v] : s.keySelector->matchLabels) {
      maxLen(e, "spec.keySelector.matchLabels." + k, v, 63);
      if (k.empty() || k.size() > kMaxNameLength) e.push_back({"spec.keySelector.matchLabels", "invalid label key"});
    }
}

bool sameSubject(const Subject& a, const Subject& b) {
  return a.kind == b.kind && a.name == b.name &&
         (a.kind != SubjectKind::kServiceAccount || a.namespace_ == b.namespace_);
}

std::string describeSubject(const Subject& s) {
  std::string out = std::string(toString(s.kind)) + " " + s.name;
  if (s.kind == SubjectKind::kServiceAccount) out += " (namespace " + s.namespace_ + ")";
  return out;
}

}  // namespace

std::string joinErrors(const FieldErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.toString();
  }
  return out;
}

FieldErrors validateCreate(const EncryptionKey& key, const Policy& policy) {
  Errs e;
  checkMeta(e, key.metadata);
  checkKeySpec(e, key, policy);
  return e;
}

FieldErrors validateUpdate(const EncryptionKey& oldKey, const EncryptionKey& newKey, const Policy& policy) {
  Errs e;
  checkKeySpec(e, newKey, policy);
  const auto& o = oldKey.spec;
  const auto& n = newKey.spec;
  // Mirrors the CEL `self == oldSelf` rules on the fields themselves.
  immutable(e, "spec.purpose", o.purpose, n.purpose);
  immutable(e, "spec.algorithm", o.algorithm, n.algorithm);
  immutable(e, "spec.backend", o.backend, n.backend);
  if (o.origin != Origin::kUnspecified && n.origin != Origin::kUnspecified) immutable(e, "spec.origin", o.origin, n.origin);
  if (!o.jurisdiction.empty() && n.jurisdiction != o.jurisdiction)
    e.push_back({"spec.jurisdiction", "field is immutable once set (was " + dq(o.jurisdiction) + ")"});
  if (o.isCompromised() && (!n.compromised || n.compromised->reason != o.compromised->reason))
    e.push_back({"spec.compromised.reason", "cannot be changed or cleared once set (a compromised key stays compromised)"});
  if (n.scheduleDestruction && !o.scheduleDestruction && anyVersionActive(oldKey.status))
    e.push_back({"spec.scheduleDestruction", "key is Active: deactivate first"});
  if (oldKey.metadata.annotations.count(std::string(kCreatedByAnnotation))) {
    auto it = newKey.metadata.annotations.find(std::string(kCreatedByAnnotation));
    if (it == newKey.metadata.annotations.end() ||
        it->second != oldKey.metadata.annotations.at(std::string(kCreatedByAnnotation)))
      e.push_back({"metadata.annotations[" + std::string(kCreatedByAnnotation) + "]", "field is immutable"});
  }
  return e;
}

FieldErrors validateDelete(const EncryptionKey& key) {
  Errs e;
  if (effectiveDestructionPolicy(key.spec) == DestructionPolicy::kDestroy && anyVersionActive(key.status))
    e.push_back({"spec.destruction.policy", "key is Active and destruction.policy is Destroy: deactivate first"});
  return e;
}

FieldErrors validateCreate(const KeyActivationRequest& request, const Policy& policy) {
  Errs e;
  checkMeta(e, request.metadata);
  checkRequestSpec(e, request, policy);
  return e;
}

FieldErrors validateUpdate(const KeyActivationRequest& oldR, const KeyActivationRequest& newR, const Policy& policy) {
  Errs e;
  checkRequestSpec(e, newR, policy);
  immutable(e, "spec.keyRef", oldR.spec.keyRef, newR.spec.keyRef);
  if (!oldR.spec.requester.empty() && oldR.spec.requester != newR.spec.requester)
    e.push_back({"spec.requester", "field is immutable once set"});
  const auto& oa = oldR.spec.approvals;
  const auto& na = newR.spec.approvals;
  for (size_t i = 0; i < oa.size(); ++i) {
    if (i >= na.size()) {
      e.push_back({idx("spec.approvals", i), "approvals are append-only: entries cannot be removed"});
      break;
    }
    if (!(oa[i] == na[i]))
      e.push_back({idx("spec.approvals", i), "approvals are append-only: existing entries cannot be edited"});
  }
  return e;
}

FieldErrors validateRequestForKey(const KeyActivationRequest& r, const EncryptionKey& key, const Policy& policy) {
  Errs e;
  if (r.spec.keyRef.name != key.metadata.name || r.metadata.namespace_ != key.metadata.namespace_)
    e.push_back({"spec.keyRef.name", "request does not reference key " + key.metadata.namespace_ + "/" +
                                         key.metadata.name});
  if (r.spec.keyRef.version > 0 && !key.status.versions.empty() && !key.status.findVersion(r.spec.keyRef.version))
    e.push_back({"spec.keyRef.version", "key " + key.metadata.name + " has no version " +
                                            std::to_string(r.spec.keyRef.version)});
  auto creator = key.metadata.annotations.find(std::string(kCreatedByAnnotation));
  if (creator != key.metadata.annotations.end() && !policy.segregationOfDuties.creatorMayApprove)
    for (size_t i = 0; i < r.spec.approvals.size(); ++i)
      if (r.spec.approvals[i].approver == creator->second)
        e.push_back({idx("spec.approvals", i) + ".approver",
                     creator->second + " created the key and may not approve it (segregation of duties)"});
  return e;
}

FieldErrors validateCreate(const KeyRoleBinding& binding, const Policy&) {
  Errs e;
  checkMeta(e, binding.metadata);
  checkBindingSpec(e, binding);
  return e;
}

FieldErrors validateUpdate(const KeyRoleBinding&, const KeyRoleBinding& newBinding, const Policy&) {
  Errs e;
  checkBindingSpec(e, newBinding);
  return e;
}

Result<WallTime> parseReviewBy(std::string_view reviewBy) {
  auto date = strictDate(reviewBy);
  if (!date)
    return makeError(ErrorCode::kInvalidArgument, "spec.reviewBy: invalid date \"" + std::string(reviewBy) +
                                                      "\" (use YYYY-MM-DD)");
  // The whole day counts: due at the next midnight (UTC).
  return WallTime(std::chrono::sys_days(*date)) + std::chrono::hours(24);
}

bool bindingIsCurrent(const KeyRoleBinding& binding, WallTime now) {
  auto due = parseReviewBy(binding.spec.reviewBy);
  return due.ok() && now < *due;
}

std::vector<SegregationConflict> findSegregationConflicts(const std::vector<KeyRoleBinding>& bindings) {
  std::vector<SegregationConflict> out;
  auto record = [&](const std::string& ns, const Subject& s, Role role, const std::string& binding) {
    for (auto& c : out) {
      if (c.namespace_ == ns && sameSubject(c.subject, s)) {
        auto& list = role == Role::kKeyAdministrator ? c.administratorBindings : c.approverBindings;
        if (std::find(list.begin(), list.end(), binding) == list.end()) list.push_back(binding);
        return;
      }
    }
    SegregationConflict c{ns, s, {}, {}};
    (role == Role::kKeyAdministrator ? c.administratorBindings : c.approverBindings).push_back(binding);
    out.push_back(std::move(c));
  };
  for (const auto& b : bindings) {
    if (b.spec.role != Role::kKeyAdministrator && b.spec.role != Role::kKeyApprover) continue;
    for (const auto& s : b.spec.subjects) record(b.metadata.namespace_, s, b.spec.role, b.metadata.name);
  }
  std::vector<SegregationConflict> conflicts;
  for (auto& c : out) {
    if (c.administratorBindings.empty() || c.approverBindings.empty()) continue;
    std::sort(c.administratorBindings.begin(), c.administratorBindings.end());
    std::sort(c.approverBindings.begin(), c.approverBindings.end());
    conflicts.push_back(std::move(c));
  }
  return conflicts;
}

FieldErrors validateSegregation(const KeyRoleBinding& candidate, const std::vector<KeyRoleBinding>& existing) {
  Errs e;
  if (candidate.spec.role != Role::kKeyAdministrator && candidate.spec.role != Role::kKeyApprover) return e;
  const Role other = candidate.spec.role == Role::kKeyAdministrator ? Role::kKeyApprover : Role::kKeyAdministrator;
  for (size_t i = 0; i < candidate.spec.subjects.size(); ++i) {
    const auto& s = candidate.spec.subjects[i];
    for (const auto& b : existing) {
      if (b.metadata.namespace_ != candidate.metadata.namespace_ || b.metadata.name == candidate.metadata.name ||
          b.spec.role != other)
        continue;
      bool clash = std::any_of(b.spec.subjects.begin(), b.spec.subjects.end(),
                               [&](const Subject& x) { return sameSubject(x, s); });
      if (clash) {
        e.push_back({idx("spec.subjects", i),
                     describeSubject(s) + " would hold both " + std::string(toString(candidate.spec.role)) +
                         " and " + std::string(toString(other)) + " (binding " + b.metadata.name +
                         ") in namespace " + candidate.metadata.namespace_ + " (segregation of duties)"});
        break;
      }
    }
  }
  return e;
}

}  // namespace keygate::api::v1alpha1
