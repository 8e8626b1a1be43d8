#include "cmd/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

// yaml-cpp scalar typing that honours quoting (facts.md), shared with the api layer's
// policy and manifest parsers.
#include "api/v1alpha1/yaml_scalar.h"
#include "common/time.h"
#include "common/yaml_load.h"
#include "metrics/server.h"

namespace keygate::cmd {
namespace {

namespace yamlx = api::v1alpha1::yamlx;

bool isDnsLabel(const std::string& s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return !s.empty() && s.size() <= 63 && std::regex_match(s, re);
}

bool isDnsSubdomain(const std::string& s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

std::string dq(const std::string& s) { return "\"" + s + "\""; }

// What a plain scalar resolves to under YAML 1.1, for "expected a string, got ..." hints.
std::string plainTypeName(const YAML::Node& n) {
  if (yamlx::plainNull(n)) return "null";
  if (yamlx::plainBool(n)) return "boolean " + n.Scalar();
  if (yamlx::plainInt(n)) return "integer " + n.Scalar();
  const std::string& s = n.Scalar();
  if (s.size() > 1 && s[0] == '0' && s.find_first_not_of("01234567") == std::string::npos)
    return "octal integer " + s;
  double d = 0;
  if (yamlx::plainFloat(n, &d)) return "number " + s;
  return "";
}

std::string nodeKind(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "null";
  return "a scalar";
}

// Collects `file:line: field: reason` problems while walking the document.
class Parser {
 public:
  explicit Parser(std::string_view file) : file_(file) {}

  void fail(int line, const std::string& field, const std::string& reason) {
    errors_.push_back({line, file_ + ":" + std::to_string(line) + ": " + field + ": " + reason});
  }
  void fail(const YAML::Node& n, const std::string& field, const std::string& reason) {
    fail(yamlx::line(n), field, reason);
  }
  // Lines already formatted as `file:line: ...` (from the api policy parser).
  void addFormatted(const std::string& lines) {
    std::istringstream in(lines);
    std::string l;
    while (std::getline(in, l)) {
      int line = 0;
      if (l.rfind(file_ + ":", 0) == 0) line = std::atoi(l.c_str() + file_.size() + 1);
      errors_.push_back({line, l});
    }
  }

  bool mapping(const YAML::Node& n, const std::string& field) {
    if (n.IsMap()) return true;
    fail(n, field, "expected a mapping, got " + nodeKind(n));
    return false;
  }

  // Unknown and duplicate keys are errors: a typo must not fall back to a default silently.
  void onlyKeys(const YAML::Node& n, const std::string& prefix, std::initializer_list<std::string_view> known) {
    std::set<std::string> seen;
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      std::string field = prefix.empty() ? key : prefix + "." + key;
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(kv.first, field, "unknown field (known: " + list + ")");
      } else if (!seen.insert(key).second) {
        fail(kv.first, field, "duplicate field");
      }
    }
  }

