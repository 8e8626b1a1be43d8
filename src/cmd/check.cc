// `keygate check -f DIR [--config FILE] [-o text|json]`: offline validation of manifests
// for GitOps pipelines. Per object: the CRD schema (strict decoding: unknown fields are
// errors), the CEL rules and policy (api validation, the same code the webhook runs).
// Across objects: a request's key exists in its namespace, segregation-of-duties conflicts
// across KeyRoleBindings, and approvals the webhook would reject. One line per problem:
//   file:line: Kind/name: field: message
// Exit 1 on any problem; 0 and one summary line when clean. Objects of other API groups
// are skipped without error.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>

#include "api/v1alpha1/codec.h"
#include "api/v1alpha1/manifest.h"
#include "api/v1alpha1/validation.h"
#include "cmd/config.h"
#include "cmd/subcommands.h"
#include "common/yaml_load.h"

namespace keygate::cmd {
namespace {

namespace fs = std::filesystem;
namespace v1 = api::v1alpha1;

struct CheckOptions {
  std::string path;
  std::string configFile;
  std::string output = "text";
};

struct Problem {
  std::string file;
  int line = 0;
  std::string object;  // "Kind/name"; empty for file-level problems (YAML syntax)
  std::string field;
  std::string message;

  std::string text() const {
    std::string out = file + ":" + std::to_string(line) + ": ";
    if (!object.empty()) out += object + ": ";
    if (!field.empty()) out += field + ": ";
    return out + message;
  }
};

// One keygate.dev object found in the manifests.
struct Object {
  std::string file;
  int line = 0;
  YAML::Node node;  // for the line of each field
  std::string kind;
  std::string ns;
  std::string name;
  std::variant<std::monostate, v1::EncryptionKey, v1::KeyActivationRequest, v1::KeyRoleBinding> decoded;
  bool superseded = false;  // a later manifest defines the same object

  std::string id() const { return kind + "/" + (name.empty() ? "(unnamed)" : name); }
};

// Line of `path` ("spec.approvals[1].approver", "metadata.annotations[keygate.dev/x]") in the
// object's YAML; the deepest existing ancestor's line when the field itself is absent.
int fieldLine(const YAML::Node& root, const std::string& path, int fallback) {
  if (!root.IsDefined() || !root.IsMap()) return fallback;
  std::vector<std::string> segs;
  std::string cur;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      if (!cur.empty()) segs.push_back(cur);
      cur.clear();
    } else if (c == '[') {
      if (!cur.empty()) segs.push_back(cur);
      cur.clear();
      size_t close = path.find(']', i);
      if (close == std::string::npos) break;
      segs.push_back("[" + path.substr(i + 1, close - i - 1));
      i = close;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) segs.push_back(cur);
  // yaml-cpp nodes have reference semantics (operator= assigns into the tree) and a missing
  // key yields an invalid node: walk with copy construction only.
  auto step = [](const YAML::Node& n, const std::string& s) -> YAML::Node {
    bool bracket = !s.empty() && s[0] == '[';
    std::string key = bracket ? s.substr(1) : s;
    if (bracket && n.IsSequence() && !key.empty() && key.find_first_not_of("0123456789") == std::string::npos) {
      size_t idx = std::stoul(key);
      if (idx < n.size()) return n[idx];
    } else if (n.IsMap()) {
      return n[key];
    }
    return YAML::Node(YAML::NodeType::Undefined);
  };
  std::vector<YAML::Node> path_nodes{root};
  int line = root.Mark().line + 1;
  for (const auto& s : segs) {
    YAML::Node next = step(path_nodes.back(), s);
    if (!next.IsDefined()) break;
    if (next.Mark().line >= 0) line = next.Mark().line + 1;
    path_nodes.push_back(next);
  }
  return line;
}

class Checker {
 public:
  explicit Checker(v1::Policy policy) : policy_(std::move(policy)) {}

