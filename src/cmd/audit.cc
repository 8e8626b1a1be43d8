// `keygate audit verify FILE...`: checks the tamper-evident chain of the operator's audit
// files (controllers/audit_file.h). Exit 0 when intact, 1 naming the first broken record,
// 2 when a file cannot be read.
//
// `keygate audit report`: the evidence for the CAIQ questions (cli/report/report.h), from a
// cluster or a `keygate local` state directory, with the audit trail's chain verified. Exit 0,
// 1 when --fail-on finds a finding that severe, 2 when the sources cannot be read.
#include <iostream>

#include "cli/report/report.h"
#include "cli/report/sources.h"
#include "cmd/subcommands.h"
#include "common/time.h"
#include "controllers/audit_file.h"

namespace keygate::cmd {
namespace {

struct ReportFlags {
  std::string kubeconfig, context, stateDir, since, output = "md", failOn;
  std::vector<std::string> namespaces, auditLogs;
  bool allNamespaces = false;
};

[[noreturn]] void reportError(const std::string& message) {
  std::cerr << "keygate audit report: " << message << "\n";
  throw CLI::RuntimeError(2);
}

// The chain of the given files: verified when every record carries seq/prevHash.
void verifyChain(cli::report::Trail& trail) {
  if (trail.files.empty()) return;
  size_t chained = 0;
  for (const auto& r : trail.records) chained += r.chained ? 1 : 0;
  if (chained == 0) {
    trail.chain = "unchained";
    return;
  }
  if (chained != trail.records.size() || trail.skippedLines > 0) {
    trail.chain = "broken";
    trail.chainDetail = std::to_string(trail.records.size() - chained + trail.skippedLines) +
                        " lines without a chain among chained records";
    return;
  }
  auto v = controllers::verifyAuditChain(trail.files);
  if (!v.ok()) reportError(v.error().message);
  if (v->ok) {
    trail.chain = "intact";
    trail.chainDetail = std::to_string(v->records) + " records, seq " + std::to_string(v->firstSeq) + ".." +
                        std::to_string(v->lastSeq);
  } else {
    trail.chain = "broken";
    trail.chainDetail = v->file + ":" + std::to_string(v->line) + ": " + v->problem;
  }
}

void report(const ReportFlags& f) {
  namespace rp = cli::report;
  rp::ReportInput in;
  in.now = realClock().now();
  if (!f.since.empty()) {
    if (auto t = parseRfc3339(f.since); t.ok()) in.since = *t;
    else if (auto d = parseGoDuration(f.since); d.ok() && *d > Duration::zero())
      in.since = in.now - std::chrono::duration_cast<WallTime::duration>(*d);
    else reportError("--since " + f.since + ": neither an RFC 3339 time (2026-01-01T00:00:00Z) nor a duration (720h)");
  }
  if (!f.stateDir.empty()) {
    if (f.allNamespaces || !f.kubeconfig.empty() || !f.context.empty())
      reportError("--state-dir reads keygate local's state: it cannot be combined with --kubeconfig, --context or --all-namespaces");
    // The state dir's own audit.log, unless audit files are named.
    rp::ReportInput fromDir;
    if (auto s = rp::loadFromStateDir(f.stateDir, fromDir); !s.ok()) reportError(s.error().message);
    in.keys = std::move(fromDir.keys);
    in.requests = std::move(fromDir.requests);
    in.bindings = std::move(fromDir.bindings);
    in.scope = std::move(fromDir.scope);
    in.namespaces = f.namespaces;
    if (f.auditLogs.empty()) in.trail = std::move(fromDir.trail);
  } else {
    if (f.allNamespaces && !f.namespaces.empty()) reportError("--namespace and --all-namespaces exclude each other");
    auto s = rp::loadFromCluster({f.kubeconfig, f.context, f.namespaces, f.allNamespaces}, in);
    if (!s.ok()) reportError(s.error().message);
  }
  for (const auto& file : f.auditLogs)
    if (auto s = rp::readAuditFile(file, in.trail); !s.ok()) reportError(s.error().message);
  verifyChain(in.trail);

  Json r = rp::buildReport(in);
  if (f.output == "json") std::cout << r.dump(2) << "\n";
  else if (f.output == "html") std::cout << rp::renderHtml(r);
  else std::cout << rp::renderMarkdown(r);

  if (!f.failOn.empty()) {
    const auto& sev = r["summary"]["findings"];
    int64_t n = sev["high"].get<int64_t>();
    if (f.failOn != "high") n += sev["medium"].get<int64_t>();
    if (f.failOn == "low") n += sev["low"].get<int64_t>();
    if (n > 0) {
      std::cerr << "keygate audit report: " << n << " finding(s) at or above " << f.failOn << "\n";
      throw CLI::RuntimeError(1);
    }
  }
}

}  // namespace

void registerAudit(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "Work with Keygate's audit trail");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand(
      "verify", "Check the hash chain of audit files (oldest first, e.g. audit.log.2 audit.log.1 audit.log)");
  auto files = std::make_shared<std::vector<std::string>>();
  verify->add_option("FILE", *files, "Audit files, oldest first")->required();
  verify->callback([files] {
    auto r = controllers::verifyAuditChain(*files);
    if (!r.ok()) {
      std::cerr << "keygate audit verify: " << r.error().message << "\n";
      throw CLI::RuntimeError(2);
    }
    if (!r->ok) {
      std::cout << r->file << ":" << r->line << ": " << r->problem << "\n"
                << "chain broken: " << (r->records) << " records verified before it\n";
      throw CLI::RuntimeError(1);
    }
    std::cout << "ok: " << r->records << " records, seq " << r->firstSeq << ".." << r->lastSeq
              << ", chain intact" << (r->firstSeq > 1 ? " (continues an older chain: its first prevHash is not checked)" : "")
              << "\n";
  });

  auto f = std::make_shared<ReportFlags>();
  auto* rep = audit->add_subcommand(
      "report", "Evidence for the CAIQ questions CEK-02.1, CEK-08.1, CEK-11.1 and CEK-15.1 (docs/audit-report.md)");
  rep->add_option("--kubeconfig", f->kubeconfig, "Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)");
  rep->add_option("--context", f->context, "The kubeconfig context to use");
  rep->add_option("-n,--namespace", f->namespaces, "Namespace to report on (repeatable; default: the context's)");
  rep->add_flag("-A,--all-namespaces", f->allNamespaces, "Report on every namespace (needs list on the three kinds cluster-wide)");
  rep->add_option("--state-dir", f->stateDir, "Report on `keygate local` state (state.json and audit.log) instead of a cluster");
  rep->add_option("--since", f->since, "Leave out audit records before this RFC 3339 time or this long ago (e.g. 2160h)");
  rep->add_option("--audit-log", f->auditLogs,
                  "Audit file, repeatable, oldest first (the operator's <stateDir>/audit/audit.log.N ... audit.log)");
  rep->add_option("-o,--output", f->output, "md (default), json or html")->check(CLI::IsMember({"md", "json", "html"}));
  rep->add_option("--fail-on", f->failOn, "Exit 1 when a finding of this severity or higher is found: high, medium or low")
      ->check(CLI::IsMember({"high", "medium", "low"}));
  rep->callback([f] { report(*f); });
}

}  // namespace keygate::cmd