  std::optional<std::string> string(const YAML::Node& n, const std::string& field, bool allowEmpty = false) {
    if (!n.IsScalar()) {
      fail(n, field, "expected a string, got " + nodeKind(n));
      return std::nullopt;
    }
    if (yamlx::isPlain(n)) {
      if (std::string t = plainTypeName(n); !t.empty()) {
        if (t == "null") fail(n, field, "expected a string, got null");
        else fail(n, field, "expected a string, got " + t + " (quote it: \"" + n.Scalar() + "\")");
        return std::nullopt;
      }
    }
    if (!allowEmpty && n.Scalar().empty()) {
      fail(n, field, "must not be empty");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // A list of non-empty strings (a null or absent value is the empty list).
  std::optional<std::vector<std::string>> stringList(const YAML::Node& n, const std::string& field) {
    if (n.IsNull()) return std::vector<std::string>{};
    if (!n.IsSequence()) {
      fail(n, field, "expected a list of strings, got " + nodeKind(n));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (size_t i = 0; i < n.size(); ++i) {
      if (auto s = string(n[i], field + "[" + std::to_string(i) + "]")) out.push_back(*s);
      else ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& field) {
    if (auto v = yamlx::plainBool(n)) return *v;
    if (n.IsScalar() && !yamlx::isPlain(n))
      fail(n, field, "expected a boolean, got string \"" + n.Scalar() + "\" (remove the quotes)");
    else if (n.IsScalar())
      fail(n, field, "expected a boolean (true or false), got " + n.Scalar());
    else
      fail(n, field, "expected a boolean (true or false), got " + nodeKind(n));
    return std::nullopt;
  }

  std::optional<int64_t> integer(const YAML::Node& n, const std::string& field, int64_t min, int64_t max) {
    std::optional<long long> v = yamlx::plainInt(n);
    if (!v) {
      const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
      if (n.IsScalar() && !yamlx::isPlain(n))
        fail(n, field, "expected an integer, got string \"" + s + "\" (remove the quotes)");
      else if (n.IsScalar() && s.size() > 1 && s[0] == '0' && s.find_first_not_of("0123456789") == std::string::npos)
        fail(n, field, "expected a decimal integer, got " + s + " (a leading zero reads as octal in YAML)");
      else if (n.IsScalar())
        fail(n, field, "expected an integer, got " + s);
      else
        fail(n, field, "expected an integer, got " + nodeKind(n));
      return std::nullopt;
    }
    if (*v < min || *v > max) {
      fail(n, field, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                         std::to_string(*v));
      return std::nullopt;
    }
    return *v;
  }

  std::optional<Duration> duration(const YAML::Node& n, const std::string& field) {
    if (!n.IsScalar() || yamlx::plainNull(n)) {
      fail(n, field, "expected a duration such as 15s");
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    auto d = parseGoDuration(s);
    if (!d.ok() || s.empty() || s[0] == '-' || s[0] == '+') {
      fail(n, field, "invalid duration " + dq(s) + " (use Go syntax such as 15s, 2m, 1h30m)");
      return std::nullopt;
    }
    if (*d <= Duration::zero()) {
      fail(n, field, "must be positive");
      return std::nullopt;
    }
    return *d;
  }

  std::optional<std::string> enumValue(const YAML::Node& n, const std::string& field,
                                       std::initializer_list<std::string_view> values) {
    auto s = string(n, field);
    if (!s) return std::nullopt;
    if (std::find(values.begin(), values.end(), *s) != values.end()) return s;
    std::string list;
    for (auto v : values) list += (list.empty() ? "" : ", ") + dq(std::string(v));
    fail(n, field, "unsupported value " + dq(*s) + ": supported values: " + list);
    return std::nullopt;
  }

  std::optional<std::string> bindAddress(const YAML::Node& n, const std::string& field) {
    auto s = string(n, field);
    if (!s) return std::nullopt;
    auto a = metrics::parseBindAddress(*s);
    if (!a.ok()) {
      fail(n, field, a.error().message);
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> absolutePath(const YAML::Node& n, const std::string& field) {
    auto s = string(n, field);
    if (!s) return std::nullopt;
    if ((*s)[0] != '/') {
      fail(n, field, "must be an absolute path, got " + dq(*s));
      return std::nullopt;
    }
    return s;
  }

  std::vector<std::pair<int, std::string>> errors_;

 private:
  std::string file_;
};

// A present, non-null child (absent and `key:` with no value read as "not set").
// (const operator[] never inserts; on a non-mapping parent the child is undefined.)
YAML::Node child(const YAML::Node& parent, const char* key) {
  if (!parent.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return parent[key];
}
bool isSet(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

// ---- backends -------------------------------------------------------------------------

void parsePkcs11(Parser& p, const YAML::Node& b, const std::string& f, Json& settings) {
  p.onlyKeys(b, f, {"name", "type", "module", "isolation", "maxIdleSessionsPerToken"});
  if (YAML::Node m = child(b, "module"); m.IsDefined()) {
    if (auto s = p.string(m, f + ".module")) settings["module"] = *s;
  } else {
    p.fail(b, f + ".module", "Required value: the path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)");
  }
  if (YAML::Node i = child(b, "isolation"); i.IsDefined())
    if (auto s = p.enumValue(i, f + ".isolation", {"tokenPerNamespace"})) settings["isolation"] = *s;
  if (YAML::Node s = child(b, "maxIdleSessionsPerToken"); s.IsDefined())
    if (auto v = p.integer(s, f + ".maxIdleSessionsPerToken", 1, 256)) settings["maxIdleSessionsPerToken"] = *v;
}

void parseKmip(Parser& p, const YAML::Node& b, const std::string& f, Json& settings) {
  p.onlyKeys(b, f, {"name", "type", "endpoint", "tls"});
  if (YAML::Node e = child(b, "endpoint"); e.IsDefined()) {
    if (auto s = p.string(e, f + ".endpoint")) {
      auto colon = s->rfind(':');
      std::string port = colon == std::string::npos ? "" : s->substr(colon + 1);
      bool portOk = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                    std::stoi(port) >= 1 && std::stoi(port) <= 65535;
      if (colon == std::string::npos || colon == 0 || !portOk)
        p.fail(e, f + ".endpoint", "expected host:port (e.g. kmip.example.net:5696), got " + dq(*s));
      else
        settings["endpoint"] = *s;
    }
  } else {
    p.fail(b, f + ".endpoint", "Required value: host:port of the KMIP server");
  }
  YAML::Node tls = child(b, "tls");
  if (!isSet(tls)) {
    p.fail(tls.IsDefined() ? tls : b, f + ".tls", "Required value: caFile (and certFile/keyFile for client certificates)");
    return;
  }
  if (!p.mapping(tls, f + ".tls")) return;
  p.onlyKeys(tls, f + ".tls", {"caFile", "certFile", "keyFile"});
  Json t = Json::object();
  if (YAML::Node ca = child(tls, "caFile"); ca.IsDefined()) {
    if (auto s = p.string(ca, f + ".tls.caFile")) t["caFile"] = *s;
  } else {
    p.fail(tls, f + ".tls.caFile", "Required value: the CA bundle that signed the KMIP server's certificate");
  }
  YAML::Node cert = child(tls, "certFile"), key = child(tls, "keyFile");
  if (cert.IsDefined())
    if (auto s = p.string(cert, f + ".tls.certFile")) t["certFile"] = *s;
  if (key.IsDefined())
    if (auto s = p.string(key, f + ".tls.keyFile")) t["keyFile"] = *s;
  if (cert.IsDefined() != key.IsDefined())
    p.fail(cert.IsDefined() ? cert : key, f + (cert.IsDefined() ? ".tls.keyFile" : ".tls.certFile"),
           "Required value: certFile and keyFile go together");
  settings["tls"] = t;
}

std::vector<backends::BackendConfig> parseBackends(Parser& p, const YAML::Node& root) {
  std::vector<backends::BackendConfig> out;
  YAML::Node bs = child(root, "backends");
  if (!isSet(bs)) {
    p.fail(bs.IsDefined() ? bs : root, "backends", "Required value: at least one key backend");
    return out;
  }
  if (!bs.IsSequence()) {
    p.fail(bs, "backends", "expected a list, got " + nodeKind(bs));
    return out;
  }
  if (bs.size() == 0) p.fail(bs, "backends", "Required value: at least one key backend");
  std::map<std::string, int> names;  // name -> line of first definition
  for (size_t i = 0; i < bs.size(); ++i) {
    const YAML::Node b = bs[i];
    const std::string f = "backends[" + std::to_string(i) + "]";
    if (!p.mapping(b, f)) continue;
    backends::BackendConfig c;
    if (YAML::Node n = child(b, "name"); n.IsDefined()) {
      if (auto s = p.string(n, f + ".name")) {
        if (!isDnsLabel(*s)) {
          p.fail(n, f + ".name", "invalid name " + dq(*s) + ": must be a lowercase RFC 1123 label (a-z, 0-9, '-')");
        } else if (auto [it, fresh] = names.emplace(*s, yamlx::line(n)); !fresh) {
          p.fail(n, f + ".name", "duplicate backend name " + dq(*s) + " (first defined on line " +
                                     std::to_string(it->second) + ")");
        } else {
          c.name = *s;
        }
      }
    } else {
      p.fail(b, f + ".name", "Required value");
    }
    std::optional<std::string> type;
    if (YAML::Node t = child(b, "type"); t.IsDefined()) type = p.enumValue(t, f + ".type", {"pkcs11", "kmip"});
    else p.fail(b, f + ".type", "Required value: pkcs11 or kmip");
    c.settings = Json::object();
    if (type == "pkcs11") parsePkcs11(p, b, f, c.settings);
    else if (type == "kmip") parseKmip(p, b, f, c.settings);
    else p.onlyKeys(b, f, {"name", "type", "module", "isolation", "maxIdleSessionsPerToken", "endpoint", "tls"});
    c.type = type.value_or("");
    c.settings["name"] = c.name;
    c.settings["type"] = c.type;
    out.push_back(std::move(c));
  }
  return out;
}

// ---- the rest --------------------------------------------------------------------------

void parseLeaderElection(Parser& p, const YAML::Node& n, LeaderElectionConfig& le) {
  const std::string f = "leaderElection";
  if (!p.mapping(n, f)) return;
  p.onlyKeys(n, f, {"enabled", "namespace", "leaseName", "leaseDuration", "renewDeadline", "retryPeriod"});
  if (YAML::Node v = child(n, "enabled"); v.IsDefined())
    if (auto b = p.boolean(v, f + ".enabled")) le.enabled = *b;
  if (YAML::Node v = child(n, "namespace"); v.IsDefined())
    if (auto s = p.string(v, f + ".namespace")) {
      if (isDnsLabel(*s)) le.namespace_ = *s;
      else p.fail(v, f + ".namespace", "invalid namespace " + dq(*s) + ": must be a lowercase RFC 1123 label");
    }
  if (YAML::Node v = child(n, "leaseName"); v.IsDefined())
    if (auto s = p.string(v, f + ".leaseName")) {
      if (isDnsSubdomain(*s)) le.leaseName = *s;
      else p.fail(v, f + ".leaseName", "invalid name " + dq(*s) + ": must be a lowercase RFC 1123 subdomain");
    }
  bool durationsOk = true;
  auto dur = [&](const char* key, Duration& out) {
    if (YAML::Node v = child(n, key); v.IsDefined()) {
      if (auto d = p.duration(v, f + "." + key)) out = *d;
      else durationsOk = false;
    }
  };
  dur("leaseDuration", le.leaseDuration);
  dur("renewDeadline", le.renewDeadline);
  dur("retryPeriod", le.retryPeriod);
  if (!durationsOk) return;
  // client-go: leaseDuration > renewDeadline > JitterFactor (1.2) * retryPeriod.
  if (le.leaseDuration <= le.renewDeadline) {
    YAML::Node at = child(n, "renewDeadline").IsDefined() ? child(n, "renewDeadline") : n;
    p.fail(at, f + ".renewDeadline",
           "must be less than leaseDuration (" + formatGoDuration(le.leaseDuration) + "), got " +
               formatGoDuration(le.renewDeadline));
  }
  if (le.renewDeadline * 10 <= le.retryPeriod * 12) {
    YAML::Node at = child(n, "retryPeriod").IsDefined() ? child(n, "retryPeriod") : n;
    p.fail(at, f + ".retryPeriod",
           "must be less than renewDeadline / 1.2 (" + formatGoDuration(le.renewDeadline) + " / 1.2), got " +
               formatGoDuration(le.retryPeriod));
  }
}

OperatorConfig parseRoot(Parser& p, const YAML::Node& root, std::string_view file) {
  OperatorConfig c;
  p.onlyKeys(root, "", {"backends", "policy", "metrics", "health", "byok", "webhook", "dataPlane", "leaderElection",
                        "operatorNamespace", "stateDir", "secretStore", "workers", "audit", "kubeAPI"});
  c.backends = parseBackends(p, root);

  std::vector<std::string> backendNames;
  for (const auto& b : c.backends)
    if (!b.name.empty()) backendNames.push_back(b.name);
  auto policy = api::v1alpha1::parsePolicy(child(root, "policy"), file, backendNames);
  if (policy.ok()) c.policy = std::move(policy).value();
  else p.addFormatted(policy.error().message);

  // Where each bind address was set (absent: the default), to report port clashes.
  std::map<std::string, YAML::Node> bindNodes;
  auto section = [&](const char* name, std::initializer_list<std::string_view> keys) -> std::optional<YAML::Node> {
    YAML::Node n = child(root, name);
    if (!isSet(n) || !p.mapping(n, name)) return std::nullopt;
    p.onlyKeys(n, name, keys);
    return n;
  };
  auto bind = [&](const YAML::Node& sec, const std::string& field, std::string& out) {
    YAML::Node v = child(sec, "bindAddress");
    if (!v.IsDefined()) return;
    if (auto s = p.bindAddress(v, field)) {
      out = *s;
      bindNodes[field] = v;
    }
  };
  if (auto m = section("metrics", {"bindAddress"})) bind(*m, "metrics.bindAddress", c.metricsBindAddress);
  if (auto h = section("health", {"bindAddress", "backendProbeInterval", "driftScanInterval", "straySweepInterval",
                                   "strayGracePeriod", "firstDescribeRateLimit"})) {
    if (YAML::Node rl = child(*h, "firstDescribeRateLimit"); rl.IsDefined()) {
      if (!rl.IsMap()) {
        p.fail(rl, "health.firstDescribeRateLimit", "must be a map with qps and burst");
      } else {
        p.onlyKeys(rl, "health.firstDescribeRateLimit", {"qps", "burst"});
        if (YAML::Node v = child(rl, "qps"); v.IsDefined())
          if (auto n = p.integer(v, "health.firstDescribeRateLimit.qps", 0, 100000)) c.firstDescribeQps = static_cast<double>(*n);
        if (YAML::Node v = child(rl, "burst"); v.IsDefined())
          if (auto n = p.integer(v, "health.firstDescribeRateLimit.burst", 1, 1000000)) c.firstDescribeBurst = static_cast<int>(*n);
      }
    }
    bind(*h, "health.bindAddress", c.healthBindAddress);
    if (YAML::Node v = child(*h, "driftScanInterval"); v.IsDefined() && v.IsScalar() && (v.Scalar() == "0" || v.Scalar() == "0s"))
      c.driftScanInterval = Duration::zero();  // off
    else if (v.IsDefined())
      if (auto t = p.duration(v, "health.driftScanInterval")) {
        if (*t != Duration::zero() && (*t < std::chrono::seconds(10) || *t > std::chrono::hours(24 * 7)))
          p.fail(v, "health.driftScanInterval", "must be 0 (off) or between 10s and 168h");
        else c.driftScanInterval = *t;
      }
    if (YAML::Node v = child(*h, "backendProbeInterval"); v.IsDefined())
      if (auto t = p.duration(v, "health.backendProbeInterval")) {
        if (*t < std::chrono::seconds(1) || *t > std::chrono::minutes(10))
          p.fail(v, "health.backendProbeInterval", "must be between 1s and 10m");
        else c.backendProbeInterval = *t;
      }
    if (YAML::Node v = child(*h, "straySweepInterval"); v.IsDefined() && v.IsScalar() && (v.Scalar() == "0" || v.Scalar() == "0s"))
      c.straySweepInterval = Duration::zero();  // only at start and after a failed create
    else if (v.IsDefined())
      if (auto t = p.duration(v, "health.straySweepInterval")) {
        if (*t < std::chrono::minutes(1) || *t > std::chrono::hours(24 * 7))
          p.fail(v, "health.straySweepInterval", "must be 0 (only at start) or between 1m and 168h");
        else c.straySweepInterval = *t;
      }
    if (YAML::Node v = child(*h, "strayGracePeriod"); v.IsDefined())
      if (auto t = p.duration(v, "health.strayGracePeriod")) {
        if (*t < std::chrono::seconds(1) || *t > std::chrono::hours(24 * 30))
          p.fail(v, "health.strayGracePeriod", "must be between 1s and 720h");
        else c.strayGracePeriod = *t;
      }
  }
  if (auto b = section("byok", {"importWindow"})) {
    if (YAML::Node v = child(*b, "importWindow"); v.IsDefined())
      if (auto t = p.duration(v, "byok.importWindow")) {
        if (*t < std::chrono::minutes(1) || *t > std::chrono::hours(24 * 30))
          p.fail(v, "byok.importWindow", "must be between 1m and 720h");
        else c.importWindow = *t;
      }
  }
  if (auto w = section("webhook", {"bindAddress", "certFile", "keyFile", "clientCAFile", "allowedClientNames"})) {
    bind(*w, "webhook.bindAddress", c.webhook.bindAddress);
    if (YAML::Node v = child(*w, "certFile"); v.IsDefined())
      if (auto s = p.string(v, "webhook.certFile")) c.webhook.certFile = *s;
    if (YAML::Node v = child(*w, "keyFile"); v.IsDefined())
      if (auto s = p.string(v, "webhook.keyFile")) c.webhook.keyFile = *s;
    if (YAML::Node v = child(*w, "clientCAFile"); v.IsDefined())
      if (auto s = p.string(v, "webhook.clientCAFile", true)) c.webhook.clientCAFile = *s;
    if (YAML::Node v = child(*w, "allowedClientNames"); v.IsDefined())
      if (auto names = p.stringList(v, "webhook.allowedClientNames")) {
        c.webhook.allowedClientNames = *names;
        if (!names->empty() && c.webhook.clientCAFile.empty())
          p.fail(v, "webhook.allowedClientNames", "needs webhook.clientCAFile (names are checked on client certificates)");
      }
  }
  if (auto d = section("dataPlane", {"bindAddress", "certFile", "keyFile", "clientCAFile", "audience", "tokenCacheTTL",
                                     "maxRequestBytes", "tenantRateLimit", "serveOn", "usageAuditInterval"})) {
    DataPlaneConfig& dp = c.dataPlane;
    bind(*d, "dataPlane.bindAddress", dp.bindAddress);
    auto str = [&](const char* key, std::string& out, bool allowEmpty) {
      if (YAML::Node v = child(*d, key); v.IsDefined())
        if (auto s = p.string(v, std::string("dataPlane.") + key, allowEmpty)) out = *s;
    };
    str("certFile", dp.certFile, false);
    str("keyFile", dp.keyFile, false);
    str("clientCAFile", dp.clientCAFile, true);
    str("audience", dp.audience, false);
    if (YAML::Node v = child(*d, "tokenCacheTTL"); v.IsDefined())
      if (auto t = p.duration(v, "dataPlane.tokenCacheTTL")) {
        if (*t < std::chrono::seconds(1) || *t > std::chrono::minutes(10))
          p.fail(v, "dataPlane.tokenCacheTTL", "must be between 1s and 10m (a revoked token keeps working this long)");
        else dp.tokenCacheTTL = *t;
      }
    if (YAML::Node v = child(*d, "usageAuditInterval"); v.IsDefined())
      if (auto t = p.duration(v, "dataPlane.usageAuditInterval")) {
        if (*t < std::chrono::seconds(1) || *t > std::chrono::hours(1))
          p.fail(v, "dataPlane.usageAuditInterval", "must be between 1s and 1h");
        else dp.usageAuditInterval = *t;
      }
    if (YAML::Node v = child(*d, "maxRequestBytes"); v.IsDefined())
      if (auto n = p.integer(v, "dataPlane.maxRequestBytes", 1024, 1048576)) dp.maxRequestBytes = *n;
    if (YAML::Node v = child(*d, "serveOn"); v.IsDefined())
      if (auto s = p.enumValue(v, "dataPlane.serveOn", {"leader", "all"})) dp.serveOn = *s;
    if (YAML::Node rl = child(*d, "tenantRateLimit"); isSet(rl) && p.mapping(rl, "dataPlane.tenantRateLimit")) {
      p.onlyKeys(rl, "dataPlane.tenantRateLimit", {"qps", "burst"});
      if (YAML::Node v = child(rl, "qps"); v.IsDefined())
        if (auto n = p.integer(v, "dataPlane.tenantRateLimit.qps", 0, 1000000)) dp.tenantQps = *n;
      if (YAML::Node v = child(rl, "burst"); v.IsDefined())
        if (auto n = p.integer(v, "dataPlane.tenantRateLimit.burst", 1, 1000000)) dp.tenantBurst = *n;
    }
  }
  // Effective addresses (defaults included) must not share a port on overlapping hosts.
  std::vector<std::pair<std::string, std::string>> effective = {
      {"metrics.bindAddress", c.metricsBindAddress},
      {"health.bindAddress", c.healthBindAddress},
      {"webhook.bindAddress", c.webhook.bindAddress}};
  if (!c.dataPlane.bindAddress.empty()) effective.emplace_back("dataPlane.bindAddress", c.dataPlane.bindAddress);
  for (size_t i = 0; i < effective.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      auto a = metrics::parseBindAddress(effective[i].second), b = metrics::parseBindAddress(effective[j].second);
      if (!a.ok() || !b.ok() || a->port == 0 || a->port != b->port) continue;
      if (!a->host.empty() && !b->host.empty() && a->host != b->host) continue;
      // Report on the field the file sets (the later one when both are set).
      const auto& [field, other] = bindNodes.count(effective[i].first) ? std::pair(effective[i].first, effective[j].first)
                                                                       : std::pair(effective[j].first, effective[i].first);
      int line = bindNodes.count(field) ? yamlx::line(bindNodes[field]) : yamlx::line(root);
      p.fail(line, field, "port " + std::to_string(a->port) + " is also used by " + other +
                              (bindNodes.count(other) ? "" : " (default)"));
    }

  if (YAML::Node v = child(root, "operatorNamespace"); v.IsDefined())
    if (auto s = p.string(v, "operatorNamespace")) {
      if (isDnsLabel(*s)) c.operatorNamespace = *s;
      else p.fail(v, "operatorNamespace", "invalid namespace " + dq(*s) + ": must be a lowercase RFC 1123 label");
    }
  if (YAML::Node v = child(root, "stateDir"); v.IsDefined())
    if (auto s = p.absolutePath(v, "stateDir")) c.stateDir = *s;
  if (YAML::Node ss = child(root, "secretStore"); isSet(ss)) {
    p.onlyKeys(ss, "secretStore", {"type", "dir"});
    if (YAML::Node t = child(ss, "type"); t.IsDefined())
      if (auto s = p.enumValue(t, "secretStore.type", {"kubernetes", "file"})) c.secretStoreType = *s;
    if (YAML::Node d = child(ss, "dir"); d.IsDefined()) {
      if (auto s = p.absolutePath(d, "secretStore.dir")) c.secretStoreDir = *s;
      if (c.secretStoreType != "file") p.fail(d, "secretStore.dir", "only for type: file");
    }
  }
  if (c.secretStoreType == "file" && c.secretStoreDir.empty()) c.secretStoreDir = c.stateDir + "/secrets";
  if (YAML::Node a = child(root, "audit"); isSet(a) && p.mapping(a, "audit")) {
    p.onlyKeys(a, "audit", {"file", "maxFileBytes", "maxFiles"});
    if (YAML::Node v = child(a, "file"); v.IsDefined())
      if (auto s = p.absolutePath(v, "audit.file")) c.auditFile = *s;
    if (YAML::Node v = child(a, "maxFileBytes"); v.IsDefined())
      if (auto n = p.integer(v, "audit.maxFileBytes", 4096, int64_t(1) << 34)) c.auditMaxFileBytes = *n;
    if (YAML::Node v = child(a, "maxFiles"); v.IsDefined())
      if (auto n = p.integer(v, "audit.maxFiles", 1, 1000)) c.auditMaxFiles = static_cast<int>(*n);
  }
  if (c.auditFile.empty()) c.auditFile = c.stateDir + "/audit/audit.log";
  if (YAML::Node v = child(root, "workers"); v.IsDefined())
    if (auto n = p.integer(v, "workers", 1, kMaxWorkers)) c.workers = static_cast<int>(*n);
  if (YAML::Node k = child(root, "kubeAPI"); isSet(k)) {
    p.onlyKeys(k, "kubeAPI", {"qps", "burst"});
    if (YAML::Node v = child(k, "qps"); v.IsDefined())
      if (auto n = p.integer(v, "kubeAPI.qps", -1, 100000)) c.kubeApiQps = static_cast<int>(*n);
    if (YAML::Node v = child(k, "burst"); v.IsDefined())
      if (auto n = p.integer(v, "kubeAPI.burst", 1, 100000)) c.kubeApiBurst = static_cast<int>(*n);
  }
  if (YAML::Node le = child(root, "leaderElection"); isSet(le)) parseLeaderElection(p, le, c.leaderElection);
  if (c.leaderElection.namespace_.empty()) c.leaderElection.namespace_ = c.operatorNamespace;
  return c;
}

}  // namespace

Result<OperatorConfig> parseOperatorConfig(std::string_view yaml, std::string_view file) {
  const std::string f(file);
  YAML::Node root;
  try {
    root = yamlsafe::load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument, f + ":" + std::to_string(e.mark.line + 1) + ": syntax error: " + e.msg);
  }
  // yaml-cpp may still throw on odd documents while we walk: converted here, at the boundary.
  try {
    Parser p(file);
    OperatorConfig c;
    if (!root.IsDefined() || root.IsNull()) {
      p.fail(1, "backends", "Required value: at least one key backend (the file is empty)");
    } else if (!root.IsMap()) {
      p.fail(root, "config", "expected a mapping, got " + nodeKind(root));
    } else {
      c = parseRoot(p, root, file);
    }
    if (p.errors_.empty()) return c;
    std::stable_sort(p.errors_.begin(), p.errors_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string msg;
    for (const auto& [line, text] : p.errors_) msg += (msg.empty() ? "" : "\n") + text;
    return makeError(ErrorCode::kInvalidArgument, msg);
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument, f + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<OperatorConfig> loadOperatorConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(ErrorCode::kInvalidArgument, path + ": cannot read: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return parseOperatorConfig(s.str(), path);
}

}  // namespace keygate::cmd
