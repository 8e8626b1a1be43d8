// The sections of the audit report (docs/audit-report.md): inventory, tenants, role
// bindings, activations, requests, key use, the state timeline, and the findings that need
// action, sorted first.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "api/v1alpha1/roles.h"
#include "api/v1alpha1/validation.h"
#include "cli/approval_status.h"
#include "cli/report/report.h"
#include "common/time.h"

namespace keygate::cli::report {
namespace {

constexpr const char* kControlRoles = "CEK-02";
constexpr const char* kControlCustomerKeys = "CEK-08";
constexpr const char* kControlPurpose = "CEK-11";
constexpr const char* kControlActivation = "CEK-15";

std::string ts(WallTime t) { return formatRfc3339(t); }
void putTime(Json& j, const char* field, const std::optional<WallTime>& t) {
  if (t) j[field] = ts(*t);
}

std::string annotation(const av1::ObjectMeta& m, std::string_view key) {
  auto it = m.annotations.find(std::string(key));
  return it == m.annotations.end() ? "" : it->second;
}

int64_t requiredApprovals(const av1::EncryptionKey& k) {
  return std::max<int64_t>(1, k.spec.activation.requiredApprovals);
}

std::string originText(av1::Origin o) { return o == av1::Origin::kExternal ? "External" : "Generated"; }

std::string stateText(av1::KeyState s) {
  return s == av1::KeyState::kUnspecified ? "Pending" : std::string(av1::toString(s));
}

std::string phaseText(av1::RequestPhase p) {
  return p == av1::RequestPhase::kUnspecified ? "Pending" : std::string(av1::toString(p));
}

int severityRank(const std::string& s) { return s == "high" ? 0 : s == "medium" ? 1 : 2; }

class Builder {
 public:
  explicit Builder(const ReportInput& in) : in_(in) {}

  Json build() {
    selectTrail();
    Json r;
    r["apiVersion"] = kReportApiVersion;
    r["generatedAt"] = ts(in_.now);
    Json scope = in_.scope;
    if (in_.namespaces.empty()) scope["allNamespaces"] = true;
    else scope["namespaces"] = in_.namespaces;
    if (in_.since) scope["since"] = ts(*in_.since);
    r["scope"] = scope;
    r["auditTrail"] = trailSection();
    r["keys"] = keys();
    r["tenants"] = tenants();
    r["roleBindings"] = roleBindings();
    r["segregationConflicts"] = segregation();
    r["activations"] = activations();
    r["requests"] = requests();
    r["keyUse"] = keyUse();
    r["approvers"] = approvers(r["activations"], r["requests"]);
    r["timeline"] = timeline();
    // Most severe first; at equal severity, what concerns the whole report (the audit trail)
    // before what concerns one namespace.
    auto order = [](const Json& f) {
      return std::make_tuple(severityRank(f["severity"]), !f["namespace"].get<std::string>().empty(),
                             f["control"].get<std::string>(), f["namespace"].get<std::string>(), f["object"].get<std::string>());
    };
    std::stable_sort(findings_.begin(), findings_.end(), [&](const Json& a, const Json& b) { return order(a) < order(b); });
    r["findings"] = findings_;
    r["summary"] = summary(r);
    r["questions"] = answerQuestions(r);
    return r;
  }

 private:
  // `gap`: the finding shows the control not (fully) working, so its CAIQ answer becomes
  // "Partially". Findings where the control worked (a refused call, a repaired drift, a key
  // marked compromised) still need someone to act, but are not gaps.
  void finding(const char* severity, const char* control, const std::string& code, const std::string& ns,
               const std::string& object, const std::string& message) {
    static const std::set<std::string> kNotGaps = {"RefusedKeyUse", "CrossTenantKeyUse", "DriftRepaired", "KeyCompromised",
                                                   "KeyFailed", "StrayBackendObject"};
    findings_.push_back({{"severity", severity}, {"control", control}, {"code", code}, {"namespace", ns},
                         {"object", object}, {"message", message}, {"controlGap", kNotGaps.count(code) == 0}});
  }

  bool inScope(const std::string& ns) const {
    return in_.namespaces.empty() || std::find(in_.namespaces.begin(), in_.namespaces.end(), ns) != in_.namespaces.end();
  }

