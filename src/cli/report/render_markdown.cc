// The report for people: the findings that need action first, the four CAIQ answers with
// their evidence, then one table per section.
#include <sstream>

#include "cli/report/report.h"
#include "cli/report/tables.h"

namespace keygate::cli::report {
namespace {

// A table cell: one line, pipes escaped.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '<') out += "&lt;";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

void table(std::ostringstream& o, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) {
    o << "_none_\n\n";
    return;
  }
  o << "|";
  for (const auto& h : header) o << " " << h << " |";
  o << "\n|";
  for (size_t i = 0; i < header.size(); ++i) o << "---|";
  o << "\n";
  for (const auto& r : rows) {
    o << "|";
    for (const auto& c : r) o << " " << cell(c) << " |";
    o << "\n";
  }
  o << "\n";
}


}  // namespace

std::string renderMarkdown(const Json& r) {
  std::ostringstream o;
  const Json& s = r["summary"];
  const Json& scope = r["scope"];
  o << "# Keygate key-management audit report\n\n";
  o << "Generated " << field(r, "generatedAt") << " from "
    << (field(scope, "source") == "local" ? "keygate local state " + field(scope, "stateDir")
                                          : "cluster " + field(scope, "context") + " (" + field(scope, "server") + ")")
    << "; namespaces: " << (scope.contains("namespaces") ? field(scope, "namespaces") : "all")
    << (scope.contains("since") ? "; audit records since " + field(scope, "since") : "") << ".\n\n";
  const Json& t = r["auditTrail"];
  o << "Audit trail: " << t["records"].get<int64_t>() << " records";
  if (t.contains("first")) o << " from " << field(t, "first") << " to " << field(t, "last");
  o << "; hash chain " << field(t, "chain") << (t.contains("chainDetail") ? " (" + field(t, "chainDetail") + ")" : "")
    << (t["files"].empty() ? "" : "; files " + field(t, "files")) << ".\n\n";
  o << "In scope: " << s["keys"].get<int64_t>() << " keys in " << s["tenants"].get<int64_t>() << " namespaces, "
    << s["roleBindings"].get<int64_t>() << " role bindings, " << s["activations"].get<int64_t>() << " activations. "
    << "Findings: " << s["findings"]["high"].get<int64_t>() << " high, " << s["findings"]["medium"].get<int64_t>()
    << " medium, " << s["findings"]["low"].get<int64_t>() << " low.\n\n";

  o << "## Findings that need action\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : r["findings"])
    rows.push_back({field(f, "severity"), field(f, "control"), field(f, "code"), objectText(f), field(f, "message")});
  table(o, {"severity", "control", "finding", "object", "detail"}, rows);

  o << "## CAIQ questions\n\n";
  for (const auto& q : r["questions"]) {
    o << "### " << field(q, "id") << ": " << field(q, "question") << "\n\n";
    o << "**Answer: " << field(q, "answer") << ".** " << cell(field(q, "statement")) << "\n\n";
    o << "Evidence:\n\n";
    for (const auto& e : q["evidence"]) o << "- " << cell(text(e)) << "\n";
    o << "- findings: " << (q["findings"].empty() ? "none" : field(q, "findings")) << "\n\n";
  }

  for (const auto& t : reportTables(r)) {
    o << std::string(t.level, '#') << " " << t.title << "\n\n";
    table(o, t.header, t.rows);
  }
  return o.str();
}

}  // namespace keygate::cli::report
