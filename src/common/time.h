#pragma once
// Kubernetes time formats: metav1.Time (RFC 3339, whole seconds, "Z"), metav1.MicroTime
// (exactly 6 fractional digits), and Go-style durations ("168h", "90m", "1h30m", "500ms").

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace keygate {

std::string formatRfc3339(WallTime t);       // 2026-11-23T11:25:38Z
std::string formatRfc3339Micro(WallTime t);  // 2026-11-23T11:25:38.123456Z (MicroTime)
// Accepts any RFC 3339 form (fraction optional, "Z" or +hh:mm offset) and a bare date (YYYY-MM-DD).
Result<WallTime> parseRfc3339(std::string_view s);
Result<Duration> parseGoDuration(std::string_view s);
std::string formatGoDuration(Duration d);

}  // namespace keygate
