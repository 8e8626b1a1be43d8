// The operator's /metrics gauges follow informer events: after any sequence of adds,
// updates, deletes and relists the index says what a full pass over the cache says.
#include "cmd/gauge_index.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "cmd/snapshot.h"

namespace keygate::cmd {
namespace {

Json key(const std::string& ns, const std::string& name, const std::string& state, const std::string& rv) {
  Json k = {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}},
            {"spec", {{"purpose", "Encrypt"}, {"backend", "softhsm"}, {"rotation", {{"period", "720h"}}}}},
            {"status", {{"state", state}, {"currentVersion", 1}}}};
  if (state == "PreActive") k["status"]["preActiveExpiresAt"] = "2026-12-10T00:00:00Z";
  if (state == "Active") k["status"]["versions"] = {{{"version", 1}, {"activatedAt", "2026-12-01T00:00:00Z"}}};
  return k;
}

Json binding(const std::string& ns, const std::string& name, const std::string& rv) {
  return {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}}, {"spec", {{"reviewBy", "2027-01-31"}}}};
}

Json request(const std::string& ns, const std::string& name, const std::string& phase, const std::string& rv) {
  Json r = {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}}};
  if (!phase.empty()) r["status"] = {{"phase", phase}};
  return r;
}

std::string show(metrics::Snapshot s) {
  auto t = [](const std::optional<WallTime>& w) { return w ? std::to_string(w->time_since_epoch().count()) : "-"; };
  std::vector<std::string> rows;
  for (const auto& k : s.keys)
    rows.push_back("key " + k.ns + "/" + k.name + " " + k.state + " " + k.purpose + " " + k.backend + " " +
                   t(k.preActiveExpiresAt) + " " + t(k.rotationDueAt));
  for (const auto& r : s.requests) rows.push_back("request " + r.ns + " " + r.phase);
  for (const auto& b : s.bindings) rows.push_back("binding " + b.ns + "/" + b.name + " " + t(b.reviewDueAt));
  std::sort(rows.begin(), rows.end());
  std::string out;
  for (const auto& r : rows) out += r + "\n";
  return out;
}

TEST(GaugeIndexTest, FollowsInformerEventsAsAFullPassWould) {
  const kube::Resource keys{"keygate.dev", "v1alpha1", "encryptionkeys", "EncryptionKey", true};
  const kube::Resource requests{"keygate.dev", "v1alpha1", "keyactivationrequests", "KeyActivationRequest", true};
  const kube::Resource bindings{"keygate.dev", "v1alpha1", "keyrolebindings", "KeyRoleBinding", true};
  kube::Informer ki(nullptr, keys), ri(nullptr, requests), bi(nullptr, bindings);
  GaugeIndex index;
  ki.addHandlers(index.keyHandlers());
  ri.addHandlers(index.requestHandlers());
  bi.addHandlers(index.bindingHandlers());

  ki.replace({key("a", "k1", "PreActive", "1"), key("a", "k2", "Active", "2"), key("b", "k3", "Pending", "3")}, "3");
  ri.replace({request("a", "r1", "", "4"), request("a", "r2", "Approved", "5")}, "5");
  bi.replace({binding("a", "users", "6")}, "6");
  ki.apply({kube::WatchEvent::Type::kModified, key("a", "k1", "Active", "7")});
  ki.apply({kube::WatchEvent::Type::kDeleted, key("b", "k3", "Pending", "8")});
  ri.apply({kube::WatchEvent::Type::kModified, request("a", "r1", "Rejected", "9")});
  bi.apply({kube::WatchEvent::Type::kAdded, binding("b", "approvers", "10")});
  ki.replace({key("a", "k1", "Active", "7"), key("c", "k4", "Deactivated", "11")}, "11");  // k2 gone meanwhile

  // The cache decodes on read: hold the snapshots while pointing at them.
  const auto kl = ki.cache().list(), rl = ri.cache().list(), bl = bi.cache().list();
  std::vector<const Json*> k, r, b;
  for (const auto& o : kl) k.push_back(o.get());
  for (const auto& o : rl) r.push_back(o.get());
  for (const auto& o : bl) b.push_back(o.get());
  std::string want = show(snapshotFrom(k, r, b));
  EXPECT_EQ(show(index.snapshot()), want);
  EXPECT_NE(want.find("key a/k1 Active Encrypt softhsm - "), std::string::npos) << want;
  EXPECT_EQ(want.find("k2"), std::string::npos);
  EXPECT_EQ(want.find("k3"), std::string::npos);
  EXPECT_NE(want.find("request a Rejected"), std::string::npos);
  EXPECT_NE(want.find("binding b/approvers"), std::string::npos);
}

}  // namespace
}  // namespace keygate::cmd
