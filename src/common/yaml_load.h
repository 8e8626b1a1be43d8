#pragma once
// YAML::Load / YAML::LoadAll without yaml-cpp 0.7's endless loop. Debian 12's yaml-cpp 0.7.0
// never returns from LoadAll on some malformed input (a stray ',' at the start of a line: its
// parser stops consuming input and LoadAll appends null documents until memory runs out —
// jbeder/yaml-cpp#1040, fixed upstream by PR #1319 after 0.8.0), and Load returns a null node
// for it. Found by tests/fuzz/fuzz_manifests: `keygate check -f` on a one-byte file ","
// aborted with std::bad_alloc. These first walk the events with a counting handler and throw
// YAML::ParserException at the spot where the parser stops making progress, which callers
// already turn into "file:line: syntax error" messages.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace keygate::yamlsafe {

// Throws YAML::ParserException (a YAML::Exception) on malformed input, as YAML::Load does.
YAML::Node load(const std::string& text);
std::vector<YAML::Node> loadAll(const std::string& text);

}  // namespace keygate::yamlsafe
