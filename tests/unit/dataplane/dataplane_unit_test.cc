// Key names, the ciphertext format and the authenticators, without sockets or an HSM.
#include <gtest/gtest.h>

#include <random>

#include "dataplane/ciphertext.h"
#include "dataplane/identity.h"
#include "dataplane/key_name.h"
#include "support/fake_clock.h"

namespace keygate::dataplane {
namespace {

TEST(KeyName, ParsesAndRefusesWithTheRule) {
  auto k = parseKeyName("tenant-a/model-weights", false);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->ns, "tenant-a");
  EXPECT_EQ(k->name, "model-weights");
  EXPECT_EQ(k->version, 0);
  auto v = parseKeyName("tenant-a/model.weights@12", true);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->version, 12);
  EXPECT_EQ(v->withVersion(3), "tenant-a/model.weights@3");
  struct Bad {
    std::string text;
    bool allowVersion;
    std::string part;
  };
  for (const auto& b : std::vector<Bad>{{"", false, "required"},
                                        {"noslash", false, "expected NAMESPACE/NAME"},
                                        {"Tenant/x", false, "namespace must be a DNS label"},
                                        {"tenant-a/", false, "name must be a DNS subdomain"},
                                        {"tenant-a/a/b", false, "name must be"},
                                        {"tenant-a/x@1", false, "drop \"@VERSION\""},
                                        {"tenant-a/x@0", true, "positive integer"},
                                        {"tenant-a/x@-1", true, "positive integer"},
                                        {"tenant-a/x@1x", true, "positive integer"},
                                        {"tenant-a/x@", true, "positive integer"},
                                        {std::string(64, 'a') + "/x", false, "DNS label"},
                                        {std::string("tenant-a/\x01\xff"), false, "name must be"}}) {
    auto r = parseKeyName(b.text, b.allowVersion);
    ASSERT_FALSE(r.ok()) << b.text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(b.part), std::string::npos) << r.error().message;
    // Control bytes never reach messages (logs, terminals).
    for (char c : r.error().message) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << r.error().message;
  }
}

TEST(KeyName, VersionIdIsStableDistinctAndHex) {
  const std::string a = keyVersionId("0b7c8a52-1a8e-4a5b-9d0e-3f1f2a4b5c6d", 1);
  EXPECT_EQ(a, keyVersionId("0b7c8a52-1a8e-4a5b-9d0e-3f1f2a4b5c6d", 1));
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  // Another version, another key with the same name (new uid), and no ambiguity between
  // uid "x1" version 2 and uid "x" version 12.
  EXPECT_NE(a, keyVersionId("0b7c8a52-1a8e-4a5b-9d0e-3f1f2a4b5c6d", 2));
  EXPECT_NE(a, keyVersionId("6a1d0c3e-0000-4000-8000-000000000000", 1));
  EXPECT_NE(keyVersionId("x1", 2), keyVersionId("x", 12));
}

TEST(Ciphertext, HeaderRoundTripsAndBadInputIsRefused) {
  auto h = encodeHeader({CipherAlgorithm::kAes256Gcm, 0x01020304});
  ASSERT_EQ(h.size(), kCiphertextHeaderSize);
  std::vector<uint8_t> ct = h;
  ct.resize(h.size() + 12 + 16 + 5, 0xAA);
  auto p = parseCiphertext(ct);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->header.keyVersion, 0x01020304u);
  EXPECT_EQ(p->iv.size(), 12u);
  EXPECT_EQ(p->body.size(), 21u);
  auto msg = [](std::vector<uint8_t> b) {
    auto r = parseCiphertext(b);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(msg({}).find("empty"), std::string::npos);
  EXPECT_NE(msg({'h', 'e', 'l', 'l', 'o', '!', '!', '!'}).find("not a Keygate ciphertext"), std::string::npos);
  auto v2 = ct;
  v2[1] = 2;
  EXPECT_NE(msg(v2).find("format version 2"), std::string::npos);
  auto alg = ct;
  alg[2] = 9;
  EXPECT_NE(msg(alg).find("unknown algorithm"), std::string::npos);
  auto zero = encodeHeader({CipherAlgorithm::kAes256Gcm, 0});
  zero.resize(40);
  EXPECT_NE(msg(zero).find("version 0"), std::string::npos);
  EXPECT_NE(msg(std::vector<uint8_t>(ct.begin(), ct.begin() + 30)).find("truncated"), std::string::npos);
  // Every truncation and random garbage: an error or a parse, never a crash or an overread.
  std::mt19937 rng(7);
  for (size_t n = 0; n < ct.size(); ++n) (void)parseCiphertext(std::vector<uint8_t>(ct.begin(), ct.begin() + n));
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> r(rng() % 64);
    for (auto& b : r) b = static_cast<uint8_t>(rng());
    if (!r.empty() && i % 2) r[0] = kCiphertextMagic;
    if (r.size() > 1 && i % 4 == 1) r[1] = 1;
    auto q = parseCiphertext(r);
    if (q.ok()) {
      EXPECT_LE(q->iv.size() + q->body.size() + kCiphertextHeaderSize, r.size());
    }
  }
}

