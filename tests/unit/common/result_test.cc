#include "common/result.h"

#include <gtest/gtest.h>

#include "common/backoff.h"
#include "common/json.h"

namespace keygate {
namespace {

Result<int> half(int x) {
  if (x % 2) return makeError(ErrorCode::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> quarter(int x) {
  ASSIGN_OR_RETURN(int h, half(x));
  ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

// ASSIGN_OR_RETURN propagates the first error and unwraps values.
TEST(ResultTest, PropagatesErrors) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().toString(), "InvalidArgument: odd");
}

// Truncated or garbage JSON is an error with a message, never an exception.
TEST(JsonTest, ParseNeverThrows) {
  for (const char* s : {"", "{", "{\"a\":", "[1,2", "nul", "{\"a\":1}}"}) {
    auto r = parseJson(s);
    EXPECT_FALSE(r.ok()) << s;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("invalid JSON"), std::string::npos);
    }
  }
  auto ok = parseJson(R"({"metadata":{"resourceVersion":"12","generation":3}})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(getString(*ok, "metadata.resourceVersion"), "12");
  EXPECT_EQ(getInt(*ok, "metadata.generation"), 3);
  EXPECT_EQ(getString(*ok, "metadata.missing.deeper", "x"), "x");
}

// Backoff grows exponentially and stays within max, jitter included.
TEST(BackoffTest, GrowsAndCaps) {
  Backoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.2});
  auto d1 = b.next();
  EXPECT_GE(d1.count(), 80);
  EXPECT_LE(d1.count(), 120);
  for (int i = 0; i < 20; ++i) EXPECT_LE(b.next().count(), 1000);
  EXPECT_EQ(exponentialDelay(std::chrono::milliseconds(5), std::chrono::milliseconds(1000), 3).count(), 40);
  EXPECT_EQ(exponentialDelay(std::chrono::milliseconds(5), std::chrono::milliseconds(1000), 30).count(), 1000);
}

}  // namespace
}  // namespace keygate
