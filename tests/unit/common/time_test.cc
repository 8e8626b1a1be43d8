#include "common/time.h"

#include <gtest/gtest.h>

namespace keygate {
namespace {

// RFC 3339 in whole seconds and MicroTime with exactly six digits, as the API server writes them.
TEST(TimeTest, FormatsKubernetesTimes) {
  WallTime t = std::chrono::system_clock::from_time_t(1795432538) + std::chrono::microseconds(42);
  EXPECT_EQ(formatRfc3339(t), "2026-11-23T11:15:38Z");
  EXPECT_EQ(formatRfc3339Micro(t), "2026-11-23T11:15:38.000042Z");
}

// Offsets normalise to UTC; a bare date means midnight UTC (reviewBy: "2027-06-30").
TEST(TimeTest, ParsesRfc3339Variants) {
  auto a = parseRfc3339("2026-11-23T11:15:38Z");
  auto b = parseRfc3339("2026-11-23T12:15:38+01:00");
  auto c = parseRfc3339("2026-11-23T11:15:38.5Z");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*c - *a, std::chrono::milliseconds(500));
  auto d = parseRfc3339("2027-06-30");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(formatRfc3339(*d), "2027-06-30T00:00:00Z");
}

// Malformed times are errors, not crashes.
TEST(TimeTest, RejectsMalformedTimes) {
  for (const char* s : {"", "2026", "2026-13-01", "2026-11-23T11:15", "2026-11-23T11:15:38", "2026-11-23T11:15:38.Z",
                        "2026-11-23T11:15:38Zjunk", "abcd-ef-ghT"}) {
    EXPECT_FALSE(parseRfc3339(s).ok()) << s;
  }
}

// Go durations as used in the API (168h, 90m, 1h30m, 500ms).
TEST(TimeTest, ParsesGoDurations) {
  using namespace std::chrono;
  EXPECT_EQ(*parseGoDuration("168h"), hours(168));
  EXPECT_EQ(*parseGoDuration("1h30m"), minutes(90));
  EXPECT_EQ(*parseGoDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*parseGoDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*parseGoDuration("0"), nanoseconds(0));
  for (const char* s : {"", "h", "10", "10d", "1h30", "-", "1e400h"}) EXPECT_FALSE(parseGoDuration(s).ok()) << s;
  EXPECT_EQ(formatGoDuration(minutes(90)), "1h30m");
  EXPECT_EQ(formatGoDuration(milliseconds(1500)), "1.5s");
}

TEST(TimeTest, YearsWallTimeCannotHoldAreErrorsNotOverflow) {
  for (const char* t : {"4052-01-01T00:00:00Z", "9999-12-31", "1000-01-01T00:00:00Z", "2262-05-01T00:00:00Z"}) {
    auto r = parseRfc3339(t);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_NE(r.error().message.find("between 1678 and 2261"), std::string::npos) << r.error().message;
  }
  auto edge = parseRfc3339("2261-12-31T23:59:59Z");
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(formatRfc3339(*edge), "2261-12-31T23:59:59Z");
  auto old = parseRfc3339("1678-01-01T00:00:00Z");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(formatRfc3339(*old), "1678-01-01T00:00:00Z");
}

}  // namespace
}  // namespace keygate
