#pragma once
// `keygate audit report`: evidence for the CAIQ questions behind Keygate's controls
// (CEK-02.1, CEK-08.1, CEK-11.1, CEK-15.1), built from decoded objects and the audit trail
// with no I/O, so each figure is unit-testable. The report is one JSON document
// (apiVersion keygate.dev/audit-report/v1, schema in docs/audit-report.md); the Markdown and
// HTML renderings are views of that same document, so all three say the same thing.

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "cli/report/audit_trail.h"
#include "common/clock.h"
#include "common/json.h"

namespace keygate::cli::report {

namespace av1 = api::v1alpha1;

inline constexpr const char* kReportApiVersion = "keygate.dev/audit-report/v1";

struct ReportInput {
  std::vector<av1::EncryptionKey> keys;
  std::vector<av1::KeyActivationRequest> requests;
  std::vector<av1::KeyRoleBinding> bindings;
  Trail trail;
  // Where the objects came from: {"source":"cluster","context":…,"server":…} or
  // {"source":"local","stateDir":…}; the builder adds namespaces and since.
  Json scope = Json::object();
  std::vector<std::string> namespaces;  // empty: all namespaces
  std::optional<WallTime> since;        // audit records before it are left out
  WallTime now;
};

// Thresholds of the findings (docs/audit-report.md, "Findings").
inline constexpr auto kReviewDueSoon = std::chrono::hours(24 * 30);
inline constexpr auto kPreActiveExpiringSoon = std::chrono::hours(24);

Json buildReport(const ReportInput& in);

// The CAIQ answers, from a report whose other sections are built (caiq.cc).
Json answerQuestions(const Json& report);

std::string renderMarkdown(const Json& report);
// One self-contained file: inline CSS and SVG charts, no script, no external resource.
std::string renderHtml(const Json& report);

}  // namespace keygate::cli::report
