// AdmissionReview parsing and encoding, dispatch, and bad input through handle() (the exact
// path the HTTPS server takes, without sockets).

#include <gmock/gmock.h>

#include <fstream>
#include <random>
#include <sstream>

#include "fixture.h"
#include "support/temp_dir.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;

class AdmissionTest : public WebhookFixture {
 protected:
  Json reviewJson(const AdmissionRequest& r) {
    Json req = {{"uid", r.uid},
                {"kind", {{"group", r.kind.group}, {"version", r.kind.version}, {"kind", r.kind.kind}}},
                {"resource", {{"group", r.kind.group}, {"version", r.kind.version}, {"resource", r.resource}}},
                {"name", r.name},
                {"namespace", r.namespace_},
                {"operation", r.operation},
                {"userInfo", {{"username", r.userInfo.username}, {"uid", r.userInfo.uid}, {"groups", r.userInfo.groups}}},
                {"object", r.object},
                {"oldObject", r.oldObject},
                {"dryRun", false}};
    return {{"kind", "AdmissionReview"}, {"apiVersion", "admission.k8s.io/v1"}, {"request", req}};
  }
  Json keyCreateReview() { return reviewJson(review("EncryptionKey", "CREATE", encode(gen::key("k1")), Json(), who("frank"))); }
};

// The AdmissionReview recorded from a real kube-apiserver (12a) parses field by field.
TEST_F(AdmissionTest, ParsesRecordedReview) {
  const char* body = R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{
    "uid":"04bdf1d9-6e19-435a-a88b-310dda7ab615",
    "kind":{"group":"example.test","version":"v1","kind":"Widget"},
    "resource":{"group":"example.test","version":"v1","resource":"widgets"},
    "requestKind":{"group":"example.test","version":"v1","kind":"Widget"},
    "requestResource":{"group":"example.test","version":"v1","resource":"widgets"},
    "name":"wh1","namespace":"tenant-a","operation":"CREATE",
    "userInfo":{"username":"alice","uid":"uid-alice","groups":["system:authenticated"]},
    "object":{"apiVersion":"example.test/v1","kind":"Widget","metadata":{"name":"wh1","namespace":"tenant-a"},"spec":{"size":3}},
    "oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}})";
  auto r = parseAdmissionReview(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->uid, "04bdf1d9-6e19-435a-a88b-310dda7ab615");
  EXPECT_EQ(r->kind, (GroupVersionKind{"example.test", "v1", "Widget"}));
  EXPECT_EQ(r->resource, "widgets");
  EXPECT_EQ(r->operation, "CREATE");
  EXPECT_EQ(r->userInfo, (UserInfo{"alice", "uid-alice", {"system:authenticated"}}));
  EXPECT_TRUE(r->oldObject.is_null());
  EXPECT_EQ(r->object["spec"]["size"], 3);
  // A Widget is not ours: a clean 400 denial, echoing the uid.
  auto reply = handler_.handle(Endpoint::kValidate, body);
  EXPECT_EQ(reply.status, 200);
  Json out = Json::parse(reply.body);
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  EXPECT_EQ(out["response"]["uid"], "04bdf1d9-6e19-435a-a88b-310dda7ab615");
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 400);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(),
              HasSubstr("handles only keygate.dev kinds, got example.test/v1 Widget"));
}