TEST(TokenReviewAuthenticator, CachesVerdictsChecksAudienceAndBoundsByExpiry) {
  keygate::testing::FakeClock clock;
  int reviews = 0;
  Json answer;
  TokenReviewAuthenticatorOptions o;
  o.clock = &clock;
  o.cacheTtl = std::chrono::seconds(30);
  o.negativeCacheTtl = std::chrono::seconds(5);
  TokenReviewAuthenticator a(
      [&](const Json& body) -> Result<Json> {
        ++reviews;
        EXPECT_EQ(body["spec"]["audiences"], Json({"keygate.dev"}));
        return answer;
      },
      o);
  answer = {{"status",
             {{"authenticated", true},
              {"user", {{"username", "system:serviceaccount:tenant-a:app"}, {"uid", "u1"}, {"groups", {"system:serviceaccounts"}}}},
              {"audiences", {"keygate.dev"}}}}};
  Credentials c;
  c.bearerToken = "tok-1";
  auto r = a.authenticate(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->serviceAccountNamespace(), "tenant-a");
  EXPECT_TRUE(a.authenticate(c).ok());
  EXPECT_EQ(reviews, 1);
  clock.advance(std::chrono::seconds(31));
  EXPECT_TRUE(a.authenticate(c).ok());
  EXPECT_EQ(reviews, 2);  // expired: asked again

  // A verdict without our audience is a rejection even if "authenticated".
  answer["status"]["audiences"] = Json::array({"other.dev"});
  c.bearerToken = "tok-2";
  auto wrong = a.authenticate(c);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(wrong.error().message.find("audience"), std::string::npos);
  // Rejections are cached briefly (no TokenReview flood), then asked again.
  EXPECT_FALSE(a.authenticate(c).ok());
  EXPECT_EQ(reviews, 3);
  clock.advance(std::chrono::seconds(6));
  EXPECT_FALSE(a.authenticate(c).ok());
  EXPECT_EQ(reviews, 4);

  // A TokenReview that fails is UNAVAILABLE and not cached.
  TokenReviewAuthenticator down([&](const Json&) -> Result<Json> { return makeError(ErrorCode::kUnavailable, "refused"); }, o);
  auto u = down.authenticate(c);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, ErrorCode::kUnavailable);

  // No credentials at all.
  auto none = a.authenticate(Credentials{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kUnauthenticated);
  // A verified client certificate is accepted only when certificates are configured.
  Credentials cert;
  cert.certificateVerified = true;
  cert.certificateCommonName = "kms-plugin";
  cert.certificateOrganizations = {"keygate:kms"};
  EXPECT_FALSE(a.authenticate(cert).ok());
  o.acceptCertificates = true;
  TokenReviewAuthenticator withCerts([&](const Json&) -> Result<Json> { return answer; }, o);
  auto ci = withCerts.authenticate(cert);
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ(ci->user.username, "kms-plugin");
  EXPECT_EQ(ci->user.groups, (std::vector<std::string>{"keygate:kms", "system:authenticated"}));
  EXPECT_EQ(ci->serviceAccountNamespace(), "");
}

TEST(TokenReviewAuthenticator, JwtExpiryBoundsTheCache) {
  // header {"alg":"none"} . claims {"exp":1000} . (no signature)
  EXPECT_EQ(jwtExpiry("eyJhbGciOiJub25lIn0.eyJleHAiOjEwMDB9."), 1000);
  EXPECT_EQ(jwtExpiry("not-a-jwt"), 0);
  EXPECT_EQ(jwtExpiry("a.b.c"), 0);
}

TEST(StaticTokenAuthenticator, KubeApiserverTokenFileFormat) {
  auto a = StaticTokenAuthenticator::parse(
      "# comment\n"
      "t1,system:serviceaccount:tenant-demo:model-server,u1,\"system:serviceaccounts,system:serviceaccounts:tenant-demo\"\n"
      "t2,alice,u2\n",
      "tokens.csv");
  ASSERT_TRUE(a.ok()) << a.error().message;
  Credentials c;
  c.bearerToken = "t1";
  auto r = (*a)->authenticate(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->user.groups, (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:tenant-demo",
                                                      "system:authenticated"}));
  c.bearerToken = "t3";
  EXPECT_EQ((*a)->authenticate(c).error().code, ErrorCode::kUnauthenticated);
  auto bad = StaticTokenAuthenticator::parse("t1,alice\n", "tokens.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("tokens.csv:1:"), std::string::npos);
  auto dup = StaticTokenAuthenticator::parse("t1,a,u\nt1,b,u\n", "f");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("f:2: duplicate token"), std::string::npos);
}

}  // namespace
}  // namespace keygate::dataplane
