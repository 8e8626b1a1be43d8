#include "controllers/activation_request/decide.h"

#include <algorithm>
#include <set>

#include "api/v1alpha1/defaults.h"
#include "api/v1alpha1/roles.h"
#include "api/v1alpha1/validation.h"

namespace keygate::controllers {
namespace v1 = keygate::api::v1alpha1;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Why the approver does not hold KeyApprover now; "" when they do. Group membership is known
// only to the API server at request time: a group grant is re-checked through the groups
// the webhook recorded (and signed) in the approval, so removing that group's binding, or
// the group from it, voids the approval even when other group bindings exist.
std::string roleProblem(const std::vector<v1::KeyRoleBinding>& bindings, const v1::Approval& approval,
                        const std::string& ns, const v1::EncryptionKey& key, WallTime now) {
  v1::UserInfo user{approval.approver, "", approval.approverGroups};
  v1::RoleGrant g = v1::holdsRole(bindings, user, v1::Role::kKeyApprover, ns, &key, now);
  if (g.granted) return "";
  if (!g.overdueBindings.empty()) return "KeyApprover binding past reviewBy";
  if (!g.selectorMismatchBindings.empty()) return "KeyApprover binding does not select this key";
  return "no current KeyApprover binding";
}

std::string createdBy(const v1::EncryptionKey& key) {
  auto it = key.metadata.annotations.find(std::string(v1::kCreatedByAnnotation));
  return it == key.metadata.annotations.end() ? "" : it->second;
}

bool terminal(v1::RequestPhase p) {
  return p == v1::RequestPhase::kActivated || p == v1::RequestPhase::kDenied || p == v1::RequestPhase::kExpired;
}

// The version a request without keyRef.version targets (same rule as decide()).
int64_t targetVersion(const v1::KeyActivationRequest& r, const v1::EncryptionKey& key) {
  if (r.spec.keyRef.version) return r.spec.keyRef.version;
  int64_t target = 0;
  for (const auto& v : key.status.versions)
    if (v.state == v1::KeyState::kPreActive) target = std::max(target, v.version);
  if (target == 0) {
    const v1::KeyVersionStatus* cur = key.status.findVersion(key.status.currentVersion);
    if (cur && (cur->state == v1::KeyState::kDeactivated || cur->state == v1::KeyState::kActive)) target = cur->version;
  }
  return target;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

ApprovalTally tallyApprovals(const v1::KeyActivationRequest& request, const v1::EncryptionKey& key,
                             const std::vector<v1::KeyRoleBinding>& bindings, const v1::Policy& policy,
                             const v1::ApprovalSigner& signer, WallTime now) {
  ApprovalTally t;
  std::set<std::string> decided;  // approvers with a signed entry already seen
  const std::string creator = createdBy(key);
  const std::string& ns = request.metadata.namespace_;
  for (const auto& a : request.spec.approvals) {
    auto ignore = [&](std::string reason) { t.ignored.push_back({a.approver, std::move(reason)}); };
    // The signature first: until it verifies, not even the approver's name can be trusted.
    v1::ApprovalCheck check = v1::checkApproval(signer, request, key, a);
    if (check != v1::ApprovalCheck::kValid) {
      ignore(std::string(v1::describe(check)));
      continue;
    }
    if (!decided.insert(a.approver).second) {
      ignore("second decision by the same approver");
      continue;
    }
    if (a.decision != v1::Decision::kApprove && a.decision != v1::Decision::kDeny) {
      ignore("no decision");
      continue;
    }
    if (a.approver == request.spec.requester && !policy.segregationOfDuties.requesterMayApprove) {
      ignore("requester cannot approve");
      continue;
    }
    if (!creator.empty() && a.approver == creator && !policy.segregationOfDuties.creatorMayApprove) {
      ignore("key creator cannot approve");
      continue;
    }
    if (std::string p = roleProblem(bindings, a, ns, key, now); !p.empty()) {
      ignore(std::move(p));
      continue;
    }
    if (a.decision == v1::Decision::kDeny) {
      if (t.deniers.empty()) t.denyComment = a.comment;
      t.deniers.push_back(a.approver);
    } else if (!contains(t.approvers, a.approver)) {
      t.approvers.push_back(a.approver);
    }
  }
  return t;
}

std::string describeIgnored(const std::vector<IgnoredApproval>& ignored) {
  if (ignored.empty()) return "";
  std::string out = std::to_string(ignored.size()) + " ignored: ";
  for (size_t i = 0; i < ignored.size(); ++i)
    out += (i ? "; " : "") + ignored[i].reason + " (" + (ignored[i].approver.empty() ? "?" : ignored[i].approver) + ")";
  return out;
}

v1::ApprovalVerdict verdictFor(const v1::KeyActivationRequest& request, const ApprovalTally& tally) {
  v1::ApprovalVerdict v;
  v.request = request.metadata.name;
  if (tally.deniers.empty()) {
    v.validApprovals = static_cast<int64_t>(tally.approvers.size());
    v.approvers = tally.approvers;
  }
  return v;
}

static RequestDecision decidePhase(const RequestInputs& in) {
  const v1::KeyActivationRequest& r = *in.request;
  const v1::Policy& policy = *in.policy;
  const WallTime now = in.now;
  const int64_t gen = r.metadata.generation;
  RequestDecision d;
  d.status = r.status;
  v1::KeyActivationRequestStatus& st = d.status;
  const v1::RequestPhase before = st.phase;
  if (terminal(before)) return d;  // decided: nothing more to count

  st.observedGeneration = gen;
  auto cond = [&](std::string_view type, bool on, std::string_view reason, std::string_view msg) {
    v1::setCondition(st.conditions, type, on, reason, msg, gen, now);
  };
  auto finish = [&](v1::RequestPhase phase, std::string event, std::string message) {
    st.phase = phase;
    if (phase != before && !event.empty()) {
      d.event = std::move(event);
      d.message = std::move(message);
    }
  };
  const std::string keyName = r.metadata.namespace_ + "/" + r.spec.keyRef.name;

  // Inputs that make the request impossible to act on: Failed, re-evaluated when they change
  // (a key that shows up in the cache a moment after the request is not a permanent error).
  auto fail = [&](std::string reason, std::string message) {
    cond("Approved", false, reason, message);
    finish(v1::RequestPhase::kFailed, "RequestFailed", message);
  };
  if (!r.spec.keyRef.namespace_.empty() && r.spec.keyRef.namespace_ != r.metadata.namespace_) {
    fail("CrossNamespaceReference", "spec.keyRef.namespace: must be the request's own namespace " +
                                        r.metadata.namespace_);
    return d;
  }
  if (!in.key) {
    fail("KeyNotFound", "EncryptionKey " + keyName + " not found");
    return d;
  }
  const v1::EncryptionKey& key = *in.key;
  st.approvalsRequired = v1::requiredApprovalsFor(r, key.spec, policy);
  const int64_t version = targetVersion(r, key);
  const v1::KeyVersionStatus* target = version ? key.status.findVersion(version) : nullptr;

  // Activated is the key reconciler's transition; mirror it only if its patch was lost.
  if (key.status.activatedBy && key.status.activatedBy->request == r.metadata.name && target &&
      target->state == v1::KeyState::kActive) {
    st.phase = v1::RequestPhase::kActivated;
    st.activatedAt = target->activatedAt;
    st.approvalsReceived = static_cast<int64_t>(key.status.activatedBy->approvers.size());
    st.approvals = v1::formatApprovals(st.approvalsReceived, st.approvalsRequired);
    cond("Activated", true, "Activated", "version " + std::to_string(version) + " of " + keyName + " is Active");
    return d;
  }

  if (key.status.state == v1::KeyState::kExpired || (target && target->state == v1::KeyState::kExpired)) {
    cond("Approved", false, "KeyExpired", "EncryptionKey " + keyName + " was not activated within its preActiveTTL");
    finish(v1::RequestPhase::kExpired, "RequestExpired", "key " + keyName + " expired before activation");
    return d;
  }
  if (key.status.state == v1::KeyState::kFailed) {
    fail("KeyFailed", "EncryptionKey " + keyName + " is Failed");
    return d;
  }
  if (key.status.state == v1::KeyState::kCompromised || key.status.state == v1::KeyState::kDestroyScheduled ||
      key.status.state == v1::KeyState::kDestroyed) {
    fail("KeyNotActivatable", "EncryptionKey " + keyName + " is " + std::string(v1::toString(key.status.state)));
    return d;
  }

  // An approval activates once (v1::approvalSpent): the key reconciler will not use this
  // request again, so say so instead of showing it Approved forever.
  if (target && v1::approvalSpent(r, target)) {
    fail("ApprovalSpent", "version " + std::to_string(version) + " of " + keyName +
                              " was activated after this request was made: an approval activates once (this request's "
                              "was spent by that activation or made moot by it); create a new request to activate it again");
    return d;
  }
  d.tally = tallyApprovals(r, key, *in.bindings, policy, *in.signer, now);
  const ApprovalTally& t = d.tally;
  st.approvalsReceived = static_cast<int64_t>(t.approvers.size());
  st.approvals = v1::formatApprovals(st.approvalsReceived, st.approvalsRequired);
  if (t.ignored.empty()) cond("InvalidApprovals", false, "NoneIgnored", "every recorded decision is valid");
  else cond("InvalidApprovals", true, "ApprovalsIgnored", describeIgnored(t.ignored));
  cond("Activated", false, "NotActivated", "the key has not been activated by this request");

  if (!t.deniers.empty()) {
    std::string msg = "denied by " + t.deniers.front() + (t.denyComment.empty() ? "" : ": " + t.denyComment);
    cond("Denied", true, "Denied", msg);
    cond("Approved", false, "Denied", msg);
    finish(v1::RequestPhase::kDenied, "RequestDenied", msg);
    return d;
  }
  cond("Denied", false, "NotDenied", "no valid Deny");
  if (st.approvalsReceived >= st.approvalsRequired) {
    std::string msg = std::to_string(st.approvalsReceived) + " of " + std::to_string(st.approvalsRequired) +
                      " required approvals: " + join(t.approvers);
    cond("Approved", true, "Approved", msg);
    finish(v1::RequestPhase::kApproved, "ApprovalReceived", msg);
    d.becameApproved = before != v1::RequestPhase::kApproved;
    return d;
  }

  // Pending until decided, or Expired when undecided within the key's preActiveTTL.
  WallTime expiry = r.metadata.creationTimestamp.value_or(now) +
                    std::chrono::duration_cast<WallTime::duration>(v1::effectivePreActiveTtl(key.spec, policy));
  if (key.status.preActiveExpiresAt) expiry = std::min(expiry, *key.status.preActiveExpiresAt);
  if (now >= expiry) {
    cond("Approved", false, "Expired", "not decided within the key's preActiveTTL");
    finish(v1::RequestPhase::kExpired, "RequestExpired", "not decided within the key's preActiveTTL");
    return d;
  }
  cond("Approved", false, "WaitingForApprovals",
       std::to_string(st.approvalsReceived) + " of " + std::to_string(st.approvalsRequired) + " required approvals" +
           (t.approvers.empty() ? "" : ": " + join(t.approvers)));
  st.phase = v1::RequestPhase::kPending;
  d.requeueAfter = std::chrono::duration_cast<Duration>(expiry - now);
  return d;
}

void setRequestReady(v1::KeyActivationRequestStatus& st, int64_t gen, WallTime now) {
  const std::string phase(v1::toString(st.phase == v1::RequestPhase::kUnspecified ? v1::RequestPhase::kPending : st.phase));
  std::string message;
  switch (st.phase) {
    case v1::RequestPhase::kActivated: message = "the key version this request asked for is active"; break;
    case v1::RequestPhase::kApproved: message = "approved; waiting for the operator to activate the key version"; break;
    case v1::RequestPhase::kDenied: message = "denied by an approver"; break;
    case v1::RequestPhase::kExpired: message = "the key version expired before it was activated"; break;
    case v1::RequestPhase::kFailed: message = "cannot be acted on; see the Approved condition"; break;
    default: message = "waiting for approvals (" + v1::formatApprovals(st.approvalsReceived, st.approvalsRequired) + ")"; break;
  }
  v1::setCondition(st.conditions, "Ready", st.phase == v1::RequestPhase::kActivated, phase, message, gen, now);
  v1::Progress progress = v1::Progress::kReconciling;  // Pending, Approved: people or the operator still act
  if (st.phase == v1::RequestPhase::kActivated) progress = v1::Progress::kDone;
  if (st.phase == v1::RequestPhase::kDenied || st.phase == v1::RequestPhase::kExpired || st.phase == v1::RequestPhase::kFailed)
    progress = v1::Progress::kStalled;
  v1::setProgressConditions(st.conditions, progress, phase, message, gen, now);
}

RequestDecision decideRequest(const RequestInputs& in) {
  RequestDecision d = decidePhase(in);
  // The key reconciler may patch Activated before this reconciler counted the last approval:
  // the count then comes from the key's record of who activated it, so that an Activated
  // request never shows fewer approvals than its key recorded.
  const v1::EncryptionKey* key = in.key;
  if (d.status.phase == v1::RequestPhase::kActivated && key && key->status.activatedBy &&
      key->status.activatedBy->request == in.request->metadata.name) {
    d.status.approvalsReceived = std::max<int64_t>(d.status.approvalsReceived,
                                                   static_cast<int64_t>(key->status.activatedBy->approvers.size()));
    d.status.approvals = v1::formatApprovals(d.status.approvalsReceived, d.status.approvalsRequired);
  }
  setRequestReady(d.status, in.request->metadata.generation, in.now);
  return d;
}

}  // namespace keygate::controllers
