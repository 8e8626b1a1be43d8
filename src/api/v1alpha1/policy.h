#pragma once
// The `policy:` section of the operator configuration (api.md) and its parser.
// A bad policy is rejected at start: every problem is reported as `file:line: field: reason`.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/v1alpha1/common_types.h"
#include "common/clock.h"
#include "common/result.h"

namespace YAML {
class Node;
}

namespace keygate::api::v1alpha1 {

inline constexpr int64_t kMaxApprovals = 10;  // same bound as the CRD's requiredApprovals maximum

struct Policy {
  struct MinApprovals {
    int64_t defaultValue = 1;
    std::map<Purpose, int64_t> perPurpose;
    bool operator==(const MinApprovals&) const = default;
  };
  struct PreActiveTtl {
    Duration defaultValue = std::chrono::hours(168);
    Duration max = std::chrono::hours(720);
    bool operator==(const PreActiveTtl&) const = default;
  };
  // Empty lists allow anything of that kind.
  struct Jurisdiction {
    std::vector<std::string> backends;
    std::vector<Algorithm> algorithms;
    bool operator==(const Jurisdiction&) const = default;
  };
  struct SegregationOfDuties {
    bool requesterMayApprove = false;
    bool creatorMayApprove = false;
    bool operator==(const SegregationOfDuties&) const = default;
  };

  // Approval bypasses through a key's spec (docs/security.md, "Approval bypasses"):
  // rotation.requireApproval: false (new versions Active with no approval) is refused and
  // ignored unless allowUnapprovedRotation; the approvals a request needs are fixed when it
  // is created (they can rise later, never fall) unless fixApprovalsAtRequest is false; a key
  // without a jurisdiction (its own or its namespace's label) is refused when requireJurisdiction.
  bool allowUnapprovedRotation = false;
  bool fixApprovalsAtRequest = true;
  bool requireJurisdiction = false;

  MinApprovals minApprovals;
  PreActiveTtl preActiveTTL;
  std::map<std::string, Jurisdiction> jurisdictions;
  SegregationOfDuties segregationOfDuties;
  // Names from the config's `backends:` list; empty means "not checked" (offline tools
  // without a config).
  std::vector<std::string> knownBackends;
  bool operator==(const Policy&) const = default;

  int64_t minApprovalsFor(Purpose p) const;
};

// Problems in a policy built in code, as `policy.<field>: reason` (no file positions).
std::vector<std::string> validatePolicy(const Policy& policy);

// Parses the `policy:` mapping. `file` prefixes every error; knownBackends (from the
// config's backends:) are what jurisdictions may name. A null node yields the defaults.
Result<Policy> parsePolicy(const YAML::Node& node, std::string_view file,
                           const std::vector<std::string>& knownBackends = {});

// Parses a whole operator config document and returns its policy (backends: names are
// collected for the jurisdiction check). YAML syntax errors carry file:line too.
Result<Policy> parsePolicyFromConfig(std::string_view configYaml, std::string_view file);

}  // namespace keygate::api::v1alpha1
