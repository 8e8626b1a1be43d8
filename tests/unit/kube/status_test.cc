#include "kube/status.h"

#include <gtest/gtest.h>

#include "kube/client.h"

namespace keygate::kube {
namespace {

HttpResponse resp(int code, std::string body, std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// Status bodies recorded from a real kube-apiserver (02, 04, 08, 10c) decode to the right codes.
TEST(StatusTest, DecodesRecordedStatusBodies) {
  auto exists = errorFromResponse(resp(409, R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"widgets.example.test \"w1\" already exists","reason":"AlreadyExists","details":{"name":"w1","group":"example.test","kind":"widgets"},"code":409})j"));
  EXPECT_EQ(exists.code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(exists.reason, "AlreadyExists");
  auto conflict = errorFromResponse(resp(409, R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on widgets.example.test \"w1\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"w1","group":"example.test","kind":"widgets"},"code":409})j"));
  EXPECT_EQ(conflict.code, ErrorCode::kConflict);
  auto invalid = errorFromResponse(resp(422, R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Widget.example.test \"bad\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1","reason":"Invalid","details":{"name":"bad","group":"example.test","kind":"Widget","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0: spec.size in body should be greater than or equal to 1","field":"spec.size"}]},"code":422})j"));
  EXPECT_EQ(invalid.code, ErrorCode::kInvalidArgument);
  ASSERT_EQ(invalid.causes.size(), 1u);
  EXPECT_EQ(invalid.causes[0].field, "spec.size");
  auto gone = errorFromStatus(Json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (301)","reason":"Expired","code":410})j"));
  EXPECT_EQ(gone.code, ErrorCode::kGone);
  auto unauth = errorFromResponse(resp(401, R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})j"));
  EXPECT_EQ(unauth.code, ErrorCode::kUnauthenticated);
  auto tooLarge = errorFromResponse(resp(504, R"j({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too large resource version","reason":"Timeout","details":{"causes":[{"reason":"ResourceVersionTooLarge","message":"Too large resource version"}],"retryAfterSeconds":1},"code":504})j", {{"retry-after", "1"}}));
  EXPECT_EQ(tooLarge.code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(tooLarge.retryAfterSeconds.value_or(-1), 1);
}

// Non-Status bodies (unknown path: text/plain 404) and 429 with Retry-After.
TEST(StatusTest, NonStatusBodies) {
  auto nf = errorFromResponse(resp(404, "404 page not found\n"));
  EXPECT_EQ(nf.code, ErrorCode::kNotFound);
  EXPECT_EQ(nf.message, "HTTP 404: 404 page not found");
  auto tm = errorFromResponse(resp(429, "", {{"retry-after", "3"}}));
  EXPECT_EQ(tm.code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(*tm.retryAfterSeconds, 3);
  EXPECT_TRUE(tm.isTransient());
  auto garbage = errorFromResponse(resp(500, "{\"kind\":\"Stat"));
  EXPECT_EQ(garbage.code, ErrorCode::kInternal);
}

// Watch lines: recorded events decode; garbage, truncated JSON and unknown types are errors.
TEST(WatchLineTest, DecodesAndRejects) {
  auto ev = decodeWatchLine(R"j({"type":"BOOKMARK","object":{"apiVersion":"example.test/v1","kind":"Widget","metadata":{"resourceVersion":"420"}}})j");
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(getString(ev->object, "metadata.resourceVersion"), "420");
  for (const char* bad : {"", "garbage", R"j({"type":"ADDED","object":{"metadata":)j", R"j({"type":"EXPLODED","object":{}})j",
                          R"j({"type":"ADDED"})j", R"j({"type":1,"object":{}})j", "[1,2,3]"}) {
    EXPECT_FALSE(decodeWatchLine(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace keygate::kube