  void addFile(const fs::path& path) {
    ++files_;
    const std::string file = path.string();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      problems_.push_back({file, 0, "", "", "cannot read file"});
      return;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    auto manifests = v1::parseManifests(text, file);
    if (!manifests.ok()) {
      // Already `file:line: message`.
      const std::string& m = manifests.error().message;
      int line = std::atoi(m.c_str() + std::min(m.size(), file.size() + 1));
      problems_.push_back(
          {file, line, "", "", "syntax error: " + m.substr(std::min(m.size(), m.find(": ", file.size()) + 2))});
      return;
    }
    // The same documents again as YAML nodes, for field lines (parseManifests skips the
    // same empty documents, so the order matches).
    std::vector<YAML::Node> nodes;
    try {
      for (auto& d : yamlsafe::loadAll(text))
        if (!d.IsNull()) nodes.push_back(d);
    } catch (const YAML::Exception&) {
      nodes.clear();
    }
    for (size_t i = 0; i < manifests->size(); ++i) {
      const auto& m = (*manifests)[i];
      YAML::Node node = i < nodes.size() ? nodes[i] : YAML::Node(YAML::NodeType::Undefined);
      // kubectl's `kind: List` wraps objects in items.
      if (m.object.is_object() && getString(m.object, "kind") == "List" && m.object.contains("items") &&
          m.object["items"].is_array()) {
        const Json& items = m.object["items"];
        for (size_t k = 0; k < items.size(); ++k) {
          YAML::Node item = node.IsMap() && node["items"].IsSequence() && k < node["items"].size()
                                ? YAML::Node(node["items"][k])
                                : YAML::Node(YAML::NodeType::Undefined);
          addObject(file, item.IsDefined() ? item.Mark().line + 1 : m.line, item, items[k]);
        }
        continue;
      }
      addObject(file, m.line, node, m.object);
    }
  }

  void checkAll() {
    checkDuplicates();
    checkRequests();
    checkSegregation();
  }

  std::vector<Problem> problems() const {
    std::vector<Problem> out = problems_;
    std::stable_sort(out.begin(), out.end(),
                     [](const Problem& a, const Problem& b) { return std::tie(a.file, a.line) < std::tie(b.file, b.line); });
    return out;
  }
  size_t objects() const { return objects_.size(); }
  size_t files() const { return files_; }
  size_t skipped() const { return skipped_; }

 private:
  void report(const Object& o, const std::string& field, const std::string& message) {
    problems_.push_back({o.file, fieldLine(o.node, field, o.line), o.id(), field, message});
  }

  // "spec.algorithm: unsupported value ..." → field + message.
  void reportDecodeError(const Object& o, const std::string& error) {
    auto sep = error.find(": ");
    if (sep == std::string::npos) report(o, "", error);
    else report(o, error.substr(0, sep), error.substr(sep + 2));
  }

  void addObject(const std::string& file, int line, const YAML::Node& node, const Json& j) {
    if (!j.is_object()) {
      ++skipped_;
      return;
    }
    const std::string apiVersion = getString(j, "apiVersion");
    const std::string group = apiVersion.substr(0, apiVersion.find('/'));
    if (group != v1::kGroup) {
      ++skipped_;
      return;
    }
    Object o;
    o.file = file;
    o.line = line;
    o.node = node;
    o.kind = getString(j, "kind");
    o.ns = getString(j, "metadata.namespace");
    o.name = getString(j, "metadata.name");
    objects_.push_back(o);
    Object& obj = objects_.back();
    if (apiVersion != v1::kApiVersion) {
      report(obj, "apiVersion",
             "unsupported version \"" + apiVersion + "\" (supported: " + std::string(v1::kApiVersion) + ")");
      return;
    }
    const v1::DecodeOptions strict{.strict = true};
    if (obj.kind == "EncryptionKey") {
      auto k = v1::decodeEncryptionKey(j, strict);
      if (!k.ok()) return reportDecodeError(obj, k.error().message);
      for (const auto& e : v1::validateCreate(*k, policy_)) report(obj, e.field, e.message);
      obj.decoded = std::move(k).value();
    } else if (obj.kind == "KeyActivationRequest") {
      auto r = v1::decodeKeyActivationRequest(j, strict);
      if (!r.ok()) return reportDecodeError(obj, r.error().message);
      for (const auto& e : v1::validateCreate(*r, policy_)) report(obj, e.field, e.message);
      obj.decoded = std::move(r).value();
    } else if (obj.kind == "KeyRoleBinding") {
      auto b = v1::decodeKeyRoleBinding(j, strict);
      if (!b.ok()) return reportDecodeError(obj, b.error().message);
      for (const auto& e : v1::validateCreate(*b, policy_)) report(obj, e.field, e.message);
      obj.decoded = std::move(b).value();
    } else {
      report(obj, "kind",
             "unknown kind \"" + obj.kind + "\" in " + std::string(v1::kGroup) +
                 " (supported: EncryptionKey, KeyActivationRequest, KeyRoleBinding)");
    }
  }

