#include "api/v1alpha1/manifest.h"

#include "api/v1alpha1/yaml_scalar.h"
#include "common/yaml_load.h"

namespace keygate::api::v1alpha1 {
namespace {

Json toJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : n) arr.push_back(toJson(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : n) obj[kv.first.Scalar()] = toJson(kv.second);
      return obj;
    }
    case YAML::NodeType::Scalar: break;
  }
  if (!yamlx::isPlain(n)) return n.Scalar();
  if (yamlx::plainNull(n)) return nullptr;
  if (auto b = yamlx::plainBool(n)) return *b;
  if (auto i = yamlx::plainInt(n)) return *i;
  // YAML 1.1 (kubectl's go-yaml) reads a plain 0755 as octal; quote it to keep a string.
  if (const std::string& s = n.Scalar(); s.size() > 1 && s.size() <= 21 && s[0] == '0' &&
                                         s.find_first_not_of("01234567") == std::string::npos)
    return std::stoll(s, nullptr, 8);
  double d = 0;
  if (yamlx::plainFloat(n, &d)) return d;
  return n.Scalar();
}

}  // namespace

Result<std::vector<Manifest>> parseManifests(std::string_view yaml, std::string_view file) {
  std::vector<YAML::Node> docs;
  try {
    docs = yamlsafe::loadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(file) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  std::vector<Manifest> out;
  for (const auto& d : docs) {
    if (d.IsNull()) continue;
    out.push_back(Manifest{toJson(d), yamlx::line(d)});
  }
  return out;
}

}  // namespace keygate::api::v1alpha1
