#include "api/v1alpha1/policy.h"

#include <algorithm>

#include "api/v1alpha1/yaml_scalar.h"
#include "common/time.h"
#include "common/yaml_load.h"

namespace keygate::api::v1alpha1 {

int64_t Policy::minApprovalsFor(Purpose p) const {
  auto it = minApprovals.perPurpose.find(p);
  return it != minApprovals.perPurpose.end() ? it->second : minApprovals.defaultValue;
}

std::vector<std::string> validatePolicy(const Policy& p) {
  std::vector<std::string> out;
  auto checkCount = [&](const std::string& field, int64_t v) {
    if (v < 1 || v > kMaxApprovals)
      out.push_back(field + ": must be between 1 and " + std::to_string(kMaxApprovals) + ", got " + std::to_string(v));
  };
  checkCount("policy.minApprovals.default", p.minApprovals.defaultValue);
  for (const auto& [purpose, n] : p.minApprovals.perPurpose)
    checkCount("policy.minApprovals." + std::string(toString(purpose)), n);
  if (p.preActiveTTL.defaultValue <= Duration::zero())
    out.push_back("policy.preActiveTTL.default: must be positive");
  if (p.preActiveTTL.max <= Duration::zero()) out.push_back("policy.preActiveTTL.max: must be positive");
  if (p.preActiveTTL.defaultValue > p.preActiveTTL.max)
    out.push_back("policy.preActiveTTL.default: " + formatGoDuration(p.preActiveTTL.defaultValue) +
                  " exceeds policy.preActiveTTL.max " + formatGoDuration(p.preActiveTTL.max));
  for (const auto& [name, j] : p.jurisdictions) {
    if (p.knownBackends.empty()) continue;
    for (const auto& b : j.backends)
      if (std::find(p.knownBackends.begin(), p.knownBackends.end(), b) == p.knownBackends.end())
        out.push_back("policy.jurisdictions." + name + ".backends: unknown backend \"" + b + "\"");
  }
  return out;
}

namespace {

// Collects `file:line: field: reason` lines while walking the policy node.
class Parser {
 public:
  Parser(std::string_view file) : file_(file) {}

  void fail(const YAML::Node& n, const std::string& field, const std::string& reason) {
    errors_.push_back(file_ + ":" + std::to_string(yamlx::line(n)) + ": " + field + ": " + reason);
  }

  bool mapping(const YAML::Node& n, const std::string& field) {
    if (n.IsMap()) return true;
    fail(n, field, "expected a mapping");
    return false;
  }

  // Reports keys that are not in `known`.
  void onlyKeys(const YAML::Node& n, const std::string& field, std::initializer_list<std::string_view> known) {
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end())
        fail(kv.first, field + "." + key, "unknown field");
    }
  }

  std::optional<int64_t> integer(const YAML::Node& n, const std::string& field) {
    if (auto v = yamlx::plainInt(n)) return *v;
    if (n.IsScalar() && !yamlx::isPlain(n))
      fail(n, field, "expected an integer, got string \"" + n.Scalar() + "\" (remove the quotes)");
    else if (n.IsScalar())
      fail(n, field, "expected a decimal integer, got " + n.Scalar() +
                         (n.Scalar().size() > 1 && n.Scalar()[0] == '0' ? " (a leading zero reads as octal in YAML)" : ""));
    else
      fail(n, field, "expected an integer");
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& field) {
    if (auto v = yamlx::plainBool(n)) return *v;
    if (n.IsScalar() && !yamlx::isPlain(n))
      fail(n, field, "expected a boolean, got string \"" + n.Scalar() + "\" (remove the quotes)");
    else
      fail(n, field, "expected a boolean (true or false)");
    return std::nullopt;
  }

  std::optional<Duration> duration(const YAML::Node& n, const std::string& field) {
    if (!n.IsScalar()) {
      fail(n, field, "expected a duration such as 168h");
      return std::nullopt;
    }
    auto d = parseGoDuration(n.Scalar());
    if (!d.ok()) {
      fail(n, field, d.error().message);
      return std::nullopt;
    }
    if (*d <= Duration::zero()) {
      fail(n, field, "must be positive");
      return std::nullopt;
    }
    return *d;
  }

  std::optional<std::string> string(const YAML::Node& n, const std::string& field) {
    if (n.IsScalar() && !yamlx::plainNull(n)) return n.Scalar();
    fail(n, field, "expected a string");
    return std::nullopt;
  }

  std::vector<std::string> errors_;
  std::string file_;
};

