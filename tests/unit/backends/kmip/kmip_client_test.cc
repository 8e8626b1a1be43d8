#include "backends/kmip/kmip_client.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>

namespace keygate::backends::kmip {
namespace {

Item response(Operation op, uint32_t status, std::vector<Item> extra = {}) {
  Item batch = Item::structure(tag::kBatchItem, {Item::enumeration(tag::kOperation, static_cast<uint32_t>(op)),
                                                 Item::enumeration(tag::kResultStatus, status)});
  for (auto& e : extra) batch.children.push_back(std::move(e));
  return Item::structure(tag::kResponseMessage, {Item::structure(tag::kResponseHeader), batch});
}

// Scripted connections: each exchange pops the next answer of its connection.
struct Script {
  std::deque<std::deque<Result<std::string>>> connections;
  std::vector<std::string> requests;
  int opened = 0;
};

class FakeTransport : public Transport {
 public:
  FakeTransport(std::shared_ptr<Script> s, std::deque<Result<std::string>> answers) : s_(std::move(s)), answers_(std::move(answers)) {}
  Result<std::string> exchange(const std::string& request) override {
    s_->requests.push_back(request);
    if (answers_.empty()) return makeError(ErrorCode::kUnavailable, "closed");
    auto a = std::move(answers_.front());
    answers_.pop_front();
    return a;
  }

 private:
  std::shared_ptr<Script> s_;
  std::deque<Result<std::string>> answers_;
};

TransportFactory factory(std::shared_ptr<Script> s) {
  return [s]() -> Result<TransportPtr> {
    if (s->connections.empty()) return makeError(ErrorCode::kUnavailable, "cannot connect");
    ++s->opened;
    auto answers = std::move(s->connections.front());
    s->connections.pop_front();
    return TransportPtr(std::make_unique<FakeTransport>(s, std::move(answers)));
  };
}

// The request is a KMIP 1.2 Request Message with one batch item for the operation.
TEST(KmipClient, RequestMessageShape) {
  Item m = requestMessage(Operation::kActivate, Item::structure(0, {Item::text(tag::kUniqueIdentifier, "7")}));
  auto back = decode(encode(m));
  ASSERT_TRUE(back.ok());
  const Item* header = back->find(tag::kRequestHeader);
  ASSERT_NE(header, nullptr);
  EXPECT_EQ(header->find(tag::kProtocolVersion)->find(tag::kProtocolVersionMinor)->number, 2);
  EXPECT_EQ(header->find(tag::kBatchCount)->number, 1);
  const Item* batch = back->find(tag::kBatchItem);
  EXPECT_EQ(batch->find(tag::kOperation)->number, 18);
  EXPECT_EQ(batch->find(tag::kRequestPayload)->find(tag::kUniqueIdentifier)->bytes, "7");
}

// Result Reasons map to error codes, with the server's message kept.
TEST(KmipClient, FailuresMapToErrorCodes) {
  const struct {
    uint32_t reason;
    ErrorCode code;
  } cases[] = {{1, ErrorCode::kNotFound},        {12, ErrorCode::kPermissionDenied}, {7, ErrorCode::kInvalidArgument},
               {11, ErrorCode::kFailedPrecondition}, {5, ErrorCode::kUnimplemented},  {3, ErrorCode::kUnauthenticated},
               {256, ErrorCode::kInternal}};
  for (const auto& c : cases) {
    auto r = responsePayload(response(Operation::kActivate, 1,
                                      {Item::enumeration(tag::kResultReason, c.reason), Item::text(tag::kResultMessage, "why")}),
                             Operation::kActivate);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code) << c.reason;
    EXPECT_NE(r.error().message.find("KMIP Activate failed (result reason " + std::to_string(c.reason) + "): why"),
              std::string::npos);
  }
  auto ok = responsePayload(response(Operation::kActivate, 0), Operation::kActivate);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->tag, tag::kResponsePayload);
  EXPECT_FALSE(responsePayload(response(Operation::kDestroy, 0), Operation::kActivate).ok()) << "answer to another operation";
  EXPECT_FALSE(responsePayload(Item::structure(tag::kRequestMessage), Operation::kActivate).ok());
  EXPECT_FALSE(responsePayload(Item::structure(tag::kResponseMessage), Operation::kActivate).ok()) << "no batch item";
}

// Connections are reused; a pooled one the server closed is replaced once for an idempotent
// call, never for Create (the request may have been processed).
TEST(KmipClient, PoolsConnectionsAndRetriesStaleOnesOnlyWhenIdempotent) {
  auto s = std::make_shared<Script>();
  const std::string ok = encode(response(Operation::kActivate, 0));
  s->connections.push_back({ok, ok});  // serves two calls, then "closes"
  s->connections.push_back({ok});
  KmipClient c(factory(s), 4);
  EXPECT_TRUE(c.call(Operation::kActivate, Item::structure(0)).ok());
  EXPECT_TRUE(c.call(Operation::kActivate, Item::structure(0)).ok());
  EXPECT_EQ(s->opened, 1);
  EXPECT_TRUE(c.call(Operation::kActivate, Item::structure(0)).ok()) << "stale connection replaced";
  EXPECT_EQ(s->opened, 2);

  auto s2 = std::make_shared<Script>();
  const std::string created = encode(response(Operation::kCreate, 0, {Item::structure(tag::kResponsePayload)}));
  s2->connections.push_back({created});
  s2->connections.push_back({created});
  KmipClient c2(factory(s2), 4);
  EXPECT_TRUE(c2.call(Operation::kCreate, Item::structure(0), false).ok());
  auto second = c2.call(Operation::kCreate, Item::structure(0), false);
  ASSERT_FALSE(second.ok()) << "no silent resend of a Create";
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s2->opened, 1);
}

// Garbage from the server is an error, and the connection is not reused.
TEST(KmipClient, MalformedResponseIsAnError) {
  auto s = std::make_shared<Script>();
  s->connections.push_back({std::string("\x42\x00\x7B\x01\x00\x00\x00\x10garbage!", 16)});
  s->connections.push_back({encode(response(Operation::kActivate, 0))});
  KmipClient c(factory(s), 4);
  auto r = c.call(Operation::kActivate, Item::structure(0));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("KMIP server response"), std::string::npos) << r.error().message;
  EXPECT_TRUE(c.call(Operation::kActivate, Item::structure(0)).ok());
  EXPECT_EQ(s->opened, 2);
}

}  // namespace
}  // namespace keygate::backends::kmip
