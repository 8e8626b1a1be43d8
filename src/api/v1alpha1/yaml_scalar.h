#pragma once
// yaml-cpp scalar typing that honours quoting (facts.md: as<bool>() reads 'yes' as true and
// "0123" as octal). Private to the api layer: included only from .cc files.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

namespace keygate::api::v1alpha1::yamlx {

// A scalar written without quotes and without an explicit tag: its type is resolved
// from its text (YAML 1.1 rules, as kubectl's go-yaml does).
inline bool isPlain(const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?"; }

// YAML 1.1 booleans for plain scalars; nullopt for anything else.
std::optional<bool> plainBool(const YAML::Node& n);
// Plain decimal integer (optional sign), or nullopt. Leading zeros are refused because
// YAML 1.1 reads them as octal.
std::optional<long long> plainInt(const YAML::Node& n);
bool plainNull(const YAML::Node& n);
bool plainFloat(const YAML::Node& n, double* out);

inline int line(const YAML::Node& n) { return n.Mark().line + 1; }

}  // namespace keygate::api::v1alpha1::yamlx
