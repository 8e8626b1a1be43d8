#pragma once
// Whole-file reads (certificates, tokens, configs): one helper instead of a copy per layer.

#include <string>

#include "common/result.h"

namespace keygate {

// The file's bytes. `code` (default NotFound) and "cannot read PATH" when it cannot be opened.
Result<std::string> readWholeFile(const std::string& path, ErrorCode code = ErrorCode::kNotFound);

}  // namespace keygate