  const av1::EncryptionKey* findKey(const std::string& ns, const std::string& name) const {
    for (const auto& k : in_.keys)
      if (k.metadata.namespace_ == ns && k.metadata.name == name) return &k;
    return nullptr;
  }

  // Records of the period and the scope, oldest first.
  void selectTrail() {
    for (const auto& r : in_.trail.records) {
      if (in_.since && r.time < *in_.since) continue;
      if (!r.ns.empty() && !inScope(r.ns)) continue;
      trail_.push_back(&r);
    }
    std::stable_sort(trail_.begin(), trail_.end(), [](const TrailRecord* a, const TrailRecord* b) { return a->time < b->time; });
    foldRepeatedTransitions();
  }

  // Audit records are written ahead of the status write they describe (at least once): a
  // restart or a conflict in between writes the same transition again. A lifecycle
  // transition cannot happen twice in a row to one key version, so a record whose event is
  // the previous one of the same key version (keyUid, or namespace/key, and version) is that
  // repeat and is counted once. Events that can recur (DriftRepaired, KeyUseDenied, KeyUsed,
  // KeyFailed, WrappingKeyPublished, ...) are never folded.
  void foldRepeatedTransitions() {
    static const std::set<std::string> kTransitions = {
        "KeyGenerated",  "KeyImported",       "KeyActivated",         "KeyDeactivated",       "KeyCompromised",
        "KeyExpired",    "KeyDestroyed",      "KeyDeleted",           "KeyRetained",          "KeyRotationStarted",
        "DestructionScheduled", "DestructionCancelled"};
    std::map<std::pair<std::string, int64_t>, std::string> last;  // key version -> its last event
    std::vector<const TrailRecord*> kept;
    kept.reserve(trail_.size());
    for (const TrailRecord* r : trail_) {
      if (r->key.empty() && r->keyUid.empty()) {
        kept.push_back(r);
        continue;
      }
      auto id = std::make_pair(r->keyUid.empty() ? r->ns + "/" + r->key : r->keyUid, r->version);
      auto [it, fresh] = last.emplace(id, r->event);
      if (!fresh && it->second == r->event && kTransitions.count(r->event)) {
        ++foldedRepeats_;
        continue;
      }
      it->second = r->event;
      kept.push_back(r);
    }
    trail_ = std::move(kept);
  }

  Json trailSection() {
    const Trail& t = in_.trail;
    Json j = {{"files", t.files}, {"records", trail_.size()}, {"skippedLines", t.skippedLines}, {"chain", t.chain}};
    if (!t.chainDetail.empty()) j["chainDetail"] = t.chainDetail;
    // Repeats of one transition (audit is at least once; see foldRepeatedTransitions).
    if (foldedRepeats_ > 0) j["repeatsFolded"] = foldedRepeats_;
    Json events = Json::object();
    for (const TrailRecord* r : trail_) events[r->event] = events.value(r->event, 0) + std::max<int64_t>(1, r->count);
    j["events"] = events;
    if (!trail_.empty()) {
      j["first"] = ts(trail_.front()->time);
      j["last"] = ts(trail_.back()->time);
    }
    if (t.chain == "broken")
      finding("high", kControlActivation, "AuditTrailBroken", "", "audit trail",
              "the audit trail's hash chain is broken (" + t.chainDetail +
                  "): records were edited, inserted or removed; the evidence after that point cannot be trusted");
    else if (t.chain == "unchained" && !t.records.empty())
      finding("low", kControlActivation, "AuditTrailUnchained", "", "audit trail",
              "the audit records carry no hash chain (keygate local's audit.log, or a copy of the operator's stdout): "
              "their integrity cannot be checked; in a cluster, report on the operator's <stateDir>/audit/audit.log* files");
    else if (t.chain == "absent")
      finding("low", kControlActivation, "AuditTrailAbsent", "", "audit trail",
              "no audit trail was given (--audit-log): activations are taken from the objects' status only, and "
              "refused key use is not reported");
    return j;
  }

