#pragma once
// nlohmann::json helpers that never throw: parsing and typed field access return Result.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keygate {

using Json = nlohmann::json;

// Parses a JSON document; a truncated/invalid body becomes InvalidArgument with the byte offset.
Result<Json> parseJson(std::string_view text);

// Walks a dotted path ("metadata.resourceVersion"); returns nullptr when absent.
const Json* findPath(const Json& j, std::string_view dottedPath);
std::string getString(const Json& j, std::string_view dottedPath, std::string fallback = "");
int64_t getInt(const Json& j, std::string_view dottedPath, int64_t fallback = 0);

// Compact serialisation; invalid UTF-8 is replaced instead of throwing.
std::string dumpJson(const Json& j);

}  // namespace keygate