  // Two manifests for one object: applied in file order, the later one wins. It is the
  // one the cross-object checks see; the earlier is reported as overwritten.
  void checkDuplicates() {
    std::map<std::tuple<std::string, std::string, std::string>, size_t> last;
    for (size_t i = 0; i < objects_.size(); ++i) {
      const auto& o = objects_[i];
      if (o.name.empty()) continue;
      auto key = std::tuple(o.kind, o.ns, o.name);
      if (auto it = last.find(key); it != last.end()) {
        objects_[it->second].superseded = true;
        report(o, "metadata.name",
               "duplicate object: also defined at " + objects_[it->second].file + ":" +
                   std::to_string(objects_[it->second].line) + " (the later definition wins)");
      }
      last[key] = i;
    }
  }

  const v1::EncryptionKey* findKey(const std::string& ns, const std::string& name) const {
    for (const auto& o : objects_)
      if (auto k = std::get_if<v1::EncryptionKey>(&o.decoded); k && !o.superseded && o.ns == ns && o.name == name)
        return k;
    return nullptr;
  }

  std::vector<const v1::KeyRoleBinding*> bindings() const {
    std::vector<const v1::KeyRoleBinding*> out;
    for (const auto& o : objects_)
      if (auto b = std::get_if<v1::KeyRoleBinding>(&o.decoded); b && !o.superseded) out.push_back(b);
    return out;
  }

  static bool selects(const v1::KeyRoleBinding& b, const v1::EncryptionKey* key) {
    if (!b.spec.keySelector || key == nullptr) return true;
    for (const auto& [k, v] : b.spec.keySelector->matchLabels) {
      auto it = key->metadata.labels.find(k);
      if (it == key->metadata.labels.end() || it->second != v) return false;
    }
    return true;
  }

  // Would the webhook accept `approver` as a KeyApprover for `key` in `ns`? nullopt: yes
  // (or cannot be decided offline: group membership); else the reason it would not.
  std::optional<std::string> approverProblem(const std::string& ns, const std::string& approver,
                                             const v1::EncryptionKey* key) const {
    const WallTime now = realClock().now();
    std::vector<std::string> overdue, unselected;
    bool groupMayGrant = false;
    for (const auto* b : bindings()) {
      if (b->metadata.namespace_ != ns || b->spec.role != v1::Role::kKeyApprover) continue;
      bool names = false;
      for (const auto& s : b->spec.subjects) {
        if (s.kind == v1::SubjectKind::kUser && s.name == approver) names = true;
        if (s.kind == v1::SubjectKind::kServiceAccount &&
            approver == "system:serviceaccount:" + s.namespace_ + ":" + s.name)
          names = true;
        if (s.kind == v1::SubjectKind::kGroup && v1::bindingIsCurrent(*b, now) && selects(*b, key))
          groupMayGrant = true;
      }
      if (!names) continue;
      if (!v1::bindingIsCurrent(*b, now)) overdue.push_back(b->metadata.name);
      else if (!selects(*b, key)) unselected.push_back(b->metadata.name);
      else return std::nullopt;
    }
    if (groupMayGrant) return std::nullopt;
    if (!overdue.empty())
      return approver + "'s KeyApprover binding " + overdue.front() +
             " is overdue for review and grants nothing (the webhook would reject this approval)";
    if (!unselected.empty())
      return approver + "'s KeyApprover binding " + unselected.front() +
             " does not select this key (keySelector) (the webhook would reject this approval)";
    return approver + " holds no KeyApprover binding in namespace " + ns +
           " among the checked manifests (the webhook would reject this approval)";
  }

  void checkRequests() {
    for (const auto& o : objects_) {
      const auto* r = std::get_if<v1::KeyActivationRequest>(&o.decoded);
      if (r == nullptr || o.superseded) continue;
      const v1::EncryptionKey* key = nullptr;
      if (!r->spec.keyRef.name.empty() && (r->spec.keyRef.namespace_.empty() || r->spec.keyRef.namespace_ == o.ns)) {
        key = findKey(o.ns, r->spec.keyRef.name);
        if (key == nullptr)
          report(o, "spec.keyRef.name",
                 "EncryptionKey " + r->spec.keyRef.name + " not found in namespace " +
                     (o.ns.empty() ? "(unset)" : o.ns) + " among the checked manifests");
        else
          for (const auto& e : v1::validateRequestForKey(*r, *key, policy_)) report(o, e.field, e.message);
      }
      for (size_t i = 0; i < r->spec.approvals.size(); ++i) {
        const auto& a = r->spec.approvals[i];
        if (a.approver.empty()) continue;
        if (auto why = approverProblem(o.ns, a.approver, key))
          report(o, "spec.approvals[" + std::to_string(i) + "].approver", *why);
      }
    }
  }