  Json keys() {
    Json out = Json::array();
    for (const auto& k : in_.keys) {
      const std::string& ns = k.metadata.namespace_;
      const std::string obj = "encryptionkey/" + k.metadata.name;
      Json j = {{"namespace", ns},
                {"name", k.metadata.name},
                {"purpose", av1::toString(k.spec.purpose)},
                {"algorithm", av1::toString(k.spec.algorithm)},
                {"backend", k.spec.backend},
                {"origin", originText(k.spec.origin)},
                {"state", stateText(k.status.state)},
                {"currentVersion", k.status.currentVersion},
                {"requiredApprovals", requiredApprovals(k)}};
      putTime(j, "createdAt", k.metadata.creationTimestamp);
      if (auto c = annotation(k.metadata, av1::kCreatedByAnnotation); !c.empty()) j["createdBy"] = c;
      if (!k.spec.jurisdiction.empty()) j["jurisdiction"] = k.spec.jurisdiction;
      if (!k.spec.affectedSystems.empty()) j["affectedSystems"] = k.spec.affectedSystems;
      Json versions = Json::array();
      const av1::KeyVersionStatus* current = k.status.findVersion(k.status.currentVersion);
      int64_t newestPreActive = 0;
      for (const auto& v : k.status.versions) {
        Json vj = {{"version", v.version}, {"state", stateText(v.state)}};
        putTime(vj, "createdAt", v.createdAt);
        putTime(vj, "activatedAt", v.activatedAt);
        putTime(vj, "deactivatedAt", v.deactivatedAt);
        putTime(vj, "destroyAt", v.destroyAt);
        versions.push_back(vj);
        if (v.state == av1::KeyState::kPreActive) newestPreActive = std::max(newestPreActive, v.version);
      }
      j["versions"] = versions;
      if (k.status.activatedBy) {
        j["activatedBy"] = {{"request", k.status.activatedBy->request}, {"approvers", k.status.activatedBy->approvers}};
      }
      putTime(j, "preActiveExpiresAt", k.status.preActiveExpiresAt);
      if (k.spec.isCompromised()) j["compromisedReason"] = k.spec.compromised->reason;

      if (k.spec.rotation && !k.spec.rotation->period.empty()) {
        Json rot = {{"period", k.spec.rotation->period}, {"overdue", false}};
        auto period = parseGoDuration(k.spec.rotation->period);
        std::optional<WallTime> since;
        if (current) since = current->activatedAt ? current->activatedAt : current->createdAt;
        if (period.ok() && since && k.status.state == av1::KeyState::kActive) {
          WallTime due = *since + std::chrono::duration_cast<WallTime::duration>(*period);
          rot["due"] = ts(due);
          if (due <= in_.now) {
            rot["overdue"] = true;
            finding("medium", kControlPurpose, "RotationOverdue", ns, obj,
                    "version " + std::to_string(current->version) + " has been in use since " + ts(*since) +
                        ", past its rotation period " + k.spec.rotation->period + " (due " + ts(due) + ")" +
                        (newestPreActive > current->version
                             ? "; version " + std::to_string(newestPreActive) + " waits for its activation request"
                             : "; no new version yet"));
          }
        }
        j["rotation"] = rot;
      }

      switch (k.status.state) {
        case av1::KeyState::kCompromised: {
          std::string left;
          for (const auto& v : k.status.versions)
            if (v.state != av1::KeyState::kDestroyed) left += (left.empty() ? "" : ", ") + std::to_string(v.version);
          finding("high", kControlPurpose, "KeyCompromised", ns, obj,
                  "compromised: " + (k.spec.isCompromised() ? k.spec.compromised->reason : std::string("(no reason)")) +
                      (left.empty() ? "; every version destroyed"
                                    : "; material of version(s) " + left +
                                          " still exists (decrypt what it protects with a new key, then schedule destruction)"));
          break;
        }
        case av1::KeyState::kFailed: {
          const auto* ready = av1::findCondition(k.status.conditions, "Ready");
          finding("high", kControlPurpose, "KeyFailed", ns, obj,
                  "Failed" + (ready && !ready->message.empty() ? ": " + ready->message : std::string()));
          break;
        }
        case av1::KeyState::kPreActive:
          if (k.status.preActiveExpiresAt && *k.status.preActiveExpiresAt - in_.now <= kPreActiveExpiringSoon) {
            finding("medium", kControlActivation, "PreActiveExpiring", ns, obj,
                    *k.status.preActiveExpiresAt <= in_.now
                        ? "PreActive past its TTL (" + ts(*k.status.preActiveExpiresAt) + "): material is being destroyed"
                        : "PreActive; its material is destroyed at " + ts(*k.status.preActiveExpiresAt) +
                              " unless an activation request is approved before");
          }
          break;
        default: break;
      }
      approverCoverage(k);
      out.push_back(j);
    }
    return out;
  }

