#pragma once
// The report's sections as plain tables, for the Markdown and HTML renderings.
#include <string>
#include <vector>

#include "common/json.h"

namespace keygate::cli::report {

struct Table {
  int level;  // heading level: 2 a section, 3 a subsection
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::vector<Table> reportTables(const Json& report);

// A JSON value as text: strings as they are, arrays joined with ", ", null as "".
std::string text(const Json& j);
std::string field(const Json& j, const char* name);
// A finding's "namespace/object", "namespace" or "object".
std::string objectText(const Json& finding);

}  // namespace keygate::cli::report
