#pragma once
// KeyRoleBinding (krb): grants one keygate role to RBAC-shaped subjects in one namespace
// until reviewBy.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/common_types.h"
#include "common/json.h"

namespace keygate::api::v1alpha1 {

struct Subject {
  SubjectKind kind = SubjectKind::kUnspecified;
  std::string name;
  std::string namespace_;  // ServiceAccount only
  bool operator==(const Subject&) const = default;
};

struct KeySelector {
  std::map<std::string, std::string> matchLabels;
  bool operator==(const KeySelector&) const = default;
};

struct KeyRoleBindingSpec {
  Role role = Role::kUnspecified;
  std::vector<Subject> subjects;
  std::optional<KeySelector> keySelector;
  std::string reviewBy;  // date (YYYY-MM-DD) or RFC 3339 time; exact text kept
  bool operator==(const KeyRoleBindingSpec&) const = default;
};

struct RbacRefs {
  std::string role;
  std::string roleBinding;
  bool operator==(const RbacRefs&) const = default;
};

struct KeyRoleBindingStatus {
  int64_t observedGeneration = 0;
  std::optional<RbacRefs> rbac;
  std::vector<Condition> conditions;
  bool operator==(const KeyRoleBindingStatus&) const = default;
};

struct KeyRoleBinding {
  ObjectMeta metadata;
  KeyRoleBindingSpec spec;
  KeyRoleBindingStatus status;
  Json raw;
  bool operator==(const KeyRoleBinding&) const = default;
};

}  // namespace keygate::api::v1alpha1
