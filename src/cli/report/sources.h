#pragma once
// Where `keygate audit report` reads its objects: a cluster (the user's kubeconfig; needs
// list on the three kinds, which KeyAuditor and the aggregated `view` role give) or the
// state directory of `keygate local` (state.json and audit.log).

#include <string>
#include <vector>

#include "cli/report/report.h"
#include "common/result.h"

namespace keygate::cli::report {

struct ClusterSource {
  std::string kubeconfig, context;
  std::vector<std::string> namespaces;  // empty and !allNamespaces: the context's namespace
  bool allNamespaces = false;
};

// Fills keys, requests, bindings, scope and namespaces of `in`.
Status loadFromCluster(const ClusterSource& source, ReportInput& in);
// Also reads <dir>/audit.log into in.trail when present.
Status loadFromStateDir(const std::string& dir, ReportInput& in);

}  // namespace keygate::cli::report
