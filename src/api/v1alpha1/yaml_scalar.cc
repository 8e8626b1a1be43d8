#include "api/v1alpha1/yaml_scalar.h"

#include <cctype>
#include <cstdlib>

namespace keygate::api::v1alpha1::yamlx {

std::optional<bool> plainBool(const YAML::Node& n) {
  if (!isPlain(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})
    if (s == t) return true;
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})
    if (s == f) return false;
  return std::nullopt;
}

std::optional<long long> plainInt(const YAML::Node& n) {
  if (!isPlain(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i >= s.size() || s.size() - i > 18) return std::nullopt;
  if (s[i] == '0' && s.size() - i > 1) return std::nullopt;
  for (size_t k = i; k < s.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return std::nullopt;
  return std::strtoll(s.c_str(), nullptr, 10);
}

bool plainNull(const YAML::Node& n) {
  if (n.IsNull()) return true;
  if (!isPlain(n)) return false;
  const std::string& s = n.Scalar();
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool plainFloat(const YAML::Node& n, double* out) {
  if (!isPlain(n)) return false;
  const std::string& s = n.Scalar();
  if (s.empty()) return false;
  bool digit = false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c))) digit = true;
    else if (c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E') return false;
  }
  if (!digit) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

}  // namespace keygate::api::v1alpha1::yamlx