Policy parseInto(Parser& p, const YAML::Node& node, const std::vector<std::string>& knownBackends) {
  Policy policy;
  policy.knownBackends = knownBackends;
  if (!node || node.IsNull()) return policy;
  if (!p.mapping(node, "policy")) return policy;
  p.onlyKeys(node, "policy", {"minApprovals", "preActiveTTL", "jurisdictions", "segregationOfDuties",
                              "allowUnapprovedRotation", "fixApprovalsAtRequest", "requireJurisdiction"});
  for (auto [key, out] : {std::pair<const char*, bool*>{"allowUnapprovedRotation", &policy.allowUnapprovedRotation},
                          {"fixApprovalsAtRequest", &policy.fixApprovalsAtRequest},
                          {"requireJurisdiction", &policy.requireJurisdiction}})
    if (node[key])
      if (auto b = p.boolean(node[key], std::string("policy.") + key)) *out = *b;

  if (auto m = node["minApprovals"]; m && !m.IsNull()) {
    if (p.mapping(m, "policy.minApprovals")) {
      for (const auto& kv : m) {
        std::string key = kv.first.Scalar();
        std::string field = "policy.minApprovals." + key;
        std::optional<Purpose> purpose;
        if (key != "default") {
          auto parsed = parsePurpose(key);
          if (!parsed.ok()) {
            p.fail(kv.first, field, "unknown purpose: " + parsed.error().message);
            continue;
          }
          purpose = *parsed;
        }
        auto n = p.integer(kv.second, field);
        if (!n) continue;
        if (*n < 1 || *n > kMaxApprovals) {
          p.fail(kv.second, field,
                 "must be between 1 and " + std::to_string(kMaxApprovals) + ", got " + std::to_string(*n));
          continue;
        }
        if (purpose) policy.minApprovals.perPurpose[*purpose] = *n;
        else policy.minApprovals.defaultValue = *n;
      }
    }
  }

  if (auto t = node["preActiveTTL"]; t && !t.IsNull()) {
    if (p.mapping(t, "policy.preActiveTTL")) {
      p.onlyKeys(t, "policy.preActiveTTL", {"default", "max"});
      if (t["default"])
        if (auto d = p.duration(t["default"], "policy.preActiveTTL.default")) policy.preActiveTTL.defaultValue = *d;
      if (t["max"])
        if (auto d = p.duration(t["max"], "policy.preActiveTTL.max")) policy.preActiveTTL.max = *d;
      if (policy.preActiveTTL.defaultValue > policy.preActiveTTL.max)
        p.fail(t["default"] ? t["default"] : t, "policy.preActiveTTL.default",
               formatGoDuration(policy.preActiveTTL.defaultValue) + " exceeds policy.preActiveTTL.max " +
                   formatGoDuration(policy.preActiveTTL.max));
    }
  }

  if (auto js = node["jurisdictions"]; js && !js.IsNull()) {
    if (p.mapping(js, "policy.jurisdictions")) {
      for (const auto& kv : js) {
        std::string name = kv.first.Scalar();
        std::string field = "policy.jurisdictions." + name;
        Policy::Jurisdiction j;
        if (!p.mapping(kv.second, field)) continue;
        p.onlyKeys(kv.second, field, {"backends", "algorithms"});
        if (auto bs = kv.second["backends"]) {
          if (!bs.IsSequence()) {
            p.fail(bs, field + ".backends", "expected a list of backend names");
          } else {
            for (size_t i = 0; i < bs.size(); ++i) {
              std::string f = field + ".backends[" + std::to_string(i) + "]";
              auto b = p.string(bs[i], f);
              if (!b) continue;
              if (!knownBackends.empty() &&
                  std::find(knownBackends.begin(), knownBackends.end(), *b) == knownBackends.end()) {
                p.fail(bs[i], f, "unknown backend \"" + *b + "\" (not in backends:)");
                continue;
              }
              j.backends.push_back(*b);
            }
          }
        }
        if (auto as = kv.second["algorithms"]) {
          if (!as.IsSequence()) {
            p.fail(as, field + ".algorithms", "expected a list of algorithms");
          } else {
            for (size_t i = 0; i < as.size(); ++i) {
              std::string f = field + ".algorithms[" + std::to_string(i) + "]";
              auto s = p.string(as[i], f);
              if (!s) continue;
              auto a = parseAlgorithm(*s);
              if (!a.ok()) {
                p.fail(as[i], f, a.error().message);
                continue;
              }
              j.algorithms.push_back(*a);
            }
          }
        }
        policy.jurisdictions[name] = std::move(j);
      }
    }
  }

  if (auto sod = node["segregationOfDuties"]; sod && !sod.IsNull()) {
    if (p.mapping(sod, "policy.segregationOfDuties")) {
      p.onlyKeys(sod, "policy.segregationOfDuties", {"requesterMayApprove", "creatorMayApprove"});
      if (sod["requesterMayApprove"])
        if (auto b = p.boolean(sod["requesterMayApprove"], "policy.segregationOfDuties.requesterMayApprove"))
          policy.segregationOfDuties.requesterMayApprove = *b;
      if (sod["creatorMayApprove"])
        if (auto b = p.boolean(sod["creatorMayApprove"], "policy.segregationOfDuties.creatorMayApprove"))
          policy.segregationOfDuties.creatorMayApprove = *b;
    }
  }
  return policy;
}

Error joined(const std::vector<std::string>& errors) {
  std::string msg;
  for (const auto& e : errors) {
    if (!msg.empty()) msg += "\n";
    msg += e;
  }
  return makeError(ErrorCode::kInvalidArgument, msg);
}

}  // namespace

Result<Policy> parsePolicy(const YAML::Node& node, std::string_view file,
                           const std::vector<std::string>& knownBackends) {
  // yaml-cpp throws on some malformed documents: converted here, at the library boundary.
  try {
    Parser p(file);
    Policy policy = parseInto(p, node, knownBackends);
    if (!p.errors_.empty()) return joined(p.errors_);
    return policy;
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument, std::string(file) + ":" + std::to_string(e.mark.line + 1) +
                                                      ": policy: " + e.msg);
  }
}

Result<Policy> parsePolicyFromConfig(std::string_view configYaml, std::string_view file) {
  YAML::Node root;
  try {
    root = yamlsafe::load(std::string(configYaml));
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(file) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (root.IsNull()) return Policy{};
  if (!root.IsMap())
    return makeError(ErrorCode::kInvalidArgument, std::string(file) + ":1: config: expected a mapping");
  std::vector<std::string> backends;
  if (auto bs = root["backends"]; bs && bs.IsSequence())
    for (const auto& b : bs)
      if (b.IsMap() && b["name"] && b["name"].IsScalar()) backends.push_back(b["name"].Scalar());
  return parsePolicy(root["policy"], file, backends);
}

}  // namespace keygate::api::v1alpha1