  void checkSegregation() {
    std::vector<v1::KeyRoleBinding> all;
    for (const auto* b : bindings()) all.push_back(*b);
    for (const auto& c : v1::findSegregationConflicts(all)) {
      // Reported on the first approver binding, at the conflicting subject.
      const std::string& at = c.approverBindings.front();
      for (const auto& o : objects_) {
        const auto* b = std::get_if<v1::KeyRoleBinding>(&o.decoded);
        if (b == nullptr || o.superseded || o.ns != c.namespace_ || o.name != at) continue;
        size_t idx = 0;
        for (; idx < b->spec.subjects.size(); ++idx)
          if (b->spec.subjects[idx] == c.subject) break;
        std::string admins;
        for (const auto& n : c.administratorBindings) admins += (admins.empty() ? "" : ", ") + n;
        report(o, "spec.subjects[" + std::to_string(idx) + "]",
               std::string(v1::toString(c.subject.kind)) + " " + c.subject.name +
                   " holds both KeyAdministrator and KeyApprover in namespace " + c.namespace_ +
                   " (KeyAdministrator via " + admins + ") (segregation of duties)");
        break;
      }
    }
  }

  v1::Policy policy_;
  std::vector<Object> objects_;
  std::vector<Problem> problems_;
  size_t files_ = 0;
  size_t skipped_ = 0;
};

std::vector<fs::path> manifestFiles(const fs::path& root, std::string* error) {
  std::vector<fs::path> out;
  std::error_code ec;
  auto isManifest = [](const fs::path& p) {
    auto ext = p.extension().string();
    return ext == ".yaml" || ext == ".yml" || ext == ".json";
  };
  if (fs::is_regular_file(root, ec)) return {root};
  if (!fs::is_directory(root, ec)) {
    *error = root.string() + ": no such file or directory";
    return out;
  }
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && isManifest(it->path())) out.push_back(it->path());
  if (ec) *error = root.string() + ": " + ec.message();
  std::sort(out.begin(), out.end());
  return out;
}

std::string plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

int runCheck(const CheckOptions& opts) {
  v1::Policy policy;
  if (!opts.configFile.empty()) {
    auto config = loadOperatorConfig(opts.configFile);
    if (!config.ok()) {
      std::cout << config.error().message << "\n";
      std::cerr << "keygate check: " << opts.configFile << " is not a valid operator configuration\n";
      return 1;
    }
    policy = config->policy;
  }
  std::string error;
  auto files = manifestFiles(opts.path, &error);
  if (!error.empty()) {
    std::cerr << "keygate check: " << error << "\n";
    return 1;
  }
  if (files.empty()) {
    std::cerr << "keygate check: no *.yaml, *.yml or *.json files under " << opts.path << "\n";
    return 1;
  }
  Checker checker(std::move(policy));
  for (const auto& f : files) checker.addFile(f);
  checker.checkAll();
  auto problems = checker.problems();

  std::string summary = plural(checker.objects(), "object") + " in " + plural(checker.files(), "file");
  if (checker.skipped() > 0) summary += " (" + std::to_string(checker.skipped()) + " non-keygate skipped)";
  if (opts.output == "json") {
    Json out = Json::object();
    out["objects"] = checker.objects();
    out["files"] = checker.files();
    out["skipped"] = checker.skipped();
    out["problems"] = Json::array();
    for (const auto& p : problems) {
      auto slash = p.object.find('/');
      out["problems"].push_back({{"file", p.file},
                                 {"line", p.line},
                                 {"kind", slash == std::string::npos ? "" : p.object.substr(0, slash)},
                                 {"name", slash == std::string::npos ? "" : p.object.substr(slash + 1)},
                                 {"field", p.field},
                                 {"message", p.message}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& p : problems) std::cout << p.text() << "\n";
    if (problems.empty()) std::cout << "keygate check: " << summary << ": no problems\n";
  }
  if (!problems.empty()) {
    std::cerr << "keygate check: " << plural(problems.size(), "problem") << " in " << summary << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void registerCheck(CLI::App& app) {
  auto opts = std::make_shared<CheckOptions>();
  auto* sub = app.add_subcommand("check", "Validate keygate manifests offline (schema, CEL rules, policy, "
                                          "cross-object rules); exit 1 on any problem");
  sub->add_option("-f,--filename", opts->path, "Directory (searched recursively) or file of manifests")->required();
  sub->add_option("--config", opts->configFile, "Operator config file: validates it and applies its policy");
  sub->add_option("-o,--output", opts->output, "Output format")->check(CLI::IsMember({"text", "json"}));
  sub->callback([opts] {
    int code = runCheck(*opts);
    std::cout.flush();
    // CLI11's way to end with an exit code from a callback (main returns app.exit(e)).
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace keygate::cmd
