// The report as one self-contained HTML file: inline CSS, two inline SVG charts (keys by
// state over time, from the audit trail; decisions per approver), no script and no external
// resource, so it opens anywhere and can be attached to an audit as it is.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "cli/report/report.h"
#include "cli/report/tables.h"
#include "common/time.h"

namespace keygate::cli::report {
namespace {

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// State colours, in stacking order (bottom first).
const std::pair<const char*, const char*> kStates[] = {
    {"Active", "#2e7d32"},    {"PreActive", "#1565c0"}, {"Deactivated", "#9e9e9e"}, {"Expired", "#6d4c41"},
    {"DestroyScheduled", "#ef6c00"}, {"Destroyed", "#424242"}, {"Compromised", "#c62828"}, {"Failed", "#8e24aa"},
};

std::string num(double v) {
  std::ostringstream o;
  o.precision(1);
  o << std::fixed << v;
  return o.str();
}

void stateChart(std::ostringstream& o, const Json& timeline, const std::string& generatedAt) {
  o << "<h2>Keys by state over time</h2>\n";
  if (timeline.empty()) {
    o << "<p class=\"muted\">No lifecycle records in the audit period.</p>\n";
    return;
  }
  std::vector<double> ts;
  int maxTotal = 1;
  for (const auto& p : timeline) {
    auto t = parseRfc3339(p["time"].get<std::string>());
    ts.push_back(t.ok() ? std::chrono::duration<double>(t->time_since_epoch()).count() : 0);
    int total = 0;
    for (const auto& [k, v] : p["keys"].items()) total += v.get<int>();
    maxTotal = std::max(maxTotal, total);
  }
  double end = ts.back();
  if (auto g = parseRfc3339(generatedAt); g.ok()) end = std::max(end, std::chrono::duration<double>(g->time_since_epoch()).count());
  if (end <= ts.front()) end = ts.front() + 1;
  const double W = 760, H = 220, left = 40, top = 10, plotW = W - left - 150, plotH = H - top - 30;
  auto x = [&](double t) { return left + (t - ts.front()) / (end - ts.front()) * plotW; };
  auto y = [&](double v) { return top + plotH - v / maxTotal * plotH; };
  o << "<svg role=\"img\" aria-label=\"keys by state over time\" width=\"" << W << "\" height=\"" << H
    << "\" viewBox=\"0 0 " << W << " " << H << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  o << "<line x1=\"" << left << "\" y1=\"" << y(0) << "\" x2=\"" << left + plotW << "\" y2=\"" << y(0)
    << "\" stroke=\"#555\"/>\n<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << y(0)
    << "\" stroke=\"#555\"/>\n";
  const int step = std::max(1, maxTotal / 5);
  for (int v = 0; v <= maxTotal; v += step)
    o << "<text x=\"" << left - 6 << "\" y=\"" << num(y(v) + 4) << "\" text-anchor=\"end\" class=\"axis\">" << v << "</text>\n";
  for (size_t i = 0; i < timeline.size(); ++i) {
    const double x0 = x(ts[i]), x1 = i + 1 < ts.size() ? x(ts[i + 1]) : x(end);
    double base = 0;
    for (const auto& [state, colour] : kStates) {
      const int n = timeline[i]["keys"].value(state, 0);
      if (n == 0) continue;
      o << "<rect x=\"" << num(x0) << "\" y=\"" << num(y(base + n)) << "\" width=\"" << num(std::max(1.0, x1 - x0))
        << "\" height=\"" << num(y(base) - y(base + n)) << "\" fill=\"" << colour << "\"><title>" << esc(state) << ": " << n
        << " from " << esc(timeline[i]["time"].get<std::string>()) << "</title></rect>\n";
      base += n;
    }
  }
  o << "<text x=\"" << left << "\" y=\"" << H - 8 << "\" class=\"axis\">" << esc(timeline.front()["time"].get<std::string>())
    << "</text>\n<text x=\"" << left + plotW << "\" y=\"" << H - 8 << "\" text-anchor=\"end\" class=\"axis\">"
    << esc(generatedAt) << "</text>\n";
  double ly = top + 4;
  for (const auto& [state, colour] : kStates) {
    o << "<rect x=\"" << left + plotW + 16 << "\" y=\"" << ly << "\" width=\"12\" height=\"12\" fill=\"" << colour
      << "\"/><text x=\"" << left + plotW + 34 << "\" y=\"" << ly + 11 << "\" class=\"axis\">" << state << "</text>\n";
    ly += 20;
  }
  o << "</svg>\n";
}

void approverChart(std::ostringstream& o, const Json& approvers) {
  o << "<h2>Decisions per approver</h2>\n";
  if (approvers.empty()) {
    o << "<p class=\"muted\">No approvals in the audit period.</p>\n";
    return;
  }
  int maxN = 1;
  for (const auto& a : approvers)
    maxN = std::max(maxN, a["activationsApproved"].get<int>() + a["denials"].get<int>());
  const double W = 760, rowH = 26, left = 200, barW = 480;
  const double H = approvers.size() * rowH + 30;
  o << "<svg role=\"img\" aria-label=\"decisions per approver\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 "
    << W << " " << H << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  double yy = 6;
  for (const auto& a : approvers) {
    const int ap = a["activationsApproved"].get<int>(), dn = a["denials"].get<int>();
    const double wa = barW * ap / maxN, wd = barW * dn / maxN;
    o << "<text x=\"" << left - 8 << "\" y=\"" << yy + 15 << "\" text-anchor=\"end\">" << esc(a["approver"].get<std::string>())
      << "</text>\n";
    if (ap > 0) o << "<rect x=\"" << left << "\" y=\"" << yy << "\" width=\"" << num(wa) << "\" height=\"18\" fill=\"#2e7d32\"/>\n";
    if (dn > 0)
      o << "<rect x=\"" << num(left + wa) << "\" y=\"" << yy << "\" width=\"" << num(wd) << "\" height=\"18\" fill=\"#c62828\"/>\n";
    o << "<text x=\"" << num(left + wa + wd + 6) << "\" y=\"" << yy + 14 << "\" class=\"axis\">" << ap << " approved"
      << (dn ? ", " + std::to_string(dn) + " denied" : "") << "</text>\n";
    yy += rowH;
  }
  o << "</svg>\n";
}

void table(std::ostringstream& o, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
           int severityColumn = -1) {
  if (rows.empty()) {
    o << "<p class=\"muted\">none</p>\n";
    return;
  }
  o << "<table>\n<thead><tr>";
  for (const auto& h : header) o << "<th>" << esc(h) << "</th>";
  o << "</tr></thead>\n<tbody>\n";
  for (const auto& r : rows) {
    o << "<tr>";
    for (size_t i = 0; i < r.size(); ++i)
      o << "<td" << (static_cast<int>(i) == severityColumn ? " class=\"sev-" + esc(r[i]) + "\"" : "") << ">" << esc(r[i]) << "</td>";
    o << "</tr>\n";
  }
  o << "</tbody></table>\n";
}

constexpr const char* kStyle = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.muted{color:#777}.axis{font-size:11px;fill:#444}
.sev-high{background:#ffcdd2;font-weight:bold}.sev-medium{background:#ffe0b2}.sev-low{background:#fff9c4}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.6em}.answer{font-weight:bold;padding:1px 8px;border-radius:4px}
.answer-Yes{background:#c8e6c9}.answer-Partially{background:#ffe0b2}.answer-No{background:#ffcdd2}
)";

}  // namespace

std::string renderHtml(const Json& r) {
  std::ostringstream o;
  const Json& s = r["summary"];
  const Json& scope = r["scope"];
  const Json& t = r["auditTrail"];
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
    << "<title>Keygate audit report " << esc(field(r, "generatedAt")) << "</title>\n<style>" << kStyle
    << "</style>\n</head>\n<body>\n";
  o << "<h1>Keygate key-management audit report</h1>\n<p>Generated " << esc(field(r, "generatedAt")) << " from "
    << esc(field(scope, "source") == "local" ? "keygate local state " + field(scope, "stateDir")
                                             : "cluster " + field(scope, "context") + " (" + field(scope, "server") + ")")
    << "; namespaces: " << esc(scope.contains("namespaces") ? field(scope, "namespaces") : "all")
    << (scope.contains("since") ? "; audit records since " + esc(field(scope, "since")) : "") << ".<br>Audit trail: "
    << t["records"].get<int64_t>() << " records; hash chain " << esc(field(t, "chain"))
    << (t.contains("chainDetail") ? " (" + esc(field(t, "chainDetail")) + ")" : "") << ".</p>\n";
  o << "<div class=\"cards\">";
  auto card = [&](const std::string& label, const std::string& value, const std::string& cls = "") {
    o << "<div class=\"card " << cls << "\"><b>" << esc(value) << "</b>" << esc(label) << "</div>";
  };
  card("keys", text(s["keys"]));
  card("namespaces", text(s["tenants"]));
  card("activations", text(s["activations"]));
  card("high findings", text(s["findings"]["high"]), "sev-high");
  card("medium findings", text(s["findings"]["medium"]), "sev-medium");
  card("low findings", text(s["findings"]["low"]), "sev-low");
  o << "</div>\n";

  o << "<h2>Findings that need action</h2>\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : r["findings"])
    rows.push_back({field(f, "severity"), field(f, "control"), field(f, "code"),
                    objectText(f),
                    field(f, "message")});
  table(o, {"severity", "control", "finding", "object", "detail"}, rows, 0);

  o << "<h2>CAIQ questions</h2>\n";
  for (const auto& q : r["questions"]) {
    o << "<h3>" << esc(field(q, "id")) << ": " << esc(field(q, "question")) << "</h3>\n<p><span class=\"answer answer-"
      << esc(field(q, "answer")) << "\">" << esc(field(q, "answer")) << "</span> " << esc(field(q, "statement")) << "</p>\n<ul>";
    for (const auto& e : q["evidence"]) o << "<li>" << esc(text(e)) << "</li>";
    o << "<li>findings: " << esc(q["findings"].empty() ? "none" : field(q, "findings")) << "</li></ul>\n";
  }
  stateChart(o, r["timeline"], field(r, "generatedAt"));
  approverChart(o, r["approvers"]);
  for (const auto& tb : reportTables(r)) {
    o << "<h" << tb.level << ">" << esc(tb.title) << "</h" << tb.level << ">\n";
    table(o, tb.header, tb.rows);
  }
  o << "</body>\n</html>\n";
  return o.str();
}

}  // namespace keygate::cli::report
