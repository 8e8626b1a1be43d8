// kube/meta_scan and kube/list_pages: the list-metadata and object-version scans (what a full decode would say, or nothing), and the
// pipelined walk: the next page asked for before the current one is consumed, pages in order
// and each once, at most two pages ahead, and every way a walk ends leaves no task behind.
#include "kube/meta_scan.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>

#include "common/json.h"
#include "kube/client.h"
#include "kube/resource.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;

std::optional<ListMeta> decoded(const std::string& body) {
  auto j = parseJson(body);
  if (!j.ok() || !j->is_object()) return std::nullopt;
  return ListMeta{getString(*j, "metadata.continue"), getString(*j, "metadata.resourceVersion")};
}

TEST(ListMetaScan, ReadsTheListsOwnMetadataWhereverItIs) {
  // Custom resources: keys sorted, metadata after the items (as kube-apiserver writes them).
  const std::string cr =
      R"({"apiVersion":"keygate.dev/v1alpha1","items":[{"metadata":{"name":"a","labels":{"continue":"no"},)"
      R"("annotations":{"x":"\"metadata\":{\"continue\":\"fake\"}","y":"}]{[\\"}},"spec":{"n":[1,2.5e3,-4,true,null]}}],)"
      R"("kind":"EncryptionKeyList","metadata":{"continue":"eyJ2IjoxfQ","remainingItemCount":7,"resourceVersion":"42"}})"
      "\n";
  auto m = scanListMeta(cr);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->continueToken, "eyJ2IjoxfQ");
  EXPECT_EQ(m->resourceVersion, "42");
  // Built-ins: metadata first; the last page has an empty (or no) continue.
  auto b = scanListMeta(R"( { "kind" : "SecretList", "apiVersion":"v1", "metadata" : {"resourceVersion":"9"}, "items" : [ ] } )");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->continueToken, "");
  EXPECT_EQ(b->resourceVersion, "9");
}

TEST(ListMetaScan, AnythingItCannotReadIsLeftToTheDecoder) {
  for (const char* body : {"", "[]", "null", R"({"items":[]})", R"({"metadata":{"continue":5}})",
                           R"({"metadata":{"continue":"x"})", R"({"metadata":{"continue":"x"}} trailing)",
                           R"({"items":[{"a":"unterminated}],"metadata":{}})", R"({"metadata":"x"})",
                           R"({"items":[}],"metadata":{}})", R"({"metadata" {}})", R"({"a":1 "metadata":{}})"})
    EXPECT_FALSE(scanListMeta(body)) << body;
  // Two metadata members: the last, as the decoder keeps it.
  auto twice = scanListMeta(R"({"metadata":{"continue":"first"},"metadata":{"continue":"second"}})");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->continueToken, "second");
  EXPECT_EQ(decoded(R"({"metadata":{"continue":"first"},"metadata":{"continue":"second"}})")->continueToken, "second");
}

// Random list bodies with hostile strings: whenever the scan answers, it answers what a full
// decode says.
TEST(ListMetaScan, AgreesWithTheDecoderOnRandomBodies) {
  std::mt19937 rng(11);
  const std::vector<std::string> pieces = {"\"", "\\", "{", "}", "[", "]", ":", ",", "metadata", "continue", "é", " ", "\n"};
  int answered = 0;
  for (int n = 0; n < 2000; ++n) {
    Json items = Json::array();
    for (int i = 0; i < 3; ++i) {
      std::string s;
      for (int k = 0; k < 8; ++k) s += pieces[rng() % pieces.size()];
      items.push_back({{"metadata", {{"name", s}, {"labels", {{s, s}}}}}, {"continue", s}});
    }
    Json list = {{"kind", "L"}, {"items", items}, {"metadata", {{"continue", "tok" + std::to_string(n)}, {"resourceVersion", "1"}}}};
    std::string body = dumpJson(list);
    if (n % 3 == 1) body = body.substr(0, rng() % body.size());  // cut short: never a wrong answer
    auto m = scanListMeta(body);
    auto d = decoded(body);
    if (!m) continue;
    ++answered;
    ASSERT_TRUE(d) << body;
    EXPECT_EQ(m->continueToken, d->continueToken) << body;
    EXPECT_EQ(m->resourceVersion, d->resourceVersion) << body;
  }
  EXPECT_GT(answered, 1000);
}