  // Can this key (still) be activated by the people bound to approve it, with someone to spare?
  void approverCoverage(const av1::EncryptionKey& k) {
    const bool needsApprovals = k.status.state == av1::KeyState::kPreActive ||
                                (k.status.state == av1::KeyState::kActive && k.spec.rotation && k.spec.rotation->requireApproval);
    if (!needsApprovals) return;
    av1::KeyActivationRequest probe;
    probe.metadata.namespace_ = k.metadata.namespace_;
    auto eligible = stillEligibleApprovers(probe, &k, in_.bindings, in_.now);
    const int64_t required = requiredApprovals(k);
    const bool hasGroup = std::any_of(eligible.begin(), eligible.end(), [](const std::string& s) { return s.rfind("group:", 0) == 0; });
    std::string names;
    for (const auto& e : eligible) names += (names.empty() ? "" : ", ") + e;
    if (static_cast<int64_t>(eligible.size()) < required) {
      finding("high", kControlActivation, "NotEnoughApprovers", k.metadata.namespace_, "encryptionkey/" + k.metadata.name,
              "needs " + std::to_string(required) + " approvals but only " + std::to_string(eligible.size()) +
                  " current KeyApprover subject(s) other than its creator can give one" +
                  (names.empty() ? "" : " (" + names + ")") + ": it cannot be activated");
    } else if (static_cast<int64_t>(eligible.size()) == required && !hasGroup) {
      thinNamespaces_[k.metadata.namespace_].insert(k.metadata.name);
      thinApprovers_[k.metadata.namespace_] = names;
    }
  }

  Json tenants() {
    std::set<std::string> namespaces;
    for (const auto& k : in_.keys) namespaces.insert(k.metadata.namespace_);
    for (const auto& b : in_.bindings) namespaces.insert(b.metadata.namespace_);
    Json out = Json::array();
    for (const auto& ns : namespaces) {
      Json byState = Json::object();
      int64_t count = 0;
      std::set<std::string> backends;
      for (const auto& k : in_.keys) {
        if (k.metadata.namespace_ != ns) continue;
        ++count;
        std::string s = stateText(k.status.state);
        byState[s] = byState.value(s, 0) + 1;
        backends.insert(k.spec.backend);
      }
      Json roles = Json::object();
      for (const auto& [role, name] : av1::EnumTraits<av1::Role>::kValues) {
        std::set<std::string> subjects;
        for (const auto& b : in_.bindings)
          if (b.metadata.namespace_ == ns && b.spec.role == role && av1::bindingIsCurrent(b, in_.now))
            for (const auto& s : b.spec.subjects) subjects.insert(subjectText(s));
        roles[std::string(name)] = Json(std::vector<std::string>(subjects.begin(), subjects.end()));
      }
      out.push_back({{"namespace", ns}, {"keys", count}, {"byState", byState},
                     {"backends", std::vector<std::string>(backends.begin(), backends.end())}, {"roles", roles}});
      if (count > 0 && roles["KeyApprover"].empty())
        finding("high", kControlRoles, "NoApprovers", ns, "",
                "keys but no current KeyApprover binding: no key here can be activated or rotated");
      if (count > 0 && roles["KeyAdministrator"].empty())
        finding("medium", kControlRoles, "NoAdministrators", ns, "",
                "keys but no current KeyAdministrator binding: nobody can deactivate, rotate or destroy them");
      if (auto it = thinNamespaces_.find(ns); it != thinNamespaces_.end()) {
        std::string keys;
        for (const auto& k : it->second) keys += (keys.empty() ? "" : ", ") + k;
        finding("low", kControlRoles, "NoAlternateApprover", ns, "",
                "key(s) " + keys + " need as many approvals as there are eligible approvers (" + thinApprovers_[ns] +
                    "): one absence blocks activation; bind an alternate");
      }
    }
    return out;
  }

