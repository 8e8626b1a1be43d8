// The four CAIQ questions, answered in the report's own words from its sections: "Yes" when
// the capability is there and no finding of that control shows a gap, "Partially" when a high
// or medium finding with controlGap does, "No" when the capability is absent in scope.
#include <set>

#include "cli/report/report.h"
#include "cli/report/tables.h"

namespace keygate::cli::report {
namespace {

int64_t count(const Json& map, const char* key) { return map.contains(key) ? map[key].get<int64_t>() : 0; }

std::string n(int64_t v, const std::string& one, const std::string& many) {
  return std::to_string(v) + " " + (v == 1 ? one : many);
}

std::string listMap(const Json& m) {
  std::string out;
  for (const auto& [k, v] : m.items()) out += (out.empty() ? "" : ", ") + std::to_string(v.get<int64_t>()) + " " + k;
  return out.empty() ? "none" : out;
}

struct Question {
  const char* id;
  const char* control;
  const char* text;
};

constexpr Question kQuestions[] = {
    {"CEK-02.1", "CEK-02", "Are cryptography, encryption, and key management roles and responsibilities defined and implemented?"},
    {"CEK-08.1", "CEK-08", "Are providers providing customers with the capability to manage their own data encryption keys?"},
    {"CEK-11.1", "CEK-11", "Are cryptographic secrets and private keys that are provisioned for a unique purpose properly managed?"},
    {"CEK-15.1", "CEK-15",
     "Are processes, procedures, and technical measures to create keys in a pre-activated state (i.e., when they have been "
     "generated but not authorized for use) defined, implemented, and evaluated, including provisions for legal and "
     "regulatory requirements?"},
};

}  // namespace

Json answerQuestions(const Json& r) {
  const Json& s = r["summary"];
  const Json& events = r["auditTrail"]["events"];
  const int64_t keys = s["keys"];
  Json out = Json::array();
  for (const auto& q : kQuestions) {
    Json evidence = Json::array();
    std::string statement;
    bool absent = false;
    const std::string id = q.id;
    if (id == "CEK-02.1") {
      int64_t current = 0, overdue = 0, dueSoon = 0;
      for (const auto& b : r["roleBindings"]) {
        if (b["review"] == "overdue" || b["review"] == "invalid") ++overdue;
        else ++current;
        if (b["review"] == "dueSoon") ++dueSoon;
      }
      absent = r["roleBindings"].empty();
      statement = "Keygate defines four key-management roles: KeyAdministrator (creates keys and drives their lifecycle), "
                  "KeyApprover (authorises activation), KeyUser (uses keys through the crypto API) and KeyAuditor "
                  "(reads keys, requests, bindings and events). They are assigned with KeyRoleBindings, which the operator "
                  "turns into Kubernetes RBAC and the admission webhook enforces on every change; each binding carries a "
                  "review date and grants nothing once it is past. In scope: " +
                  n(r["roleBindings"].size(), "binding", "bindings") + " (" + std::to_string(current) + " current, " +
                  std::to_string(dueSoon) + " due for review within 30 days, " + std::to_string(overdue) +
                  " past review); " + n(r["segregationConflicts"].size(), "segregation-of-duties conflict", "segregation-of-duties conflicts") +
                  " (a subject holding both KeyAdministrator and KeyApprover).";
      for (const auto& t : r["tenants"]) {
        std::string line = t["namespace"].get<std::string>() + ":";
        for (const auto& [role, subjects] : t["roles"].items()) {
          if (subjects.empty()) continue;
          std::string who;
          for (const auto& x : subjects) who += (who.empty() ? "" : ", ") + x.get<std::string>();
          line += " " + role + " " + who + ";";
        }
        evidence.push_back(line);
      }
      evidence.push_back("role bindings with subjects and review dates: section \"Role bindings\"");
    } else if (id == "CEK-08.1") {
      absent = keys == 0;
      int64_t tenantsWithKeys = 0;
      std::set<std::string> backends;
      for (const auto& t : r["tenants"]) {
        if (t["keys"].get<int64_t>() > 0) ++tenantsWithKeys;
        for (const auto& b : t["backends"]) backends.insert(b.get<std::string>());
      }
      statement = "Each tenant (namespace) manages its own keys as EncryptionKey resources: it creates them, requests and "
                  "approves their activation, rotates, deactivates, declares compromise and schedules destruction, and "
                  "can bring its own key material (origin External). Each tenant's keys live on its own HSM token, so "
                  "tenants are cryptographically isolated. In scope: " +
                  n(keys, "key", "keys") + " in " + n(tenantsWithKeys, "tenant", "tenants") + " (" +
                  listMap(s["byOrigin"]) + "); " + n(count(events, "KeyActivated"), "activation", "activations") + ", " +
                  n(count(events, "KeyDeactivated"), "deactivation", "deactivations") + ", " +
                  n(count(events, "KeyCompromised"), "compromise declaration", "compromise declarations") + " and " +
                  n(count(events, "KeyDestroyed"), "destruction", "destructions") + " in the audit period.";
      for (const auto& t : r["tenants"])
        if (t["keys"].get<int64_t>() > 0)
          evidence.push_back(t["namespace"].get<std::string>() + ": " + n(t["keys"].get<int64_t>(), "key", "keys") + " (" +
                             listMap(t["byState"]) + ")");
      std::string b;
      for (const auto& x : backends) b += (b.empty() ? "" : ", ") + x;
      if (!b.empty()) evidence.push_back("backends: " + b);
      evidence.push_back("every key with its state, purpose, algorithm, backend and origin: section \"Keys\"");
    } else if (id == "CEK-11.1") {
      absent = keys == 0;
      int64_t rotating = 0, overdue = 0, wrongPurpose = 0, refused = 0;
      for (const auto& k : r["keys"])
        if (k.contains("rotation")) {
          ++rotating;
          if (k["rotation"]["overdue"].get<bool>()) ++overdue;
        }
      for (const auto& d : r["keyUse"]["denied"]) {
        refused += d["count"].get<int64_t>();
        if (d["reason"] == "WrongPurpose") wrongPurpose += d["count"].get<int64_t>();
      }
      statement = "Every key has exactly one purpose (Encrypt, Sign, Wrap or MAC), fixed when it is created: the schema "
                  "refuses a change, the backend key carries only that purpose's usage, and the crypto API refuses any "
                  "other operation with it. In scope: " +
                  listMap(s["byPurpose"]) + "; " + n(refused, "refused call", "refused calls") + " in the period (" +
                  std::to_string(wrongPurpose) + " for the wrong purpose); " +
                  n(rotating, "key", "keys") + " with a rotation period (" + std::to_string(overdue) + " overdue); " +
                  std::to_string(count(s["byState"], "Compromised")) + " compromised; " +
                  n(r["keyUse"]["driftRepairs"].get<int64_t>(), "backend usage change", "backend usage changes") +
                  " made outside Keygate, found and undone.";
      evidence.push_back("keys by purpose, algorithm and rotation: section \"Keys\"");
      evidence.push_back("refused and allowed key use by caller: section \"Key use\"");
    } else {
      absent = keys == 0;
      int64_t denied = 0, expired = 0, open = 0;
      for (const auto& q2 : r["requests"]) {
        if (q2["phase"] == "Denied") ++denied;
        else if (q2["phase"] == "Expired") ++expired;
        else if (q2["phase"] == "Pending" || q2["phase"] == "Approved") ++open;
      }
      std::set<std::string> jurisdictions;
      int64_t withJurisdiction = 0;
      for (const auto& k : r["keys"])
        if (k.contains("jurisdiction")) {
          ++withJurisdiction;
          jurisdictions.insert(k["jurisdiction"].get<std::string>());
        }
      std::string j;
      for (const auto& x : jurisdictions) j += (j.empty() ? "" : ", ") + x;
      statement = "Every key is created PreActive: it exists in the backend with every usage off, and becomes usable "
                  "only when a KeyActivationRequest has collected the required approvals from current KeyApprovers other "
                  "than the requester and the key's creator, each approval signed by the admission webhook and "
                  "re-checked by the operator. A PreActive key not activated within its TTL is destroyed. In the audit "
                  "period: " +
                  n(count(events, "KeyGenerated") + count(events, "KeyImported"), "key", "keys") + " created, " +
                  n(r["activations"].size(), "activation", "activations") + " (each listed with requester, approvers, "
                  "change reference and affected systems), " + n(denied, "request", "requests") + " denied, " +
                  std::to_string(expired) + " expired, " + std::to_string(open) + " open; " +
                  n(count(s["byState"], "PreActive"), "key", "keys") + " PreActive now. Legal and regulatory "
                  "provisions: " + std::to_string(withJurisdiction) + " of " + n(keys, "key", "keys") +
                  " carry a jurisdiction (" + (j.empty() ? "none" : j) +
                  ") that the operator's policy maps to allowed backends and algorithms.";
      evidence.push_back("activations: section \"Activations\"; requests not (yet) activated: section \"Requests\"");
      evidence.push_back("audit trail: " + std::to_string(r["auditTrail"]["records"].get<int64_t>()) + " records, chain " +
                         r["auditTrail"]["chain"].get<std::string>());
    }
    Json related = Json::array();
    bool needsAction = false;
    const auto& findings = r["findings"];
    for (size_t i = 0; i < findings.size(); ++i) {
      if (findings[i]["control"] != q.control) continue;
      related.push_back(findings[i]["code"].get<std::string>() + " " + objectText(findings[i]));
      if (findings[i]["severity"] != "low" && findings[i]["controlGap"].get<bool>()) needsAction = true;
    }
    out.push_back({{"id", q.id},
                   {"control", q.control},
                   {"question", q.text},
                   {"answer", absent ? "No" : needsAction ? "Partially" : "Yes"},
                   {"statement", statement},
                   {"evidence", evidence},
                   {"findings", related}});
  }
  return out;
}

}  // namespace keygate::cli::report
