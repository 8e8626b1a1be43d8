#include <gtest/gtest.h>

#include "kube/cache.h"
#include "kube/informer.h"

namespace keygate::kube {
namespace {

Json obj(const std::string& ns, const std::string& name, const std::string& rv, const std::string& keyRef = "") {
  Json j = {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}}};
  if (!keyRef.empty()) j["spec"] = {{"keyRef", {{"name", keyRef}}}};
  return j;
}

// Namespace and custom indexes follow inserts, updates and removals.
TEST(CacheTest, IndexesFollowMutations) {
  Cache c;
  c.addIndexer("byKey", [](const Json& o) {
    std::string k = getString(o, "spec.keyRef.name");
    return k.empty() ? std::vector<std::string>{} : std::vector<std::string>{namespaceOf(o) + "/" + k};
  });
  c.upsert(std::make_shared<const Json>(obj("a", "r1", "1", "k1")));
  c.upsert(std::make_shared<const Json>(obj("a", "r2", "2", "k1")));
  c.upsert(std::make_shared<const Json>(obj("b", "r3", "3", "k1")));
  EXPECT_EQ(c.byIndex("byKey", "a/k1").size(), 2u);
  EXPECT_EQ(c.listNamespace("b").size(), 1u);
  c.upsert(std::make_shared<const Json>(obj("a", "r2", "4", "k2")));
  EXPECT_EQ(c.byIndex("byKey", "a/k1").size(), 1u);
  EXPECT_EQ(c.byIndex("byKey", "a/k2").size(), 1u);
  c.remove("a/r1");
  EXPECT_TRUE(c.byIndex("byKey", "a/k1").empty());
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(getString(*c.get("a/r2"), "metadata.resourceVersion"), "4");
}

// A relist snapshot produces add/update/delete callbacks for exactly what changed.
TEST(InformerTest, ReplaceDiffsAgainstCache) {
  Informer inf(nullptr, Resource{"example.test", "v1", "widgets", "Widget", true});
  std::vector<std::string> log;
  inf.addHandlers({[&](const ObjectPtr& o) { log.push_back("add " + objectKey(*o)); },
                   [&](const ObjectPtr&, const ObjectPtr& n) { log.push_back("update " + objectKey(*n)); },
                   [&](const ObjectPtr& o) { log.push_back("delete " + objectKey(*o)); }});
  inf.replace({obj("a", "x", "1"), obj("a", "y", "2")}, "2");
  inf.apply({WatchEvent::Type::kModified, obj("a", "y", "3")});
  inf.replace({obj("a", "y", "3"), obj("a", "z", "5")}, "5");  // x deleted, y unchanged, z new
  std::vector<std::string> want = {"add a/x", "add a/y", "update a/y", "add a/z", "delete a/x"};
  EXPECT_EQ(log, want);
  EXPECT_EQ(inf.cache().size(), 2u);
}

// Cached objects carry no managedFields (unless asked to), from a relist and from a watch.
TEST(InformerTest, StripsManagedFieldsUnlessAskedNotTo) {
  const Resource widgets{"example.test", "v1", "widgets", "Widget", true};
  auto withManaged = [](const std::string& name, const std::string& rv) {
    Json o = obj("a", name, rv);
    o["metadata"]["managedFields"] = Json::array({{{"manager", "kubectl"}, {"operation", "Update"}}});
    o["metadata"]["labels"] = {{"team", "x"}};
    return o;
  };
  Informer stripping(nullptr, widgets);
  stripping.replace({withManaged("x", "1")}, "1");
  stripping.apply({WatchEvent::Type::kModified, withManaged("y", "2")});
  for (const char* key : {"a/x", "a/y"}) {
    ObjectPtr o = stripping.cache().get(key);
    ASSERT_TRUE(o) << key;
    EXPECT_FALSE((*o)["metadata"].contains("managedFields")) << o->dump();
    EXPECT_EQ((*o)["metadata"]["labels"]["team"], "x");
  }
  ReflectorOptions keep;
  keep.stripManagedFields = false;
  Informer keeping(nullptr, widgets, keep);
  keeping.replace({withManaged("x", "1")}, "1");
  EXPECT_TRUE((*keeping.cache().get("a/x"))["metadata"].contains("managedFields"));
}

// kubectl's last-applied-configuration (a copy of the whole spec) is dropped too; other
// annotations stay, and an annotations map left empty goes.
TEST(InformerTest, DropsLastAppliedConfigurationKeepsOtherAnnotations) {
  Informer inf(nullptr, Resource{"example.test", "v1", "widgets", "Widget", true});
  Json a = obj("a", "x", "1"), b = obj("a", "y", "2");
  a["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{\"spec\":{}}"},
                                  {"keygate.dev/created-by", "erin"}};
  b["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  inf.replace({a}, "1");
  inf.apply({WatchEvent::Type::kAdded, b});
  Json x = *inf.cache().get("a/x"), y = *inf.cache().get("a/y");
  EXPECT_EQ(x["metadata"]["annotations"], (Json{{"keygate.dev/created-by", "erin"}}));
  EXPECT_FALSE(y["metadata"].contains("annotations")) << y.dump();
}

// Pages are applied as they arrive; a list that fails midway deletes nothing, and the next
// complete list deletes what it no longer has (once).
TEST(InformerTest, PagedSnapshotDeletesOnlyWhenComplete) {
  Informer inf(nullptr, Resource{"example.test", "v1", "widgets", "Widget", true});
  std::vector<std::string> log;
  inf.addHandlers({[&](const ObjectPtr& o) { log.push_back("add " + objectKey(*o)); },
                   [&](const ObjectPtr&, const ObjectPtr& n) { log.push_back("update " + objectKey(*n)); },
                   [&](const ObjectPtr& o) { log.push_back("delete " + objectKey(*o)); }});
  inf.beginReplace();
  inf.replacePage({obj("a", "x", "1"), obj("a", "y", "2")});
  inf.replacePage({obj("b", "z", "3")});
  inf.endReplace("3");
  EXPECT_EQ(inf.cache().size(), 3u);
  // A relist whose second page never comes: nothing deleted.
  inf.beginReplace();
  inf.replacePage({obj("a", "y", "4")});
  EXPECT_EQ(inf.cache().size(), 3u);
  // The list starts over and completes without x.
  inf.beginReplace();
  inf.replacePage({obj("a", "y", "4")});
  inf.replacePage({obj("b", "z", "3")});
  inf.endReplace("5");
  std::vector<std::string> want = {"add a/x", "add a/y", "add b/z", "update a/y", "delete a/x"};
  EXPECT_EQ(log, want);
  EXPECT_EQ(inf.cache().keys(), (std::vector<std::string>{"a/y", "b/z"}));
}

}  // namespace
}  // namespace keygate::kube