  Json roleBindings() {
    Json out = Json::array();
    for (const auto& b : in_.bindings) {
      const std::string& ns = b.metadata.namespace_;
      const std::string obj = "keyrolebinding/" + b.metadata.name;
      Json subjects = Json::array();
      for (const auto& s : b.spec.subjects) subjects.push_back(subjectText(s));
      Json j = {{"namespace", ns}, {"name", b.metadata.name}, {"role", av1::toString(b.spec.role)},
                {"subjects", subjects}, {"reviewBy", b.spec.reviewBy}};
      if (b.spec.keySelector) j["keySelector"] = b.spec.keySelector->matchLabels;
      auto due = av1::parseReviewBy(b.spec.reviewBy);
      if (!due.ok()) {
        j["review"] = "invalid";
        finding("medium", kControlRoles, "BindingReviewInvalid", ns, obj, "reviewBy \"" + b.spec.reviewBy + "\" is not a date: the binding grants nothing");
      } else if (*due <= in_.now) {
        j["review"] = "overdue";
        finding("medium", kControlRoles, "BindingReviewOverdue", ns, obj,
                std::string(av1::toString(b.spec.role)) + " for " + join(subjects) + ": review was due " + b.spec.reviewBy +
                    "; the binding grants nothing until it is reviewed and reviewBy moved");
      } else if (*due - in_.now <= kReviewDueSoon) {
        j["review"] = "dueSoon";
        finding("low", kControlRoles, "BindingReviewDue", ns, obj,
                std::string(av1::toString(b.spec.role)) + " for " + join(subjects) + ": review due " + b.spec.reviewBy);
      } else {
        j["review"] = "current";
      }
      out.push_back(j);
    }
    return out;
  }

  static std::string join(const Json& list) {
    std::string out;
    for (const auto& s : list) out += (out.empty() ? "" : ", ") + s.get<std::string>();
    return out;
  }

  Json segregation() {
    Json out = Json::array();
    for (const auto& c : av1::findSegregationConflicts(in_.bindings)) {
      out.push_back({{"namespace", c.namespace_}, {"subject", subjectText(c.subject)},
                     {"administratorBindings", c.administratorBindings}, {"approverBindings", c.approverBindings}});
      finding("high", kControlRoles, "SegregationOfDuties", c.namespace_, "keyrolebinding/" + c.approverBindings.front(),
              subjectText(c.subject) + " holds both KeyAdministrator (" + join(Json(c.administratorBindings)) +
                  ") and KeyApprover (" + join(Json(c.approverBindings)) + ")");
    }
    return out;
  }

  const av1::KeyActivationRequest* findRequest(const std::string& ns, const std::string& name) const {
    for (const auto& r : in_.requests)
      if (r.metadata.namespace_ == ns && r.metadata.name == name) return &r;
    return nullptr;
  }

