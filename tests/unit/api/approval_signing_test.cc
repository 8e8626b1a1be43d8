// specHash canonical form, HMAC signatures, verification and tampering.

#include "api/v1alpha1/approval_signing.h"

#include <gtest/gtest.h>

#include <set>

#include "support/api_builders.h"

namespace keygate::api::v1alpha1 {
namespace {

namespace gen = keygate::testing::gen;

KeyActivationRequest req() {
  auto r = gen::request("activate", "model-weights");
  r.metadata.uid = "kar-uid";
  r.spec.affectedSystems = {"inference-gateway", "model-store"};
  r.spec.keyRef.version = 1;
  return r;
}
EncryptionKey key() { return gen::key("model-weights", gen::withPurpose(Purpose::kSign), gen::withAlgorithm(Algorithm::kEcP256)); }

// The canonical form is exactly what approval_signing.h documents (the reconciler relies on it).
TEST(ApprovalSigningTest, CanonicalFormIsDocumented) {
  auto k = key();
  k.spec.origin = Origin::kUnspecified;  // absent origin hashes as the schema default
  EXPECT_EQ(canonicalSpecJson(req().spec, k.spec),
            R"({"key":{"algorithm":"EC-P256","backend":"softhsm","origin":"Generated","purpose":"Sign"},)"
            R"("request":{"affectedSystems":["inference-gateway","model-store"],"changeReference":"CHG-1234",)"
            R"("keyRef":{"name":"model-weights","namespace":"","version":1},"reason":"Production rollout",)"
            R"("requester":"alice"},"v":1})");
  EXPECT_EQ(computeSpecHash(req().spec, k.spec).rfind("sha256:", 0), 0u);
  EXPECT_EQ(computeSpecHash(req().spec, k.spec).size(), 7u + 64u);
}

// Approvals, status and mutable key fields do not change the hash; covered fields do.
TEST(ApprovalSigningTest, SpecHashCoverage) {
  const std::string base = computeSpecHash(req().spec, key().spec);
  auto r = req();
  r.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "c", "t", "h", "s"});
  r.status.phase = RequestPhase::kApproved;
  EXPECT_EQ(computeSpecHash(r.spec, key().spec), base);
  auto k = key();
  k.spec.deactivate = true;
  k.spec.affectedSystems = {"x"};
  EXPECT_EQ(computeSpecHash(req().spec, k.spec), base);

  std::vector<std::function<void(KeyActivationRequestSpec&, EncryptionKeySpec&)>> changes = {
      [](auto& r, auto&) { r.reason += "!"; },
      [](auto& r, auto&) { r.changeReference = "CHG-9"; },
      [](auto& r, auto&) { r.affectedSystems.pop_back(); },
      [](auto& r, auto&) { r.requester = "mallory"; },
      [](auto& r, auto&) { r.keyRef.version = 2; },
      [](auto& r, auto&) { r.keyRef.name = "other"; },
      [](auto&, auto& k) { k.algorithm = Algorithm::kEcP384; },
      [](auto&, auto& k) { k.purpose = Purpose::kEncrypt; },
      [](auto&, auto& k) { k.backend = "kmip"; },
      [](auto&, auto& k) { k.origin = Origin::kExternal; },
  };
  std::set<std::string> seen{base};
  for (auto& change : changes) {
    auto rs = req().spec;
    auto ks = key().spec;
    change(rs, ks);
    EXPECT_TRUE(seen.insert(computeSpecHash(rs, ks)).second);
  }
}