// Response encoding: uid, patchType + base64 patch, status on denial, warnings (12a/12c shapes).
TEST_F(AdmissionTest, EncodesResponses) {
  AdmissionResponse allow = AdmissionResponse::allow("u1");
  allow.patch = Json::array({{{"op", "add"}, {"path", "/metadata/annotations"}, {"value", {{"a", "b"}}}}});
  allow.warnings = {"w1", "w2"};
  Json j = encodeAdmissionReview(allow);
  EXPECT_EQ(j["response"]["uid"], "u1");
  EXPECT_EQ(j["response"]["allowed"], true);
  EXPECT_EQ(j["response"]["patchType"], "JSONPatch");
  EXPECT_EQ(Json::parse(*base64Decode(j["response"]["patch"].get<std::string>())), allow.patch);
  EXPECT_EQ(j["response"]["warnings"], Json::array({"w1", "w2"}));
  EXPECT_FALSE(j["response"].contains("status"));

  Json d = encodeAdmissionReview(AdmissionResponse::deny("u2", 403, "Forbidden", "no"));
  EXPECT_EQ(d["response"]["allowed"], false);
  EXPECT_EQ(d["response"]["status"]["code"], 403);
  EXPECT_EQ(d["response"]["status"]["reason"], "Forbidden");
  EXPECT_EQ(d["response"]["status"]["message"], "no");
  EXPECT_FALSE(d["response"].contains("patch"));

  Json plain = encodeAdmissionReview(AdmissionResponse::allow("u3"));
  EXPECT_EQ(plain, Json::parse(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u3","allowed":true}})"));
}

// JSON pointer escaping per RFC 6901.
TEST_F(AdmissionTest, JsonPointerEscape) {
  EXPECT_EQ(jsonPointerEscape("keygate.dev/created-by"), "keygate.dev~1created-by");
  EXPECT_EQ(jsonPointerEscape("a~b/c"), "a~0b~1c");
}

// Bodies that are not a v1 AdmissionReview answer HTTP 400 with a Status naming the problem.
TEST_F(AdmissionTest, MalformedBodiesAre400) {
  struct Case {
    std::string body;
    std::string message;
  } cases[] = {
      {"", "invalid JSON"},
      {"{", "invalid JSON"},
      {"[1,2]", "the body must be a JSON object"},
      {"null", "the body must be a JSON object"},
      {R"({"kind":"Pod","apiVersion":"v1"})", "expected kind AdmissionReview, got \"Pod\""},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"x"}})",
       "unsupported apiVersion \"admission.k8s.io/v1beta1\": keygate serves admission.k8s.io/v1 only"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"})", "request is missing"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"operation":"CREATE"}})",
       "request.uid is missing"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}})",
       "request.uid must be a string"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x","operation":"CREATE","userInfo":"alice"}})",
       "request.userInfo must be an object"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x","operation":"CREATE","userInfo":{"username":"a","groups":[1]}}})",
       "request.userInfo.groups must be a list of strings"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x"}})",
       "request.operation is missing"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x","operation":"CREATE","kind":"EncryptionKey"}})",
       "request.kind must be an object"},
  };
  for (const auto& c : cases) {
    auto reply = handler_.handle(Endpoint::kValidate, c.body);
    EXPECT_EQ(reply.status, 400) << c.body;
    Json st = Json::parse(reply.body);
    EXPECT_EQ(st["kind"], "Status");
    EXPECT_EQ(st["code"], 400);
    EXPECT_THAT(st["message"].get<std::string>(), HasSubstr(c.message)) << c.body;
    EXPECT_FALSE(reply.allowed.has_value());
  }
}

