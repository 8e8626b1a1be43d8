// parseJson: simdjson lexes, nlohmann holds the tree; nlohmann's own parser is the reference
// for every verdict, value and number type.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/json.h"

namespace keygate {
namespace {

Json reference(std::string_view text) { return Json::parse(text.begin(), text.end(), nullptr, false); }

// The same value with the same number kinds all the way down (operator== calls 1 and 1u equal).
bool sameTree(const Json& a, const Json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !sameTree(it.value(), b.at(it.key()))) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!sameTree(a[i], b[i])) return false;
    return true;
  }
  return a == b && a.dump() == b.dump();
}

void expectAsNlohmann(std::string_view text) {
  SCOPED_TRACE(std::string(text.substr(0, 200)));
  Result<Json> got = parseJson(text);
  Json want = reference(text);
  ASSERT_EQ(got.ok(), !want.is_discarded());
  if (got.ok()) {
    EXPECT_TRUE(sameTree(*got, want)) << got->dump() << " vs " << want.dump();
  }
}

TEST(ParseJson, EdgeCasesAgreeWithNlohmann) {
  const char* cases[] = {
      "0", "-1", "1.0", "1E2", "-0.0", "0.1e-999999", "[1e-400]", "18446744073709551615",
      "18446744073709551616",  // beyond 64 bits: simdjson refuses, nlohmann reads a double
      "-9223372036854775808", "-9223372036854775809", "123456789012345678901234567890", "1e400",
      R"({"a":1,"a":2})", R"({"a":{"b":[true,false,null,"x\u0000y"]}})", R"("\ud800\udc00")", R"("\ud800")",
      R"("\udc00")", "[1,]", "{} x", "{}\n", "  {}  ", "", "   ", "nul", "[", "{\"a\"", "\"\xff\"", "\"\xc3\xa9\"",
      "[[[[[[[[[[]]]]]]]]]]", "{\"\":\"\"}", "\"\\/\\b\\f\\n\\r\\t\""};
  for (const char* c : cases) expectAsNlohmann(c);
  // Text after a NUL (the old transport's padding): nlohmann stops there, and so do we.
  expectAsNlohmann(std::string_view("{\"a\":1}\0\0\0", 10));
  // Refusals keep nlohmann's message with its position.
  Result<Json> bad = parseJson("{\"a\": tru}");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("invalid JSON"), std::string::npos);
  EXPECT_NE(bad.error().message.find("column 10"), std::string::npos) << bad.error().message;
}

// "-0" is the one known difference: simdjson reads integer 0 without its sign, so the tree
// holds unsigned 0 where nlohmann holds signed 0. Equal, and written alike.
TEST(ParseJson, MinusZeroIsZero) {
  Result<Json> got = parseJson("[-0]");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, reference("[-0]"));
  EXPECT_EQ(got->dump(), "[0]");
}

Json randomValue(std::mt19937& rng, int depth) {
  static const char* strings[] = {"", "a", "<&>", "\xc3\xa9", "\xf0\x9f\x94\x91", "q\"uote", "back\\slash", "nl\n", "\x01"};
  switch (rng() % (depth > 4 ? 5 : 7)) {
    case 0: return strings[rng() % 9];
    case 1: return static_cast<int64_t>(rng()) - (1LL << 31);
    case 2: return (rng() % 2) ? Json(static_cast<double>(rng()) / 7.0) : Json(rng() % 2 == 0);
    case 3: return nullptr;
    case 4: return static_cast<uint64_t>(rng()) << 32 | rng();
    case 5: {
      Json a = Json::array();
      for (int i = rng() % 5; i > 0; --i) a.push_back(randomValue(rng, depth + 1));
      return a;
    }
    default: {
      Json o = Json::object();
      for (int i = rng() % 5; i > 0; --i) o[strings[rng() % 9] + std::to_string(rng() % 3)] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

TEST(ParseJson, RandomDocumentsAndTheirMutationsAgreeWithNlohmann) {
  std::mt19937 rng(42);
  for (int i = 0; i < 3000; ++i) {
    std::string text = randomValue(rng, 0).dump();
    expectAsNlohmann(text);
    // One to three byte-level mutations: mostly refusals, some still valid documents.
    for (int m = rng() % 3; m >= 0 && !text.empty(); --m) {
      size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = static_cast<char>(rng() % 256); break;
        case 1: text.erase(at, 1); break;
        default: text.insert(at, 1, "{}[],:\"0-e.\\ u"[rng() % 15]); break;
      }
    }
    expectAsNlohmann(text);
  }
}

TEST(ParseJson, ALargeDocumentAfterwardsStillParsesSmallOnes) {
  // A list page of several MB makes the thread's parser give its buffers back afterwards.
  std::string big = "[";
  for (int i = 0; i < 60000; ++i) big += (i ? ",\"" : "\"") + std::string(90, 'x') + "\"";
  big += "]";
  Result<Json> got = parseJson(big);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 60000u);
  expectAsNlohmann(R"({"small":[1,2,3]})");
}

}  // namespace
}  // namespace keygate
