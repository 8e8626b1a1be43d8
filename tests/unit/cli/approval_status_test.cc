// kubectl-keygate's texts from decoded objects: the webhook prefix stripped from refusals, who
// can still approve (current KeyApprover bindings selecting the key, less the requester, the
// key's creator and those who decided), remaining times, and the pending queue.
#include <gmock/gmock.h>

#include "cli/approval_status.h"

namespace keygate::cli {
namespace {

using ::testing::ElementsAre;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

av1::KeyRoleBinding approvers(const std::string& name, std::vector<av1::Subject> subjects, const std::string& reviewBy = "2099-12-31") {
  av1::KeyRoleBinding b;
  b.metadata.name = name;
  b.metadata.namespace_ = "tenant-a";
  b.spec.role = av1::Role::kKeyApprover;
  b.spec.subjects = std::move(subjects);
  b.spec.reviewBy = reviewBy;
  return b;
}

av1::Subject user(const std::string& n) { return {av1::SubjectKind::kUser, n, ""}; }

av1::KeyActivationRequest request() {
  av1::KeyActivationRequest r;
  r.metadata.name = "activate";
  r.metadata.namespace_ = "tenant-a";
  r.metadata.creationTimestamp = kNow - std::chrono::minutes(90);
  r.spec.keyRef.name = "payments";
  r.spec.reason = "rollout";
  r.spec.requester = "alice";
  r.status.phase = av1::RequestPhase::kPending;
  r.status.approvals = "1/2";
  r.spec.approvals.push_back({"bob", av1::Decision::kApprove, "", "2026-12-06T09:00:00Z", "sha256:x", "sig"});
  return r;
}

av1::EncryptionKey key(const std::string& creator) {
  av1::EncryptionKey k;
  k.metadata.name = "payments";
  k.metadata.namespace_ = "tenant-a";
  k.metadata.annotations[std::string(av1::kCreatedByAnnotation)] = creator;
  return k;
}

TEST(AdmissionReason, StripsTheWebhookPrefixOnly) {
  EXPECT_EQ(admissionReason("admission webhook \"validate.keygate.dev\" denied the request: alice requested this activation"),
            "alice requested this activation");
  EXPECT_EQ(admissionReason("keyactivationrequests.keygate.dev \"x\" is forbidden: User \"erin\" cannot patch"),
            "keyactivationrequests.keygate.dev \"x\" is forbidden: User \"erin\" cannot patch");
  EXPECT_EQ(admissionReason("admission webhook \"v\" said no"), "admission webhook \"v\" said no");
}

TEST(StillEligible, CurrentBindingsLessRequesterCreatorAndThoseWhoDecided) {
  std::vector<av1::KeyRoleBinding> bindings = {
      approvers("a", {user("alice"), user("bob"), user("carol"), user("dave"), {av1::SubjectKind::kGroup, "security", ""},
                      {av1::SubjectKind::kServiceAccount, "release-bot", "ci"}}),
      approvers("lapsed", {user("erin")}, "2020-01-01"),
  };
  av1::KeyRoleBinding other = approvers("elsewhere", {user("frank")});
  other.metadata.namespace_ = "tenant-b";
  bindings.push_back(other);
  av1::KeyRoleBinding users = approvers("users", {user("gina")});
  users.spec.role = av1::Role::kKeyUser;
  bindings.push_back(users);
  auto k = key("dave");
  EXPECT_THAT(stillEligibleApprovers(request(), &k, bindings, kNow),
              ElementsAre("carol", "group:security", "serviceaccount:ci/release-bot"));
}

TEST(FormatRemaining, MinutesHoursDays) {
  EXPECT_EQ(formatRemaining(std::chrono::seconds(-1)), "expired");
  EXPECT_EQ(formatRemaining(std::chrono::seconds(30)), "<1m");
  EXPECT_EQ(formatRemaining(std::chrono::minutes(59)), "59m");
  EXPECT_EQ(formatRemaining(std::chrono::minutes(24 * 60 - 1)), "23h59m");
  EXPECT_EQ(formatRemaining(std::chrono::hours(72)), "3d");
}

TEST(Pending, OnlyWhatTheUserMayDecideNow) {
  std::vector<av1::KeyActivationRequest> requests = {request()};
  auto decidedByBob = request();
  decidedByBob.metadata.name = "z-other";
  requests.push_back(decidedByBob);
  std::vector<av1::EncryptionKey> keys = {key("dave")};
  std::vector<av1::KeyRoleBinding> bindings = {approvers("a", {user("alice"), user("bob"), user("carol"), user("dave")})};
  av1::UserInfo carol{"carol", "", {}};
  auto mine = pendingFor(carol, requests, keys, bindings, kNow);
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(formatPendingLine(*mine[0], kNow),
            "tenant-a/activate  key payments  requester alice  approvals 1/2  age 1h30m  reason: rollout\n");
  EXPECT_TRUE(pendingFor({"bob", "", {}}, requests, keys, bindings, kNow).empty()) << "bob decided both";
  EXPECT_TRUE(pendingFor({"alice", "", {}}, requests, keys, bindings, kNow).empty()) << "alice requested them";
  EXPECT_TRUE(pendingFor({"dave", "", {}}, requests, keys, bindings, kNow).empty()) << "dave created the key";
  EXPECT_TRUE(pendingFor({"erin", "", {}}, requests, keys, bindings, kNow).empty()) << "erin holds no binding";
  requests[0].status.phase = av1::RequestPhase::kActivated;
  EXPECT_EQ(pendingFor(carol, requests, keys, bindings, kNow).size(), 1u);
}

}  // namespace
}  // namespace keygate::cli
