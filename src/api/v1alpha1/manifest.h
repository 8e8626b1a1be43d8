#pragma once
// Multi-document YAML manifests → JSON objects, typed the way kubectl would send them
// (plain scalars resolved by YAML 1.1 rules, quoted scalars always strings), each with the
// line where it starts, for `file:line: kind/name: field: message` reports.

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"

namespace keygate::api::v1alpha1 {

struct Manifest {
  Json object;
  int line = 0;  // 1-based line of the document's first node
};

// Empty documents are skipped. YAML syntax errors become `file:line: message`.
Result<std::vector<Manifest>> parseManifests(std::string_view yaml, std::string_view file);

}  // namespace keygate::api::v1alpha1