// An object's metadata.resourceVersion (the answer to a status PUT), and nothing where a decoder
// would say something else: look-alikes in labels, annotations, managedFields and spec, a
// top-level resourceVersion, escapes, truncation.
TEST(ObjectVersionScan, ReadsTheObjectsOwnResourceVersionOnly) {
  const std::string key =
      R"({"apiVersion":"keygate.dev/v1alpha1","kind":"EncryptionKey","resourceVersion":"top",)"
      R"("metadata":{"annotations":{"resourceVersion":"ann","x":"\"resourceVersion\":\"fake\""},)"
      R"("labels":{"resourceVersion":"lab"},"managedFields":[{"fieldsV1":{"f:metadata":{"f:resourceVersion":{}}},)"
      R"("manager":"m","resourceVersion":"mf"}],"name":"k","resourceVersion":"1234","uid":"u"},)"
      R"("spec":{"resourceVersion":"spec"},"status":{"versions":[{"resourceVersion":"st"}]}})";
  EXPECT_EQ(scanObjectResourceVersion(key), "1234");
  EXPECT_EQ(getString(*parseJson(key), "metadata.resourceVersion"), "1234");
  for (const char* body : {"", "{}", R"({"metadata":{}})", R"({"metadata":{"resourceVersion":5}})",
                           R"({"metadata":{"resourceVersion":""}})", R"({"metadata":{"resourceVersion":"1\u0032"}})",
                           R"({"metadata":{"resourceVersion":"12"})", R"({"metadata":{"resourceVersion":"12"}} x)",
                           R"({"metadata":{"resourceVersion" "12"}})", R"({"resourceVersion":"12"})",
                           R"({"metadata":[{"resourceVersion":"12"}]})"})
    EXPECT_FALSE(scanObjectResourceVersion(body)) << body;
  // Two metadata members, two resourceVersions: the last of each, as the decoder keeps them.
  const std::string twice = R"({"metadata":{"resourceVersion":"1"},"metadata":{"resourceVersion":"2","resourceVersion":"3"}})";
  EXPECT_EQ(scanObjectResourceVersion(twice), "3");
  EXPECT_EQ(getString(*parseJson(twice), "metadata.resourceVersion"), "3");
}

TEST(ObjectVersionScan, AgreesWithTheDecoderOnRandomBodies) {
  std::mt19937 rng(17);
  const std::vector<std::string> pieces = {"\"", "\\", "{", "}", "[", "]", ":", ",", "metadata", "resourceVersion", "é", " "};
  int answered = 0;
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    for (int k = 0; k < 8; ++k) s += pieces[rng() % pieces.size()];
    Json obj = {{"kind", "EncryptionKey"},
                {"metadata", {{"name", s}, {"labels", {{s, s}}}, {"resourceVersion", std::to_string(n)},
                              {"managedFields", Json::array({{{"manager", s}, {"resourceVersion", s}}})}}},
                {"spec", {{s, {{"resourceVersion", s}}}}}};
    std::string body = dumpJson(obj);
    if (n % 3 == 1) body = body.substr(0, rng() % body.size());  // cut short: never a wrong answer
    auto rv = scanObjectResourceVersion(body);
    if (!rv) continue;
    ++answered;
    auto d = parseJson(body);
    ASSERT_TRUE(d.ok()) << body;
    EXPECT_EQ(*rv, getString(*d, "metadata.resourceVersion")) << body;
  }
  EXPECT_GT(answered, 1000);
}

// Pages "p0".."pN-1" of two items each, served undecoded; page k's continue token is "k+1".
class PagedRawClient : public Client {
 public:
  explicit PagedRawClient(int pages) : pages_(pages) {}
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> asked;  // continue tokens, in the order pages were asked for
  std::map<std::string, Error> failOnce;  // continue token -> error for its first request
  bool raw = true;

  Result<std::string> listRaw(const Resource&, const std::string&, const ListOptions& o) override {
    if (!raw) return makeError(ErrorCode::kUnimplemented, "no");
    return body(o);
  }
  Result<Json> list(const Resource&, const std::string&, const ListOptions& o) override {
    ASSIGN_OR_RETURN(std::string b, body(o));
    return parseJson(b);
  }
  size_t askedCount() {
    std::lock_guard<std::mutex> l(mu);
    return asked.size();
  }
  bool waitAsked(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, 5s, [&] { return asked.size() >= n; });
  }
  Result<Json> get(const Resource&, const std::string&, const std::string&, const std::string&) override { return no(); }
  Result<Json> create(const Resource&, const std::string&, const Json&) override { return no(); }
  Result<Json> update(const Resource&, const std::string&, const Json&, const std::string&) override { return no(); }
  Result<Json> patch(const Resource&, const std::string&, const std::string&, PatchType, const std::string&,
                     const PatchOptions&) override {
    return no();
  }
  Result<DeleteResult> remove(const Resource&, const std::string&, const std::string&, const DeleteOptions&) override {
    return makeError(ErrorCode::kUnimplemented, "");
  }
  Result<WatchStreamPtr> watch(const Resource&, const std::string&, const WatchOptions&) override {
    return makeError(ErrorCode::kUnimplemented, "");
  }

 private:
  static Error no() { return makeError(ErrorCode::kUnimplemented, ""); }
  Result<std::string> body(const ListOptions& o) {
    std::lock_guard<std::mutex> l(mu);
    asked.push_back(o.continueToken);
    cv.notify_all();
    if (auto f = failOnce.find(o.continueToken); f != failOnce.end()) {
      Error e = f->second;
      failOnce.erase(f);
      return e;
    }
    const int k = o.continueToken.empty() ? 0 : std::stoi(o.continueToken);
    Json items = Json::array({{{"metadata", {{"name", "p" + std::to_string(k) + "a"}}}},
                              {{"metadata", {{"name", "p" + std::to_string(k) + "b"}}}}});
    Json meta = {{"resourceVersion", std::to_string(100 + k)}};
    if (k + 1 < pages_) meta["continue"] = std::to_string(k + 1);
    return dumpJson(Json{{"apiVersion", "v1"}, {"items", items}, {"kind", "L"}, {"metadata", meta}});
  }
  int pages_;
};

