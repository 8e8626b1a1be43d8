// The informer cache's at-rest form: every JSON value comes back exactly, foreign or
// damaged bytes never decode (and never throw), and threads pack and unpack at once.
#include "kube/packed_object.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "kube/cache.h"

namespace keygate::kube {
namespace {

Json key(const std::string& name, const std::string& state) {
  return {{"apiVersion", "keygate.dev/v1alpha1"},
          {"kind", "EncryptionKey"},
          {"metadata", {{"name", name}, {"namespace", "tenant-a"}, {"resourceVersion", "42"}, {"generation", 3}}},
          {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"affectedSystems", {"db", "model-store"}}}},
          {"status", {{"state", state}, {"currentVersion", 1}, {"versions", {{{"version", 1}, {"state", state}}}}}}};
}

TEST(ObjectPackerTest, EveryValueComesBackExactly) {
  ObjectPacker p;
  std::string first = p.pack(key("first", "Active"));  // the dictionary
  Json odd = key("odd", "PreActive");
  odd["x"] = {{"neg", -9007199254740993LL},
              {"big", 18446744073709551615ULL},
              {"pi", 3.141592653589793},
              {"tiny", 5e-324},
              {"t", true},
              {"n", nullptr},
              {"utf8", "schlüssel 鍵 🔑"},
              {"bytes", std::string("\xff\xfe raw", 6)},
              {"empty", Json::object()},
              {"nested", {{1, {2, {3}}}, Json::array()}},
              {"long", std::string(100000, 'q')}};
  for (const Json& obj : {key("first", "Active"), key("second", "Deactivated"), odd, Json::object(), Json("scalar")}) {
    std::string packed = p.pack(obj);
    auto back = p.unpack(packed);
    ASSERT_TRUE(back.has_value()) << obj.dump().substr(0, 80);
    EXPECT_EQ(*back, obj);
  }
  // Objects like the dictionary pack far below their text.
  std::string second = p.pack(key("second", "Active"));
  EXPECT_LT(second.size() * 4, dumpJson(key("second", "Active")).size()) << second.size();
  EXPECT_FALSE(first.empty());
}

TEST(ObjectPackerTest, ForeignOrDamagedBytesNeverDecode) {
  ObjectPacker p;
  std::string good = p.pack(key("a", "Active"));
  good = p.pack(key("b", "Active"));
  EXPECT_FALSE(p.unpack("").has_value());
  EXPECT_FALSE(p.unpack("Zgarbage").has_value());
  EXPECT_FALSE(p.unpack("X" + good.substr(1)).has_value());
  EXPECT_FALSE(p.unpack(good.substr(0, good.size() / 2)).has_value());  // truncated
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x55;
  auto f = p.unpack(flipped);  // deflate has no checksum: it may decode, but only to what CBOR allows
  if (f) {
    EXPECT_NE(*f, key("b", "Active"));
  }
  EXPECT_FALSE(p.unpack("C\xff\xff").has_value());
  // Another packer's bytes need that packer's dictionary.
  ObjectPacker other;
  other.pack(Json{{"something", "else entirely"}});
  auto cross = other.unpack(good);
  if (cross) {
    EXPECT_NE(*cross, key("b", "Active"));
  }
  // Plain CBOR (the fallback form) decodes without a dictionary.
  std::string cbor;
  Json::to_cbor(key("c", "Active"), cbor);
  ObjectPacker fresh;
  EXPECT_EQ(fresh.unpack("C" + cbor), key("c", "Active"));
  EXPECT_FALSE(fresh.unpack(good).has_value());  // no dictionary yet
}

// A small, atypical first object does not condemn every later object to pack poorly: the
// first that packs badly becomes a dictionary too, and there are never more than the cap.
TEST(ObjectPackerTest, AtypicalFirstObjectAddsADictionaryBounded) {
  ObjectPacker p;
  p.pack(Json{{"metadata", {{"name", "bare"}}}});
  EXPECT_EQ(p.dictionaries(), 1u);
  p.pack(key("k1", "Active"));
  EXPECT_EQ(p.dictionaries(), 2u);
  std::string k2 = p.pack(key("k2", "Active"));
  EXPECT_EQ(p.dictionaries(), 2u);
  std::string cbor;
  Json::to_cbor(key("k2", "Active"), cbor);
  EXPECT_LE(k2.size() * 3, cbor.size()) << k2.size() << " of " << cbor.size();
  // Wildly different objects: the set stops growing at the cap, and everything still decodes.
  std::vector<std::pair<Json, std::string>> packed;
  std::mt19937 rng(5);
  for (int i = 0; i < 40; ++i) {
    Json o;
    for (int f = 0; f < 30; ++f) {
      std::string v;
      for (int c = 0; c < 12; ++c) v += static_cast<char>('!' + rng() % 90);
      o["f" + std::to_string(rng())] = v;
    }
    packed.emplace_back(o, p.pack(o));
  }
  EXPECT_EQ(p.dictionaries(), ObjectPacker::kMaxDictionaries);
  for (const auto& [o, bytes] : packed) EXPECT_EQ(p.unpack(bytes), o);
  EXPECT_EQ(p.unpack(k2), key("k2", "Active"));
}

