#pragma once
// Whole-file reads (certificates, tokens, configs) and atomic writes: one helper each instead
// of a copy per layer.

#include <string>
#include <string_view>

#include "common/result.h"

namespace keygate {

// The file's bytes. `code` (default NotFound) and "cannot read PATH" when it cannot be opened.
Result<std::string> readWholeFile(const std::string& path, ErrorCode code = ErrorCode::kNotFound);

// Replaces `path` with `data` so a reader (or a crash) sees the old file or the new one, never
// a part: a temporary file beside it (mode 0600 from creation), fsync, rename. Internal with
// the failing call, the path and errno's text.
Status writeFileAtomically(const std::string& path, std::string_view data);

}  // namespace keygate
