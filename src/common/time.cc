#include "common/time.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace keygate {
namespace {

std::string formatWith(WallTime t, bool micro) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);  // floor for times before the epoch
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return buf;
}

bool readInt(std::string_view s, size_t pos, size_t len, int* out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::string formatRfc3339(WallTime t) { return formatWith(t, false); }
std::string formatRfc3339Micro(WallTime t) { return formatWith(t, true); }

Result<WallTime> parseRfc3339(std::string_view s) {
  auto bad = [&] { return makeError(ErrorCode::kInvalidArgument, "invalid RFC 3339 time \"" + std::string(s) + "\""); };
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!readInt(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !readInt(s, 5, 2, &mo) || s[7] != '-' ||
      !readInt(s, 8, 2, &d))
    return bad();
  size_t pos = 10;
  long long nanos = 0;
  int offsetSeconds = 0;
  if (s.size() > 10) {
    if (s[10] != 'T' && s[10] != 't') return bad();
    if (!readInt(s, 11, 2, &h) || s.size() < 19 || s[13] != ':' || !readInt(s, 14, 2, &mi) || s[16] != ':' ||
        !readInt(s, 17, 2, &se))
      return bad();
    pos = 19;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int digits = 0;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        if (digits < 9) nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return bad();
      for (int i = digits; i < 9; ++i) nanos *= 10;
    }
    if (pos >= s.size()) return bad();
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh, om;
      if (!readInt(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !readInt(s, pos + 4, 2, &om))
        return bad();
      offsetSeconds = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
      pos += 6;
    } else {
      return bad();
    }
    if (pos != s.size()) return bad();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return bad();
  // WallTime counts nanoseconds in an int64 from 1970: it holds 1677-09-21 to 2262-04-11.
  // Converting a time outside was signed overflow (UB; found by tests/fuzz/fuzz_json_codecs
  // with "4052-01-01T00:00:00Z").
  if (y < 1678 || y > 2261)
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid RFC 3339 time \"" + std::string(s) + "\": the year must be between 1678 and 2261");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  std::time_t tt = timegm(&tm);
  auto t = std::chrono::system_clock::from_time_t(tt) - std::chrono::seconds(offsetSeconds);
  return WallTime(t + std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(nanos)));
}

Result<Duration> parseGoDuration(std::string_view s) {
  auto bad = [&] {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid duration \"" + std::string(s) + "\" (use Go syntax such as 168h, 90m, 1h30m)");
  };
  if (s.empty()) return bad();
  size_t pos = 0;
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    pos = 1;
  }
  if (s.substr(pos) == "0") return Duration(0);
  long double total = 0;
  bool any = false;
  while (pos < s.size()) {
    size_t start = pos;
    while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.')) ++pos;
    if (start == pos) return bad();
    long double num;
    try {
      num = std::stold(std::string(s.substr(start, pos - start)));
    } catch (...) {
      return bad();
    }
    size_t ustart = pos;
    while (pos < s.size() && !std::isdigit(static_cast<unsigned char>(s[pos])) && s[pos] != '.') ++pos;
    std::string_view unit = s.substr(ustart, pos - ustart);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return bad();
    total += num * mult;
    any = true;
  }
  if (!any || total > 9.2e18L) return bad();
  auto ns = static_cast<long long>(total);
  return Duration(negative ? -ns : ns);
}

std::string formatGoDuration(Duration d) {
  using namespace std::chrono;
  if (d.count() == 0) return "0s";
  std::string out;
  if (d.count() < 0) {
    out = "-";
    d = -d;
  }
  auto h = duration_cast<hours>(d);
  d -= h;
  auto m = duration_cast<minutes>(d);
  d -= m;
  auto s = duration_cast<seconds>(d);
  d -= s;
  if (h.count()) out += std::to_string(h.count()) + "h";
  if (m.count()) out += std::to_string(m.count()) + "m";
  if (s.count() || d.count()) {
    out += std::to_string(s.count());
    if (d.count()) {
      char buf[16];
      std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(d.count()));
      std::string frac(buf);
      while (frac.back() == '0') frac.pop_back();
      out += frac;
    }
    out += "s";
  }
  return out;
}

}  // namespace keygate
