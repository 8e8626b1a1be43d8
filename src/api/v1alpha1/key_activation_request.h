#pragma once
// KeyActivationRequest (kar): asks for one key version to become Active; collects
// approvals stamped by the webhook (append-only).

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/common_types.h"
#include "common/json.h"

namespace keygate::api::v1alpha1 {

struct KeyRef {
  std::string name;
  int64_t version = 0;     // 0 = absent: the key's newest PreActive version
  std::string namespace_;  // optional; when set it must equal the object's namespace
  bool operator==(const KeyRef&) const = default;
};

struct Approval {
  std::string approver;
  Decision decision = Decision::kUnspecified;
  std::string comment;
  std::string time;  // exact text: it is part of the signed payload
  std::string specHash;
  std::string signature;
  // The approver's groups through which a current KeyApprover binding granted the role when
  // the webhook stamped the entry (only those: never the user's other groups). Signed, so
  // the reconcilers can re-check a group grant exactly; empty for user/service-account grants.
  std::vector<std::string> approverGroups = {};  // initialiser: positional {..} inits may omit it
  bool operator==(const Approval&) const = default;
};

struct KeyActivationRequestSpec {
  KeyRef keyRef;
  std::string reason;
  std::string changeReference;
  std::vector<std::string> affectedSystems;
  std::string requester;
  std::vector<Approval> approvals;
  bool operator==(const KeyActivationRequestSpec&) const = default;
};

struct KeyActivationRequestStatus {
  RequestPhase phase = RequestPhase::kUnspecified;
  int64_t observedGeneration = 0;
  int64_t approvalsRequired = 0;
  int64_t approvalsReceived = 0;
  // "received/required" for the Approvals printer column (printer columns cannot
  // concatenate two fields); maintained with formatApprovals().
  std::string approvals;
  std::optional<WallTime> activatedAt;
  std::vector<Condition> conditions;
  bool operator==(const KeyActivationRequestStatus&) const = default;
};

struct KeyActivationRequest {
  ObjectMeta metadata;
  KeyActivationRequestSpec spec;
  KeyActivationRequestStatus status;
  Json raw;
  bool operator==(const KeyActivationRequest&) const = default;
};

inline std::string formatApprovals(int64_t received, int64_t required) {
  return std::to_string(received) + "/" + std::to_string(required);
}

}  // namespace keygate::api::v1alpha1
