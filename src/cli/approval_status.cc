#include "cli/approval_status.h"

#include <algorithm>
#include <sstream>

#include "api/v1alpha1/validation.h"
#include "common/time.h"

namespace keygate::cli {
namespace {

std::string annotation(const av1::ObjectMeta& m, std::string_view key) {
  auto it = m.annotations.find(std::string(key));
  return it == m.annotations.end() ? "" : it->second;
}

const av1::EncryptionKey* findKey(const std::vector<av1::EncryptionKey>& keys, const std::string& ns, const std::string& name) {
  for (const auto& k : keys)
    if (k.metadata.namespace_ == ns && k.metadata.name == name) return &k;
  return nullptr;
}

bool decided(const av1::KeyActivationRequest& r, const std::string& user) {
  return std::any_of(r.spec.approvals.begin(), r.spec.approvals.end(), [&](const auto& a) { return a.approver == user; });
}

std::string versionText(const av1::KeyActivationRequest& r) {
  return r.spec.keyRef.version > 0 ? " v" + std::to_string(r.spec.keyRef.version) : "";
}

std::string approvalsText(const av1::KeyActivationRequest& r) {
  if (!r.status.approvals.empty()) return r.status.approvals;
  int64_t approved = std::count_if(r.spec.approvals.begin(), r.spec.approvals.end(),
                                   [](const auto& a) { return a.decision == av1::Decision::kApprove; });
  return std::to_string(approved) + "/?";
}

std::string phaseText(av1::RequestPhase p) {
  return p == av1::RequestPhase::kUnspecified ? "Pending" : std::string(av1::toString(p));
}

}  // namespace

std::string admissionReason(std::string_view message) {
  constexpr std::string_view kPrefix = "admission webhook \"";
  constexpr std::string_view kDenied = "\" denied the request: ";
  if (message.substr(0, kPrefix.size()) != kPrefix) return std::string(message);
  size_t end = message.find(kDenied, kPrefix.size());
  if (end == std::string_view::npos) return std::string(message);
  return std::string(message.substr(end + kDenied.size()));
}

std::string subjectText(const av1::Subject& s) {
  switch (s.kind) {
    case av1::SubjectKind::kGroup: return "group:" + s.name;
    case av1::SubjectKind::kServiceAccount: return "serviceaccount:" + s.namespace_ + "/" + s.name;
    default: return s.name;
  }
}

std::vector<std::string> stillEligibleApprovers(const av1::KeyActivationRequest& request, const av1::EncryptionKey* key,
                                                const std::vector<av1::KeyRoleBinding>& bindings, WallTime now) {
  const std::string creator = key ? annotation(key->metadata, av1::kCreatedByAnnotation) : "";
  std::vector<std::string> out;
  for (const auto& b : bindings) {
    if (b.metadata.namespace_ != request.metadata.namespace_ || b.spec.role != av1::Role::kKeyApprover) continue;
    if (b.metadata.deletionTimestamp || !av1::selectorMatches(b, key) || !av1::bindingIsCurrent(b, now)) continue;
    for (const auto& s : b.spec.subjects) {
      std::string who = s.kind == av1::SubjectKind::kServiceAccount ? av1::serviceAccountUsername(s.namespace_, s.name) : s.name;
      if (s.kind != av1::SubjectKind::kGroup && (who == request.spec.requester || who == creator || decided(request, who)))
        continue;
      out.push_back(subjectText(s));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string formatRemaining(Duration d) {
  if (d <= Duration::zero()) return "expired";
  auto mins = std::chrono::duration_cast<std::chrono::minutes>(d).count();
  if (mins < 1) return "<1m";
  if (mins < 60) return std::to_string(mins) + "m";
  if (mins < 48 * 60) return std::to_string(mins / 60) + "h" + std::to_string(mins % 60) + "m";
  return std::to_string(mins / (24 * 60)) + "d";
}

std::string formatRequestStatus(const av1::KeyActivationRequest& r, const av1::EncryptionKey* key,
                                const std::vector<av1::KeyRoleBinding>& bindings, WallTime now) {
  std::ostringstream o;
  o << "keyactivationrequest " << r.metadata.namespace_ << "/" << r.metadata.name << ": " << phaseText(r.status.phase)
    << ", approvals " << approvalsText(r) << "\n";
  o << "  key:       " << r.spec.keyRef.name << versionText(r);
  if (key) {
    o << " (" << av1::toString(key->status.state);
    if (key->status.state == av1::KeyState::kPreActive && key->status.preActiveExpiresAt)
      o << ", material destroyed in " << formatRemaining(*key->status.preActiveExpiresAt - now) << " unless activated";
    o << ")";
  } else {
    o << " (not found)";
  }
  o << "\n  requester: " << (r.spec.requester.empty() ? "-" : r.spec.requester) << "   reason: " << r.spec.reason;
  if (!r.spec.changeReference.empty()) o << "   change: " << r.spec.changeReference;
  if (!r.spec.affectedSystems.empty()) {
    o << "   affected: ";
    for (size_t i = 0; i < r.spec.affectedSystems.size(); ++i) o << (i ? ", " : "") << r.spec.affectedSystems[i];
  }
  o << "\n";
  for (const auto& a : r.spec.approvals) {
    o << "  " << (a.decision == av1::Decision::kDeny ? "denied:    " : "approved:  ") << a.approver << " at " << a.time;
    if (!a.comment.empty()) o << " (\"" << a.comment << "\")";
    o << "\n";
  }
  if (r.status.phase == av1::RequestPhase::kPending || r.status.phase == av1::RequestPhase::kUnspecified) {
    auto who = stillEligibleApprovers(r, key, bindings, now);
    o << "  can still approve: ";
    if (who.empty()) o << "nobody (no current KeyApprover binding names anyone else)";
    for (size_t i = 0; i < who.size(); ++i) o << (i ? ", " : "") << who[i];
    o << (who.empty() ? "" : " (requester and key creator excluded)") << "\n";
  }
  // Only what needs a person's attention: approvals that do not count, and why.
  for (const auto& c : r.status.conditions)
    if (c.type == "InvalidApprovals" && c.status == "True" && !c.message.empty())
      o << "  not counted: " << c.message << "\n";
  return o.str();
}

std::string formatKeyStatus(const av1::EncryptionKey& k, const std::vector<av1::KeyActivationRequest>& requests,
                            WallTime now) {
  std::ostringstream o;
  o << "encryptionkey " << k.metadata.namespace_ << "/" << k.metadata.name << ": " << av1::toString(k.status.state)
    << ", " << av1::toString(k.spec.purpose) << " " << av1::toString(k.spec.algorithm) << " on " << k.spec.backend;
  if (k.status.currentVersion > 0) o << ", current version " << k.status.currentVersion;
  o << "\n";
  if (k.status.state == av1::KeyState::kPreActive && k.status.preActiveExpiresAt)
    o << "  unactivated material destroyed in " << formatRemaining(*k.status.preActiveExpiresAt - now) << "\n";
  for (const auto& v : k.status.versions) {
    o << "  v" << v.version << "  " << av1::toString(v.state);
    if (v.activatedAt) o << "  activated " << formatRfc3339(*v.activatedAt);
    if (v.deactivatedAt) o << "  deactivated " << formatRfc3339(*v.deactivatedAt);
    if (v.destroyAt) o << "  destroy " << formatRfc3339(*v.destroyAt);
    o << "\n";
  }
  if (k.status.activatedBy)
    {
      o << "  activated by request " << k.status.activatedBy->request << ", approvers ";
      for (size_t i = 0; i < k.status.activatedBy->approvers.size(); ++i)
        o << (i ? ", " : "") << k.status.activatedBy->approvers[i];
      o << "\n";
    }
  std::vector<const av1::KeyActivationRequest*> mine;
  for (const auto& r : requests)
    if (r.metadata.namespace_ == k.metadata.namespace_ && r.spec.keyRef.name == k.metadata.name) mine.push_back(&r);
  std::sort(mine.begin(), mine.end(), [](const auto* a, const auto* b) {
    return a->metadata.creationTimestamp.value_or(WallTime{}) > b->metadata.creationTimestamp.value_or(WallTime{});
  });
  for (const auto* r : mine)
    o << "  request " << r->metadata.name << "  " << phaseText(r->status.phase) << "  approvals " << approvalsText(*r)
      << "  requester " << (r->spec.requester.empty() ? "-" : r->spec.requester) << "\n";
  // Only what needs a person's attention.
  for (const auto& c : k.status.conditions) {
    const bool problem = ((c.type == "PolicyCompliant" || c.type == "BackendReady") && c.status == "False") ||
                         (c.type == "SelfTestFailed" && c.status == "True");
    if (problem && !c.message.empty()) o << "  " << c.type << ": " << c.message << "\n";
  }
  if (k.status.state == av1::KeyState::kFailed)
    for (const auto& c : k.status.conditions)
      if (c.type == "Ready" && !c.message.empty()) o << "  Failed: " << c.message << "\n";
  return o.str();
}

std::vector<const av1::KeyActivationRequest*> pendingFor(const av1::UserInfo& user,
                                                         const std::vector<av1::KeyActivationRequest>& requests,
                                                         const std::vector<av1::EncryptionKey>& keys,
                                                         const std::vector<av1::KeyRoleBinding>& bindings, WallTime now) {
  std::vector<const av1::KeyActivationRequest*> out;
  for (const auto& r : requests) {
    if (r.status.phase != av1::RequestPhase::kPending && r.status.phase != av1::RequestPhase::kUnspecified) continue;
    if (r.spec.requester == user.username || decided(r, user.username)) continue;
    const av1::EncryptionKey* key = findKey(keys, r.metadata.namespace_, r.spec.keyRef.name);
    if (key && annotation(key->metadata, av1::kCreatedByAnnotation) == user.username) continue;
    if (!av1::holdsRole(bindings, user, av1::Role::kKeyApprover, r.metadata.namespace_, key, now).granted) continue;
    out.push_back(&r);
  }
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    return std::tie(a->metadata.namespace_, a->metadata.name) < std::tie(b->metadata.namespace_, b->metadata.name);
  });
  return out;
}

std::string formatPendingLine(const av1::KeyActivationRequest& r, WallTime now) {
  std::ostringstream o;
  o << r.metadata.namespace_ << "/" << r.metadata.name << "  key " << r.spec.keyRef.name << versionText(r) << "  requester "
    << (r.spec.requester.empty() ? "-" : r.spec.requester) << "  approvals " << approvalsText(r);
  if (r.metadata.creationTimestamp) {
    auto age = now - *r.metadata.creationTimestamp;
    o << "  age " << (age <= Duration::zero() ? "0m" : formatRemaining(age));
  }
  o << "  reason: " << r.spec.reason << "\n";
  return o.str();
}

}  // namespace keygate::cli