  Json activations() {
    Json out = Json::array();
    std::set<std::tuple<std::string, std::string, int64_t>> seen;
    for (const TrailRecord* r : trail_) {
      if (r->event != "KeyActivated") continue;
      seen.insert({r->ns, r->key, r->version});
      Json j = {{"time", ts(r->time)}, {"namespace", r->ns}, {"key", r->key}, {"version", r->version},
                {"request", r->request}, {"requester", r->initiator}, {"approvers", r->approvers},
                {"changeReference", r->changeReference}, {"affectedSystems", r->affectedSystems}, {"evidence", "audit"}};
      const av1::KeyActivationRequest* req = r->request.empty() ? nullptr : findRequest(r->ns, r->request);
      if (req) j["reason"] = req->spec.reason;
      checkActivation(j, req);
      out.push_back(j);
    }
    // Activations the trail does not show: from the keys' status (and their requests).
    const bool haveTrail = in_.trail.chain != "absent" && !trail_.empty();
    const WallTime trailStart = haveTrail ? trail_.front()->time : WallTime{};
    for (const auto& k : in_.keys) {
      for (const auto& v : k.status.versions) {
        if (!v.activatedAt || (in_.since && *v.activatedAt < *in_.since)) continue;
        if (seen.count({k.metadata.namespace_, k.metadata.name, v.version})) continue;
        const av1::KeyActivationRequest* req = nullptr;
        for (const auto& r : in_.requests)
          if (r.metadata.namespace_ == k.metadata.namespace_ && r.spec.keyRef.name == k.metadata.name &&
              r.status.phase == av1::RequestPhase::kActivated && (r.spec.keyRef.version == 0 || r.spec.keyRef.version == v.version))
            req = &r;
        if (k.status.activatedBy && v.version == k.status.currentVersion && !k.status.activatedBy->request.empty())
          if (const auto* byStatus = findRequest(k.metadata.namespace_, k.status.activatedBy->request)) req = byStatus;
        std::vector<std::string> approvers;
        if (k.status.activatedBy && v.version == k.status.currentVersion) approvers = k.status.activatedBy->approvers;
        else if (req)
          for (const auto& a : req->spec.approvals)
            if (a.decision == av1::Decision::kApprove) approvers.push_back(a.approver);
        Json j = {{"time", ts(*v.activatedAt)}, {"namespace", k.metadata.namespace_}, {"key", k.metadata.name},
                  {"version", v.version}, {"request", req ? req->metadata.name : ""},
                  {"requester", req ? req->spec.requester : ""}, {"approvers", approvers},
                  {"changeReference", req ? req->spec.changeReference : ""},
                  {"affectedSystems", req ? req->spec.affectedSystems : std::vector<std::string>{}}, {"evidence", "status"}};
        if (req) j["reason"] = req->spec.reason;
        checkActivation(j, req);
        if (haveTrail && *v.activatedAt >= trailStart)
          finding("medium", kControlActivation, "ActivationNotInAuditTrail", k.metadata.namespace_,
                  "encryptionkey/" + k.metadata.name,
                  "version " + std::to_string(v.version) + " was activated at " + ts(*v.activatedAt) +
                      ", inside the audit period, but the trail has no KeyActivated record for it");
        out.push_back(j);
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const Json& a, const Json& b) { return a["time"] < b["time"]; });
    return out;
  }

  void checkActivation(const Json& a, const av1::KeyActivationRequest* req) {
    const std::string ns = a["namespace"], key = a["key"], requester = a["requester"];
    const std::string obj = "encryptionkey/" + key;
    const std::string what = "version " + std::to_string(a["version"].get<int64_t>()) + " activated " + a["time"].get<std::string>();
    std::vector<std::string> approvers = a["approvers"];
    if (a["request"].get<std::string>().empty() && a["evidence"] == "audit") {
      finding("medium", kControlActivation, "ActivatedWithoutApproval", ns, obj,
              what + " with no approval (rotation.requireApproval false, allowed by the operator's policy)");
      return;
    }
    if (a["evidence"] == "status" && a["request"].get<std::string>().empty())
      return;  // who approved is unknown (ActivationNotInAuditTrail says why when it matters)
    if (!requester.empty() && std::find(approvers.begin(), approvers.end(), requester) != approvers.end())
      finding("high", kControlActivation, "SelfApproval", ns, obj,
              what + ": the requester " + requester + " is among its approvers (the policy allows it: segregationOfDuties.requesterMayApprove)");
    int64_t required = 0;
    if (req && req->status.approvalsRequired > 0) required = req->status.approvalsRequired;
    else if (const auto* k = findKey(ns, key)) required = requiredApprovals(*k);
    if (required > 0 && static_cast<int64_t>(approvers.size()) < required)
      finding("high", kControlActivation, "TooFewApprovals", ns, obj,
              what + " with " + std::to_string(approvers.size()) + " approval(s); " + std::to_string(required) + " required");
  }