TEST(ObjectPackerTest, ThreadsPackAndUnpackAtOnce) {
  ObjectPacker p;
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        Json obj = key("k" + std::to_string(t) + "-" + std::to_string(i), i % 2 ? "Active" : "PreActive");
        auto back = p.unpack(p.pack(obj));
        if (!back || *back != obj) bad++;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// The cache hands out one snapshot per object while anyone holds it (memos keyed by the
// pointer keep working), decodes again once nobody does, and visits everything in order.
TEST(PackedCacheTest, SnapshotsAreSharedWhileHeldAndDecodedAfter) {
  Cache c;
  for (int i = 0; i < 50; ++i) c.upsert(std::make_shared<const Json>(key("k" + std::to_string(100 + i), "Active")));
  ObjectPtr held = c.get("tenant-a/k120");
  ASSERT_TRUE(held);
  EXPECT_EQ(c.get("tenant-a/k120").get(), held.get());
  const Json* was = held.get();
  Json copy = *held;
  held.reset();
  ObjectPtr again = c.get("tenant-a/k120");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, copy);
  (void)was;
  std::vector<std::string> seen;
  c.forEach([&seen](const Json& o) { seen.push_back(getString(o, "metadata.name")); });
  ASSERT_EQ(seen.size(), 50u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.front(), "k100");
  EXPECT_LT(c.packedBytes(), 50 * dumpJson(copy).size() / 3);
  // Replaced objects come back as replaced.
  c.upsert(std::make_shared<const Json>(key("k120", "Deactivated")));
  EXPECT_EQ(getString(*c.get("tenant-a/k120"), "status.state"), "Deactivated");
  EXPECT_EQ(getString(*c.remove("tenant-a/k120"), "status.state"), "Deactivated");
  EXPECT_FALSE(c.get("tenant-a/k120"));
}

// The last objects written are read without unpacking: the reconcile after a watch event
// gets the very object the informer stored. Older ones are decoded again.
TEST(PackedCacheTest, RecentlyWrittenObjectsAreNotUnpacked) {
  Cache c;
  std::weak_ptr<const Json> first;
  {
    auto obj = std::make_shared<const Json>(key("k0", "Active"));
    first = obj;
    c.upsert(obj);
  }
  ASSERT_FALSE(first.expired());  // nobody else holds it; the cache does
  EXPECT_EQ(c.get("tenant-a/k0"), first.lock());
  for (int i = 1; i <= 200; ++i) c.upsert(std::make_shared<const Json>(key("k" + std::to_string(i), "Active")));
  EXPECT_TRUE(first.expired());  // 200 writes later it was let go: the next read decodes
  ObjectPtr again = c.get("tenant-a/k0");
  ASSERT_TRUE(again);
  EXPECT_EQ(getString(*again, "metadata.name"), "k0");
  EXPECT_EQ(getString(*c.get("tenant-a/k200"), "status.state"), "Active");
}

// An object is packed when it leaves the 128 recent writes, as its latest version; a version
// replaced while recent is never packed.
TEST(PackedCacheTest, ObjectsArePackedWhenTheyLeaveTheRecentWrites) {
  Cache c;
  for (int i = 0; i < 100; ++i) c.upsert(std::make_shared<const Json>(key("k" + std::to_string(i), "PreActive")));
  EXPECT_EQ(c.packedBytes(), 0u) << "nothing has left the recent writes yet";
  c.upsert(std::make_shared<const Json>(key("k0", "Deactivated")));
  for (int i = 100; i < 300; ++i) c.upsert(std::make_shared<const Json>(key("k" + std::to_string(i), "Active")));
  const size_t packed = c.packedBytes();
  EXPECT_GT(packed, 0u);
  // k0's PreActive version was replaced while recent: only its Deactivated version is kept.
  EXPECT_EQ(getString(*c.get("tenant-a/k0"), "status.state"), "Deactivated");
  for (int i = 0; i < 300; ++i) {
    ObjectPtr o = c.get("tenant-a/k" + std::to_string(i));
    ASSERT_TRUE(o);
    ASSERT_EQ(getString(*o, "metadata.name"), "k" + std::to_string(i)) << "decoded whole, never an empty object";
  }
  EXPECT_EQ(c.size(), 300u);
}

// Writers evicting and packing while readers read and a remover removes: every read is the
// object asked for (never an empty one from an entry whose bytes were not written yet).
TEST(PackedCacheTest, PackingOnEvictionRacesWithReadersWritersAndRemovals) {
  Cache c;
  constexpr int kKeys = 300;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  auto writer = [&](int seed) {
    std::mt19937 rng(seed);
    for (int n = 0; n < 4000; ++n) {
      const int i = static_cast<int>(rng() % kKeys);
      c.upsert(std::make_shared<const Json>(key("k" + std::to_string(i), n % 2 ? "Active" : "PreActive")));
      if (n % 97 == 0) c.remove("tenant-a/k" + std::to_string(rng() % kKeys));
    }
  };
  auto reader = [&](int seed) {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      const std::string name = "k" + std::to_string(rng() % kKeys);
      if (ObjectPtr o = c.get("tenant-a/" + name); o && getString(*o, "metadata.name") != name) bad++;
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  std::thread w1(writer, 3), w2(writer, 4);
  w1.join();
  w2.join();
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0);
  for (const auto& k : c.keys()) {
    ObjectPtr o = c.get(k);
    ASSERT_TRUE(o);
    EXPECT_EQ("tenant-a/" + getString(*o, "metadata.name"), k);
  }
}

}  // namespace
}  // namespace keygate::kube
