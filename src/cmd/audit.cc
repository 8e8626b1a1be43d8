// `keygate audit verify FILE...`: checks the tamper-evident chain of the operator's audit
// files (controllers/audit_file.h). Exit 0 when intact, 1 naming the first broken record,
// 2 when a file cannot be read.
#include <iostream>

#include "cmd/subcommands.h"
#include "controllers/audit_file.h"

namespace keygate::cmd {

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
}

}  // namespace keygate::cmd