  Json requests() {
    Json out = Json::array();
    for (const auto& r : in_.requests) {
      const bool open = r.status.phase == av1::RequestPhase::kPending || r.status.phase == av1::RequestPhase::kUnspecified ||
                        r.status.phase == av1::RequestPhase::kApproved;
      if (in_.since && !open && r.metadata.creationTimestamp && *r.metadata.creationTimestamp < *in_.since) continue;
      Json approvals = Json::array();
      for (const auto& a : r.spec.approvals) {
        Json aj = {{"approver", a.approver}, {"decision", av1::toString(a.decision)}, {"time", a.time}};
        if (!a.comment.empty()) aj["comment"] = a.comment;
        approvals.push_back(aj);
      }
      Json j = {{"namespace", r.metadata.namespace_}, {"name", r.metadata.name}, {"key", r.spec.keyRef.name},
                {"phase", phaseText(r.status.phase)}, {"requester", r.spec.requester}, {"reason", r.spec.reason},
                {"approvalsRequired", r.status.approvalsRequired}, {"approvalsReceived", r.status.approvalsReceived},
                {"approvals", approvals}};
      if (r.spec.keyRef.version > 0) j["version"] = r.spec.keyRef.version;
      if (!r.spec.changeReference.empty()) j["changeReference"] = r.spec.changeReference;
      if (!r.spec.affectedSystems.empty()) j["affectedSystems"] = r.spec.affectedSystems;
      putTime(j, "createdAt", r.metadata.creationTimestamp);
      putTime(j, "activatedAt", r.status.activatedAt);
      out.push_back(j);
    }
    return out;
  }

  Json keyUse() {
    struct Group {
      int64_t count = 0;
      WallTime first, last;
    };
    using K = std::tuple<std::string, std::string, std::string, std::string, std::string>;
    std::map<K, Group> denied, used;
    int64_t driftRepairs = 0;
    for (const TrailRecord* r : trail_) {
      if (r->event == "KeyUseDenied" || r->event == "KeyUsed") {
        auto& g = (r->event == "KeyUsed" ? used : denied)[{r->ns, r->key, r->initiator, r->operation,
                                                            r->event == "KeyUsed" ? "" : r->reason}];
        if (g.count == 0) g.first = r->time;
        g.last = r->time;
        g.count += std::max<int64_t>(1, r->count);
      } else if (r->event == "StrayObjectDisabled") {
        finding("medium", kControlCustomerKeys, "StrayBackendObject", r->ns, "backend/" + r->backend,
                "at " + ts(r->time) + " an object no key accounts for was found in the tenant's storage and disabled: " +
                    r->message);
      } else if (r->event == "DriftRepaired") {
        ++driftRepairs;
        finding("medium", kControlPurpose, "DriftRepaired", r->ns, "encryptionkey/" + r->key,
                "at " + ts(r->time) + " the backend's usage of version " + std::to_string(r->version) +
                    " had been changed outside Keygate and was undone (" + r->message + ")");
      }
    }
    Json d = Json::array(), u = Json::array();
    for (const auto& [k, g] : denied) {
      const auto& [ns, key, caller, op, reason] = k;
      d.push_back({{"namespace", ns}, {"key", key}, {"caller", caller}, {"operation", op}, {"reason", reason},
                   {"count", g.count}, {"first", ts(g.first)}, {"last", ts(g.last)}});
      const bool crossTenant = reason == "OtherTenant";
      finding(crossTenant ? "high" : "medium", crossTenant ? kControlCustomerKeys : kControlPurpose,
              crossTenant ? "CrossTenantKeyUse" : "RefusedKeyUse", ns, "encryptionkey/" + key,
              std::to_string(g.count) + " " + op + " call(s) by " + (caller.empty() ? "an unauthenticated caller" : caller) +
                  " refused (" + reason + ")" +
                  (g.first == g.last ? " at " + ts(g.first) : " between " + ts(g.first) + " and " + ts(g.last)));
    }
    for (const auto& [k, g] : used) {
      const auto& [ns, key, caller, op, reason] = k;
      u.push_back({{"namespace", ns}, {"key", key}, {"caller", caller}, {"operation", op}, {"count", g.count},
                   {"first", ts(g.first)}, {"last", ts(g.last)}});
    }
    return {{"denied", d}, {"used", u}, {"driftRepairs", driftRepairs}};
  }

  static Json approvers(const Json& activations, const Json& requests) {
    std::map<std::string, std::pair<int64_t, int64_t>> counts;  // approved, denied
    for (const auto& a : activations)
      for (const auto& who : a["approvers"]) ++counts[who.get<std::string>()].first;
    for (const auto& r : requests)
      for (const auto& a : r["approvals"])
        if (a["decision"] == "Deny") ++counts[a["approver"].get<std::string>()].second;
    Json out = Json::array();
    for (const auto& [who, c] : counts) out.push_back({{"approver", who}, {"activationsApproved", c.first}, {"denials", c.second}});
    return out;
  }

