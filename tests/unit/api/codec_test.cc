#include "api/v1alpha1/codec.h"

#include <gtest/gtest.h>

#include "support/api_builders.h"

namespace keygate::api::v1alpha1 {
namespace {

Json parse(std::string_view s) { return *parseJson(s); }

// An EncryptionKey as the API server returns it (defaults applied, server metadata).
constexpr std::string_view kServerKey = R"({
  "apiVersion": "keygate.dev/v1alpha1", "kind": "EncryptionKey",
  "metadata": {"name": "model-weights", "namespace": "tenant-a", "uid": "9d2c", "resourceVersion": "42",
    "generation": 3, "creationTimestamp": "2027-01-15T08:00:00Z", "labels": {"tier": "prod"},
    "annotations": {"keygate.dev/created-by": "admin"}, "finalizers": ["keygate.dev/backend-cleanup"],
    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u1", "controller": true}],
    "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
    "generateName": "model-", "selfLink": ""},
  "spec": {"purpose": "Encrypt", "algorithm": "AES-256", "backend": "softhsm", "origin": "Generated",
    "activation": {"requiredApprovals": 2, "preActiveTTL": "168h", "notBefore": "2026-12-01T00:00:00Z"},
    "rotation": {"period": "2160h", "requireApproval": true}, "deactivate": false, "compromised": {"reason": ""},
    "scheduleDestruction": false, "destruction": {"policy": "Retain", "pendingWindow": "168h"},
    "jurisdiction": "EU", "affectedSystems": ["inference-gateway"]},
  "status": {"state": "PreActive", "observedGeneration": 3, "currentVersion": 1,
    "versions": [{"version": 1, "state": "PreActive", "backendKeyId": "keygate/tenant-a/9d2c/v1",
      "fingerprint": "sha256:ab", "createdAt": "2027-01-15T08:00:05Z"}],
    "preActiveExpiresAt": "2027-01-22T08:00:05Z",
    "activatedBy": {"request": "r", "approvers": ["bob", "carol"]},
    "wrappingKey": {"algorithm": "RSA_AES_KEY_WRAP_SHA_256", "publicKeyPem": "PEM", "expiresAt": "2027-01-16T08:00:00Z"},
    "selfTest": {"result": "Passed", "at": "2027-01-15T08:00:06Z"},
    "conditions": [{"type": "Ready", "status": "False", "reason": "PreActive", "message": "m",
      "observedGeneration": 3, "lastTransitionTime": "2027-01-15T08:00:05Z"}]}
})";

// Decoding then encoding a server object gives it back exactly, managedFields included.
TEST(CodecTest, EncryptionKeyRoundTripIsExact) {
  Json in = parse(kServerKey);
  auto k = decodeEncryptionKey(in);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->spec.purpose, Purpose::kEncrypt);
  EXPECT_EQ(k->spec.activation.requiredApprovals, 2);
  EXPECT_EQ(k->status.versions.at(0).backendKeyId, "keygate/tenant-a/9d2c/v1");
  EXPECT_EQ(encode(*k), in);
}

// Unknown fields the server keeps survive a status change made through the structs.
TEST(CodecTest, UnknownFieldsSurviveModification) {
  Json in = parse(kServerKey);
  in["spec"]["futureField"] = "x";
  in["status"]["futureStatus"] = 1;
  in["extraTop"] = true;
  auto k = decodeEncryptionKey(in);
  ASSERT_TRUE(k.ok());
  k->status.state = KeyState::kActive;
  Json out = encode(*k);
  EXPECT_EQ(out["metadata"]["managedFields"], in["metadata"]["managedFields"]);
  EXPECT_EQ(out["metadata"]["generateName"], "model-");
  EXPECT_EQ(out["spec"]["futureField"], "x");
  EXPECT_EQ(out["status"]["futureStatus"], 1);
  EXPECT_EQ(out["extraTop"], true);
  EXPECT_EQ(out["status"]["state"], "Active");
}

// Known fields removed in the struct disappear from the output (no stale copy from raw).
TEST(CodecTest, RemovedKnownFieldsAreNotResurrected) {
  auto k = decodeEncryptionKey(parse(kServerKey));
  ASSERT_TRUE(k.ok());
  k->metadata.finalizers.clear();
  k->spec.rotation.reset();
  Json out = encode(*k);
  EXPECT_FALSE(out["metadata"].contains("finalizers"));
  EXPECT_FALSE(out["spec"].contains("rotation"));
}