std::vector<std::string> names(const std::vector<Json>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(getString(i, "metadata.name"));
  return out;
}

TEST(ListPages, AsksForTheNextPageBeforeTheCurrentOneIsConsumedAndKeepsOrder) {
  for (bool raw : {true, false}) {
    PagedRawClient c(5);
    c.raw = raw;
    std::vector<std::string> seen;
    bool nextAskedWhileConsuming = true;
    auto rv = listPages(c, resources::encryptionKeys(), "ns", ListOptions{}, [&] { seen.clear(); },
                        [&](std::vector<Json>&& page) {
                          const size_t before = seen.size() / 2;  // pages consumed before this one
                          for (auto& n : names(page)) seen.push_back(n);
                          if (before + 1 < 5) nextAskedWhileConsuming &= c.waitAsked(before + 2);
                        });
    ASSERT_TRUE(rv.ok()) << rv.error().toString();
    EXPECT_EQ(*rv, "100") << "the first page's resourceVersion";
    EXPECT_EQ(seen, (std::vector<std::string>{"p0a", "p0b", "p1a", "p1b", "p2a", "p2b", "p3a", "p3b", "p4a", "p4b"}));
    EXPECT_EQ(c.asked, (std::vector<std::string>{"", "1", "2", "3", "4"})) << "each page once, in order";
    EXPECT_TRUE(nextAskedWhileConsuming) << (raw ? "raw" : "decoded");
  }
}

TEST(ListPages, NeverMoreThanTwoPagesAhead) {
  PagedRawClient c(20);
  size_t consumed = 0, maxAhead = 0;
  auto rv = listPages(c, resources::encryptionKeys(), "ns", ListOptions{}, [] {}, [&](std::vector<Json>&&) {
    std::this_thread::sleep_for(5ms);  // a slow consumer: the fetchers would run ahead
    maxAhead = std::max(maxAhead, c.askedCount() - consumed);
    ++consumed;
  });
  ASSERT_TRUE(rv.ok());
  EXPECT_EQ(consumed, 20u);
  EXPECT_LE(maxAhead, 3u) << "the page being consumed and at most two more";
}

TEST(ListPages, AnExpiredContinueTokenStartsOverOnceAndOtherErrorsEndTheWalk) {
  PagedRawClient gone(4);
  gone.failOnce["2"] = makeError(ErrorCode::kGone, "continue token too old");
  int starts = 0;
  std::vector<std::string> seen;
  auto rv = listPages(gone, resources::encryptionKeys(), "ns", ListOptions{}, [&] { ++starts, seen.clear(); },
                      [&](std::vector<Json>&& page) {
                        for (auto& n : names(page)) seen.push_back(n);
                      });
  ASSERT_TRUE(rv.ok()) << rv.error().toString();
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(seen.size(), 8u) << "the second walk, whole";

  PagedRawClient broken(6);
  broken.failOnce["3"] = makeError(ErrorCode::kUnavailable, "connection reset");
  int pages = 0;
  auto err = listPages(broken, resources::encryptionKeys(), "ns", ListOptions{}, [] {}, [&](std::vector<Json>&&) { ++pages; });
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(broken.askedCount(), 4u) << "nothing asked after the failed page";
}

TEST(ListPages, AConsumerThatThrowsLeavesNoTaskBehind) {
  PagedRawClient c(50);
  EXPECT_THROW(listPages(c, resources::encryptionKeys(), "ns", ListOptions{}, [] {},
                         [](std::vector<Json>&&) { throw std::runtime_error("consumer failed"); }),
               std::runtime_error);
  const size_t asked = c.askedCount();
  EXPECT_LE(asked, 3u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(c.askedCount(), asked) << "nothing is asked after the walk ended";
}

TEST(ListPages, AnUndecodableRawPageIsAnError) {
  struct Garbage : PagedRawClient {
    Garbage() : PagedRawClient(1) {}
    Result<std::string> listRaw(const Resource&, const std::string&, const ListOptions&) override {
      return std::string("{\"items\":[}");
    }
  } c;
  auto rv = listPages(c, resources::encryptionKeys(), "ns", ListOptions{}, [] {}, [](std::vector<Json>&&) {});
  ASSERT_FALSE(rv.ok());
  EXPECT_EQ(rv.error().code, ErrorCode::kInternal);
  EXPECT_NE(rv.error().message.find("undecodable response"), std::string::npos);
}

}  // namespace
}  // namespace keygate::kube