  // Keys by state after each audit record that changes one (the chart "keys by state over
  // time"): a key's state is derived from its versions as the lifecycle does.
  Json timeline() {
    std::map<std::pair<std::string, std::string>, std::map<int64_t, std::string>> versions;
    auto keyState = [](const std::map<int64_t, std::string>& vs) -> std::string {
      bool any = false;
      std::string newest;
      for (const auto& [v, s] : vs) {
        if (s == "Compromised") return s;
        if (s == "Active") any = true;
        newest = s;
      }
      return any ? "Active" : newest;
    };
    Json out = Json::array();
    for (const TrailRecord* r : trail_) {
      static const std::map<std::string, std::string> kTo = {
          {"KeyGenerated", "PreActive"},     {"KeyImported", "PreActive"},    {"KeyActivated", "Active"},
          {"KeyDeactivated", "Deactivated"}, {"KeyCompromised", "Compromised"}, {"KeyExpired", "Expired"},
          {"DestructionScheduled", "DestroyScheduled"}, {"DestructionCancelled", "Deactivated"},
          {"KeyDestroyed", "Destroyed"},     {"KeyFailed", "Failed"},         {"KeyDeleted", ""}, {"KeyRetained", ""}};
      auto it = kTo.find(r->event);
      if (it == kTo.end() || r->key.empty()) continue;
      auto& vs = versions[{r->ns, r->key}];
      if (it->second.empty()) versions.erase({r->ns, r->key});
      else if (r->event == "KeyCompromised" || r->version == 0) {
        for (auto& [v, s] : vs) s = it->second;
        if (vs.empty()) vs[1] = it->second;
      } else {
        vs[r->version] = it->second;
      }
      Json counts = Json::object();
      for (const auto& [key, vmap] : versions) {
        std::string s = keyState(vmap);
        if (!s.empty()) counts[s] = counts.value(s, 0) + 1;
      }
      Json point = {{"time", ts(r->time)}, {"keys", counts}};
      if (!out.empty() && out.back()["time"] == point["time"]) out.back() = point;
      else out.push_back(point);
    }
    return out;
  }

  static Json summary(const Json& r) {
    Json byState = Json::object(), byPurpose = Json::object(), byOrigin = Json::object();
    for (const auto& k : r["keys"]) {
      const std::pair<Json*, const char*> counters[] = {{&byState, "state"}, {&byPurpose, "purpose"}, {&byOrigin, "origin"}};
      for (const auto& [m, f] : counters) {
        const std::string v = k[f];
        (*m)[v] = m->value(v, 0) + 1;
      }
    }
    Json sev = {{"high", 0}, {"medium", 0}, {"low", 0}};
    for (const auto& f : r["findings"]) sev[f["severity"].get<std::string>()] = sev[f["severity"].get<std::string>()].get<int>() + 1;
    return {{"keys", r["keys"].size()},
            {"tenants", r["tenants"].size()},
            {"byState", byState},
            {"byPurpose", byPurpose},
            {"byOrigin", byOrigin},
            {"roleBindings", r["roleBindings"].size()},
            {"activations", r["activations"].size()},
            {"findings", sev}};
  }

  const ReportInput& in_;
  std::vector<const TrailRecord*> trail_;
  int64_t foldedRepeats_ = 0;
  std::vector<Json> findings_;
  std::map<std::string, std::set<std::string>> thinNamespaces_;
  std::map<std::string, std::string> thinApprovers_;
};

}  // namespace

Json buildReport(const ReportInput& in) {
  if (in.namespaces.empty()) return Builder(in).build();
  // Objects of other namespaces (a local state dir holds every namespace) are left out.
  ReportInput scoped = in;
  auto outOfScope = [&](const auto& o) {
    return std::find(in.namespaces.begin(), in.namespaces.end(), o.metadata.namespace_) == in.namespaces.end();
  };
  std::erase_if(scoped.keys, outOfScope);
  std::erase_if(scoped.requests, outOfScope);
  std::erase_if(scoped.bindings, outOfScope);
  return Builder(scoped).build();
}

}  // namespace keygate::cli::report