// Requests and bindings round-trip too (approval time text is kept verbatim: it is signed).
TEST(CodecTest, RequestAndBindingRoundTrip) {
  Json req = parse(R"({"apiVersion": "keygate.dev/v1alpha1", "kind": "KeyActivationRequest",
    "metadata": {"name": "activate", "namespace": "tenant-a", "managedFields": [{"manager": "m"}]},
    "spec": {"keyRef": {"name": "model-weights", "version": 1}, "reason": "Production rollout",
      "changeReference": "CHG-1234", "affectedSystems": ["a", "b"], "requester": "alice",
      "approvals": [{"approver": "bob", "decision": "Approve", "comment": "ok", "time": "2027-01-15T08:00:00.5+01:00",
        "specHash": "sha256:1", "signature": "s"}]},
    "status": {"phase": "Pending", "approvalsRequired": 2, "approvalsReceived": 1, "approvals": "1/2"}})");
  auto r = decodeKeyActivationRequest(req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(encode(*r), req);

  Json b = parse(R"({"apiVersion": "keygate.dev/v1alpha1", "kind": "KeyRoleBinding",
    "metadata": {"name": "approvers", "namespace": "tenant-a"},
    "spec": {"role": "KeyApprover", "subjects": [{"kind": "User", "name": "bob"},
      {"kind": "ServiceAccount", "name": "ci", "namespace": "tenant-a"}],
      "keySelector": {"matchLabels": {"tier": "prod"}}, "reviewBy": "2027-06-30"},
    "status": {"rbac": {"role": "keygate-keyapprover", "roleBinding": "keygate-approvers"}}})");
  auto kb = decodeKeyRoleBinding(b);
  ASSERT_TRUE(kb.ok()) << kb.error().message;
  EXPECT_EQ(encode(*kb), b);
}

// Errors name the field: unknown enum values list the supported ones, wrong types say so.
TEST(CodecTest, ErrorsNameTheField) {
  struct Case {
    std::string_view json;
    std::string_view error;
  } cases[] = {
      {R"({"spec": {"algorithm": "AES-128"}})",
       R"(spec.algorithm: unsupported value "AES-128": supported values: "AES-256", "RSA-3072", "RSA-4096", "EC-P256", "EC-P384", "HMAC-SHA256")"},
      {R"({"spec": {"activation": {"requiredApprovals": "2"}}})",
       "spec.activation.requiredApprovals: expected integer, got string"},
      {R"({"spec": {"deactivate": "yes"}})", "spec.deactivate: expected boolean, got string"},
      {R"({"spec": {"affectedSystems": ["a", 3]}})", "spec.affectedSystems[1]: expected string, got integer"},
      {R"({"spec": []})", "spec: expected object, got array"},
      {R"({"kind": "Secret"})", R"(kind: expected "EncryptionKey", got "Secret")"},
      {R"({"metadata": {"creationTimestamp": "yesterday"}})",
       R"(metadata.creationTimestamp: invalid RFC 3339 time "yesterday")"},
      {R"({"status": {"versions": [{"version": 1, "state": "Broken"}]}})",
       R"(status.versions[0].state: unsupported value "Broken": supported values: "Pending", "PreActive", "Active", "Deactivated", "Compromised", "Expired", "DestroyScheduled", "Destroyed", "Failed")"},
      {"[1,2]", "EncryptionKey: expected object, got array"},
  };
  for (const auto& c : cases) {
    auto k = decodeEncryptionKey(parse(c.json));
    ASSERT_FALSE(k.ok()) << c.json;
    EXPECT_EQ(k.error().message, c.error);
    EXPECT_EQ(k.error().code, ErrorCode::kInvalidArgument);
  }
}

// Strict decoding reports unknown spec fields (typos) like kubectl --validate=strict.
TEST(CodecTest, StrictDecodingReportsUnknownFields) {
  Json j = parse(R"({"spec": {"purpos": "Encrypt", "activation": {"requiredApproval": 2}}})");
  EXPECT_TRUE(decodeEncryptionKey(j).ok());
  auto k = decodeEncryptionKey(j, DecodeOptions{true});
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().message, "spec.activation.requiredApproval: unknown field");
}

// Truncated JSON never reaches the codec as a crash: parseJson reports it.
TEST(CodecTest, TruncatedJsonIsAnError) { EXPECT_FALSE(parseJson(R"({"spec": {"purpose": )").ok()); }

// A struct built in code encodes without null sections and decodes back equal.
TEST(CodecTest, BuiltObjectsRoundTrip) {
  auto k = testing::gen::key("k", testing::gen::withPurpose(Purpose::kSign),
                             testing::gen::withAlgorithm(Algorithm::kEcP256),
                             testing::gen::withVersion(1, KeyState::kPreActive, testing::gen::t0()));
  Json j = encode(k);
  auto back = decodeEncryptionKey(j);
  ASSERT_TRUE(back.ok());
  back->raw = Json();
  EXPECT_EQ(*back, k);
  EXPECT_EQ(encode(*back), j);
}

}  // namespace
}  // namespace keygate::api::v1alpha1