// Well-formed reviews with unusable content are clean denials (HTTP 200, allowed=false).
TEST_F(AdmissionTest, UnusableReviewsAreDenied) {
  // Missing userInfo.
  Json j = keyCreateReview();
  j["request"].erase("userInfo");
  auto reply = handler_.handle(Endpoint::kMutate, dumpJson(j));
  ASSERT_EQ(reply.status, 200);
  Json out = Json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(), HasSubstr("no userInfo.username"));
  EXPECT_EQ(reply.allowed, false);

  // CREATE without an object.
  j = keyCreateReview();
  j["request"]["object"] = nullptr;
  out = Json::parse(handler_.handle(Endpoint::kValidate, dumpJson(j)).body);
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(), HasSubstr("request.object is missing"));

  // UPDATE without oldObject.
  j = keyCreateReview();
  j["request"]["operation"] = "UPDATE";
  out = Json::parse(handler_.handle(Endpoint::kValidate, dumpJson(j)).body);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(), HasSubstr("UPDATE without request.oldObject"));

  // Unknown operation, unknown keygate kind.
  j = keyCreateReview();
  j["request"]["operation"] = "PATCH";
  out = Json::parse(handler_.handle(Endpoint::kValidate, dumpJson(j)).body);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(), HasSubstr("unsupported operation \"PATCH\""));
  j = keyCreateReview();
  j["request"]["kind"]["kind"] = "KeyRing";
  out = Json::parse(handler_.handle(Endpoint::kValidate, dumpJson(j)).body);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(), HasSubstr("does not handle kind \"KeyRing\""));

  // An object of the wrong shape: the codec's field message, code 400.
  j = keyCreateReview();
  j["request"]["object"]["spec"]["algorithm"] = 42;
  out = Json::parse(handler_.handle(Endpoint::kValidate, dumpJson(j)).body);
  EXPECT_EQ(out["response"]["status"]["code"], 400);
  EXPECT_THAT(out["response"]["status"]["message"].get<std::string>(),
              HasSubstr("cannot decode object EncryptionKey: spec.algorithm: expected string, got integer"));
  j = keyCreateReview();
  j["request"]["object"]["spec"] = "nope";
  out = Json::parse(handler_.handle(Endpoint::kMutate, dumpJson(j)).body);
  EXPECT_EQ(out["response"]["allowed"], true);  // mutators leave it to validation / the schema
  out = Json::parse(handler_.handle(Endpoint::kValidate, dumpJson(j)).body);
  EXPECT_EQ(out["response"]["allowed"], false);
}

// A huge body (10 MiB of annotations) is handled without a crash (the server's size limit
// normally refuses it before it gets here).
TEST_F(AdmissionTest, HugeBody) {
  Json j = keyCreateReview();
  j["request"]["object"]["metadata"]["annotations"]["big"] = std::string(10 << 20, 'x');
  auto reply = handler_.handle(Endpoint::kMutate, dumpJson(j));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(Json::parse(reply.body)["response"]["allowed"], true);
}

// Every truncation and random byte flip of a valid review answers 200 or 400, never throws.
TEST_F(AdmissionTest, FuzzedBodiesNeverCrash) {
  auto current = storedRequest();
  auto next = current;
  next.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "", "", "", ""});
  const std::string body =
      dumpJson(reviewJson(review("KeyActivationRequest", "UPDATE", encode(next), encode(current), who("bob"))));
  for (size_t n = 0; n < body.size(); n += 7) {
    auto reply = handler_.handle(Endpoint::kMutate, body.substr(0, n));
    EXPECT_TRUE(reply.status == 200 || reply.status == 400);
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string b = body;
    for (int k = 0; k < 3; ++k) b[rng() % b.size()] = char(rng() % 256);
    for (auto ep : {Endpoint::kMutate, Endpoint::kValidate}) {
      auto reply = handler_.handle(ep, b);
      EXPECT_TRUE(reply.status == 200 || reply.status == 400) << reply.body;
    }
  }
}

// The recorded /status UPDATE shape (12c: subResource "status") is allowed for our kinds.
TEST_F(AdmissionTest, StatusReviewAllowed) {
  Json j = reviewJson(review("KeyActivationRequest", "UPDATE", encode(storedRequest()), encode(storedRequest()),
                             who("system:serviceaccount:keygate-system:keygate")));
  j["request"]["subResource"] = "status";
  j["request"]["requestSubResource"] = "status";
  for (auto ep : {Endpoint::kMutate, Endpoint::kValidate}) {
    Json out = Json::parse(handler_.handle(ep, dumpJson(j)).body);
    EXPECT_EQ(out["response"]["allowed"], true);
    EXPECT_FALSE(out["response"].contains("patch"));
  }
}

}  // namespace
}  // namespace keygate::webhook::testing