// A signature verifies with the same key and fields, and fails on any change.
TEST(ApprovalSigningTest, SignVerifyTamper) {
  ApprovalSigner signer(std::string(32, '\x01'));
  SignedFields f{"kar-uid", "key-uid", "sha256:abc", "bob", "Approve", "2027-01-15T08:00:00Z", {}};
  std::string sig = signer.sign(f);
  EXPECT_EQ(sig.rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(sig.size(), 12u + 44u);
  EXPECT_TRUE(signer.verify(f, sig));

  std::vector<std::function<void(SignedFields&)>> tampers = {
      [](auto& x) { x.requestUid = "other"; }, [](auto& x) { x.keyUid = "other"; },
      [](auto& x) { x.specHash = "sha256:abd"; }, [](auto& x) { x.approver = "carol"; },
      [](auto& x) { x.decision = "Deny"; },      [](auto& x) { x.time = "2027-01-15T08:00:01Z"; },
  };
  for (auto& t : tampers) {
    auto g = f;
    t(g);
    EXPECT_FALSE(signer.verify(g, sig));
  }
  EXPECT_FALSE(ApprovalSigner(std::string(32, '\x02')).verify(f, sig));
  EXPECT_FALSE(ApprovalSigner("").verify(f, sig));
  EXPECT_EQ(ApprovalSigner("").sign(f), "");
  for (const std::string& bad : std::vector<std::string>{"", "hmac-sha256:", "hmac-sha256:!!!!", "sha256:" + sig.substr(12), sig.substr(0, sig.size() - 4),
                          sig + "AAAA"})
    EXPECT_FALSE(signer.verify(f, bad)) << bad;
  // Fields are not confusable by shifting a separator: JSON array framing.
  SignedFields a{"a", "b,c", "d", "e", "f", "g"};
  SignedFields b{"a,b", "c", "d", "e", "f", "g"};
  EXPECT_NE(signer.sign(a), signer.sign(b));
}

// checkApproval: valid, unsigned, stale specHash, signature mismatch.
TEST(ApprovalSigningTest, CheckApproval) {
  ApprovalSigner signer(std::string(32, '\x07'));
  auto r = req();
  auto k = key();
  Approval a{"bob", Decision::kApprove, "", "2027-01-15T08:00:00Z", computeSpecHash(r.spec, k.spec), ""};
  a.signature = signer.sign({r.metadata.uid, k.metadata.uid, a.specHash, a.approver, "Approve", a.time});
  EXPECT_EQ(checkApproval(signer, r, k, a), ApprovalCheck::kValid);

  auto unsignedA = a;
  unsignedA.signature.clear();
  EXPECT_EQ(checkApproval(signer, r, k, unsignedA), ApprovalCheck::kUnsigned);
  EXPECT_EQ(describe(ApprovalCheck::kUnsigned), "not signed");

  auto edited = r;
  edited.spec.changeReference = "CHG-2";
  EXPECT_EQ(checkApproval(signer, edited, k, a), ApprovalCheck::kStaleSpecHash);

  auto forged = a;
  forged.decision = Decision::kDeny;
  EXPECT_EQ(checkApproval(signer, r, k, forged), ApprovalCheck::kSignatureMismatch);
  EXPECT_EQ(describe(ApprovalCheck::kSignatureMismatch), "signature mismatch");

  auto otherKey = k;
  otherKey.metadata.uid = "recreated-key";
  EXPECT_EQ(checkApproval(signer, r, otherKey, a), ApprovalCheck::kSignatureMismatch);
}

// approverGroups are signed (payload v2); without them the payload is v1 as before, so
// entries stamped before groups were recorded still verify.
TEST(ApprovalSigningTest, ApproverGroupsAreSigned) {
  ApprovalSigner signer(std::string(32, '\x07'));
  auto r = req();
  auto k = key();
  SignedFields plain{r.metadata.uid, k.metadata.uid, "sha256:h", "carol", "Approve", "2027-01-15T08:00:00Z", {}};
  EXPECT_EQ(signaturePayload(plain),
            "[\"keygate.dev/approval/v1\",\"" + r.metadata.uid + "\",\"" + k.metadata.uid +
                "\",\"sha256:h\",\"carol\",\"Approve\",\"2027-01-15T08:00:00Z\"]");
  SignedFields grouped = plain;
  grouped.approverGroups = {"security-officers"};
  EXPECT_EQ(signaturePayload(grouped),
            "[\"keygate.dev/approval/v2\",\"" + r.metadata.uid + "\",\"" + k.metadata.uid +
                "\",\"sha256:h\",\"carol\",\"Approve\",\"2027-01-15T08:00:00Z\",[\"security-officers\"]]");

  Approval a{"carol", Decision::kApprove, "", "2027-01-15T08:00:00Z", computeSpecHash(r.spec, k.spec), "",
             {"security-officers"}};
  a.signature = signer.sign({r.metadata.uid, k.metadata.uid, a.specHash, a.approver, "Approve", a.time, a.approverGroups});
  EXPECT_EQ(checkApproval(signer, r, k, a), ApprovalCheck::kValid);
  auto widened = a;  // claiming a group the webhook did not record
  widened.approverGroups.push_back("platform-admins");
  EXPECT_EQ(checkApproval(signer, r, k, widened), ApprovalCheck::kSignatureMismatch);
  auto dropped = a;  // or dropping the recorded one
  dropped.approverGroups.clear();
  EXPECT_EQ(checkApproval(signer, r, k, dropped), ApprovalCheck::kSignatureMismatch);
}

// Generated signing keys are 32 random bytes.
TEST(ApprovalSigningTest, GenerateSigningKey) {
  auto a = generateSigningKey();
  auto b = generateSigningKey();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->size(), kSigningKeyBytes);
  EXPECT_NE(*a, *b);
}

// base64 round trip and strict decoding (RFC 4648 vectors).
TEST(ApprovalSigningTest, Base64) {
  std::pair<std::string, std::string> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    EXPECT_EQ(base64Encode(plain), enc);
    auto d = base64Decode(enc);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, plain);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(char(i));
  EXPECT_EQ(*base64Decode(base64Encode(bytes)), bytes);
  for (const char* bad : {"Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="}) EXPECT_FALSE(base64Decode(bad).ok()) << bad;
}

}  // namespace
}  // namespace keygate::api::v1alpha1
