#pragma once
// JSON as YAML the way kubectl prints it (-o yaml): strings double-quoted (so "yes", "0123"
// stay strings, facts.md), numbers, booleans and null as they are.
#include <string>

#include "common/json.h"

namespace keygate::cli {

std::string yamlOf(const Json& j);

}  // namespace keygate::cli
