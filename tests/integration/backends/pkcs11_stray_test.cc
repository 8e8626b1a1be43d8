// Objects nobody accounts for in a tenant's token (issue 17), on a real SoftHSM2.
//
// The attack/accident first: a process killed inside C_GenerateKey leaves a token object
// with SoftHSM's defaults — no CKA_ID, empty label, encrypt/decrypt/wrap/unwrap/verify on —
// that no lookup by CKA_ID ever finds and that encrypts for anyone logged in to the token.
// The test makes exactly that object (C_GenerateKey with nothing but CKA_TOKEN and the
// length) and shows it encrypting; then sweepStrays disables it at once, keeps it disabled
// through the grace period (also when someone turns a usage back on), and destroys it after;
// the keys Keygate accounts for are untouched throughout.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "backends/pkcs11/public_key.h"
#include "backends/pkcs11/templates.h"
#include "support/softhsm_env.h"

namespace keygate::backends::testing {
namespace {

using namespace keygate::backends::pkcs11;
using namespace std::chrono_literals;

class Pkcs11StrayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = SoftHsmEnv::get().openBackend();
    ns_ = uniqueNamespace("stray");
    kept_ = KeySpec{KeyRef{ns_, uniqueUid(), 1}, Purpose::kEncrypt, Algorithm::kAes256};
    ASSERT_TRUE(b_->generate(kept_).ok());
    s_ = openTenantSession(*b_, ns_);
  }
  // What a kill inside C_GenerateKey leaves: SoftHSM's defaults, no id, no label.
  CK_OBJECT_HANDLE halfMadeObject(bool modifiable = true) {
    AttributeList t;
    t.add(CKA_TOKEN, true).addUlong(CKA_VALUE_LEN, 32);
    if (!modifiable) t.add(CKA_MODIFIABLE, false);
    CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    EXPECT_EQ(s_->ck().generateKey(s_->handle(), m, t.span(), &h), CKR_OK);
    return h;
  }
  CK_RV encryptWith(CK_OBJECT_HANDLE h) {
    CK_BYTE iv[16] = {0};
    CK_MECHANISM m{CKM_AES_CBC_PAD, iv, sizeof iv};
    CK_RV rv = s_->ck().encryptInit(s_->handle(), m, h);
    if (rv != CKR_OK) return rv;
    Bytes out;
    return s_->ck().encrypt(s_->handle(), Bytes(16, 1), &out);
  }
  Result<std::vector<StrayObject>> sweep(WallTime now, AccountedObjects accounted) {
    StraySweepOptions o;
    o.accounted = [accounted]() -> Result<AccountedObjects> { return accounted; };
    o.now = now;
    o.grace = 1h;
    return b_->sweepStrays(ns_, o);
  }
  AccountedObjects onlyKept() { return AccountedObjects{{kept_.ref}, {}, {}}; }
  // A restart: the last owner of the module gone (C_Finalize), then a fresh C_Initialize
  // that loads the token's directory as the next process would.
  void restart() {
    s_.reset();
    b_.reset();
    b_ = SoftHsmEnv::get().openBackend();
    ASSERT_TRUE(b_);
    s_ = openTenantSession(*b_, ns_);
  }

  std::unique_ptr<Pkcs11Backend> b_;
  std::string ns_;
  KeySpec kept_;
  std::unique_ptr<TestSession> s_;
};

TEST_F(Pkcs11StrayTest, AHalfMadeObjectIsDisabledAtOnceAndDestroyedAfterTheGracePeriod) {
  const CK_OBJECT_HANDLE stray = halfMadeObject();
  ASSERT_EQ(encryptWith(stray), CKR_OK) << "the reproduction: the leftover object encrypts for anyone on the token";
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));

  auto found = sweep(t0, onlyKept());
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 1u);
  const StrayObject& st = (*found)[0];
  EXPECT_EQ(st.action, StrayObject::Action::kDisabled);
  EXPECT_EQ(st.objectClass, "secretKey");
  EXPECT_EQ(st.id, "");
  EXPECT_NE(st.usage.find("encrypt"), std::string::npos) << st.usage;
  EXPECT_NE(st.detail.find("no CKA_ID"), std::string::npos) << st.detail;
  EXPECT_NE(encryptWith(stray), CKR_OK) << "disabled at once";
  EXPECT_EQ(s_->boolAttr(stray, CKA_DECRYPT), 0);
  EXPECT_EQ(s_->boolAttr(stray, CKA_UNWRAP), 0);

  // Within the grace period: still there, still off; a usage turned back on is turned off.
  auto waiting = sweep(t0 + 30min, onlyKept());
  ASSERT_TRUE(waiting.ok());
  ASSERT_EQ(waiting->size(), 1u);
  EXPECT_EQ((*waiting)[0].action, StrayObject::Action::kWaiting);
  ASSERT_TRUE((*waiting)[0].firstSeen.has_value());
  EXPECT_EQ(*(*waiting)[0].firstSeen, t0) << "the time it was found survives in the token (a restart between sweeps)";
  AttributeList on;
  on.add(CKA_ENCRYPT, true);
  ASSERT_EQ(s_->ck().setAttributeValue(s_->handle(), stray, on.span()), CKR_OK);
  auto again = sweep(t0 + 40min, onlyKept());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].action, StrayObject::Action::kWaiting);
  EXPECT_NE((*again)[0].detail.find("turned off"), std::string::npos) << (*again)[0].detail;
  EXPECT_NE(encryptWith(stray), CKR_OK);

  auto gone = sweep(t0 + 1h, onlyKept());
  ASSERT_TRUE(gone.ok());
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].action, StrayObject::Action::kDestroyed);
  EXPECT_EQ(s_->findAll().size(), 1u) << "only the accounted key is left";
  auto d = b_->describe(kept_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
  ASSERT_TRUE(b_->activate(kept_).ok());
  auto sweptClean = sweep(t0 + 2h, onlyKept());
  ASSERT_TRUE(sweptClean.ok());
  EXPECT_TRUE(sweptClean->empty());
}

// A whole version of a key that is gone is what destruction.policy Retain (the default) keeps
// on purpose: reported, left alone, still usable in the token as it was.
TEST_F(Pkcs11StrayTest, ARetainedVersionOfADeletedKeyIsReportedAndLeftAlone) {
  KeySpec retained{KeyRef{ns_, uniqueUid(), 1}, Purpose::kSign, Algorithm::kEcP256};
  ASSERT_TRUE(b_->generate(retained).ok());
  ASSERT_TRUE(b_->activate(retained).ok());
  auto found = sweep(WallTime(std::chrono::seconds(1'800'000'000)), onlyKept());
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 2u) << "the key pair's two objects";
  for (const auto& st : *found) {
    EXPECT_EQ(st.action, StrayObject::Action::kRetained);
    EXPECT_EQ(st.id, hex(objectId(retained.ref)));
    EXPECT_EQ(st.label, retained.ref.backendKeyId());
    EXPECT_NE(st.detail.find("destruction.policy Retain"), std::string::npos) << st.detail;
  }
  EXPECT_TRUE(b_->signDigest(retained, SigningScheme::kEcdsaSha256, Bytes(32, 3)).ok()) << "untouched";
}

// What is left of a version its key records as Destroyed (a destroy interrupted between the
// two halves of a pair), and a version an existing key does not claim, are strays.
TEST_F(Pkcs11StrayTest, LeftoversOfADestroyedVersionAndUnclaimedVersionsAreStrays) {
  KeySpec dead{KeyRef{ns_, uniqueUid(), 1}, Purpose::kSign, Algorithm::kEcP256};
  ASSERT_TRUE(b_->generate(dead).ok());
  ASSERT_TRUE(b_->activate(dead).ok());
  KeySpec unclaimed = kept_;
  unclaimed.ref.version = 7;
  ASSERT_TRUE(b_->generate(unclaimed).ok());
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));

  auto all = sweep(t0, AccountedObjects{{kept_.ref, dead.ref, unclaimed.ref}, {}, {}});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty()) << "nothing to report when everything is accounted for";

  auto found = sweep(t0, AccountedObjects{{kept_.ref}, {}, {dead.ref}});
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 3u);
  int destroyedLeftovers = 0, unclaimedVersions = 0;
  for (const auto& st : *found) {
    EXPECT_EQ(st.action, StrayObject::Action::kDisabled) << st.detail;
    destroyedLeftovers += st.detail.find("records as Destroyed") != std::string::npos;
    unclaimedVersions += st.detail.find("does not claim it") != std::string::npos;
  }
  EXPECT_EQ(destroyedLeftovers, 2);
  EXPECT_EQ(unclaimedVersions, 1);
  EXPECT_FALSE(b_->signDigest(dead, SigningScheme::kEcdsaSha256, Bytes(32, 3)).ok()) << "disabled at once";
  auto d = b_->describe(kept_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
}

// When what is accounted for cannot be known (an EncryptionKey the cache cannot read), the
// sweep ends with that error and touches nothing.
TEST_F(Pkcs11StrayTest, UnknownAccountingTouchesNothing) {
  const CK_OBJECT_HANDLE stray = halfMadeObject();
  StraySweepOptions o;
  o.accounted = []() -> Result<AccountedObjects> { return makeError(ErrorCode::kFailedPrecondition, "unreadable key"); };
  o.now = WallTime(std::chrono::seconds(1'800'000'000));
  auto r = b_->sweepStrays(ns_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(encryptWith(stray), CKR_OK) << "untouched";
  EXPECT_EQ(s_->findAll().size(), 2u);
  auto d = b_->describe(kept_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
}

// A stray mark whose time does not parse (someone edited the label with the token's PIN) is
// not a way to keep a stray forever: it is destroyed at the next sweep.
TEST_F(Pkcs11StrayTest, AStrayMarkWithAnUnreadableTimeIsDestroyed) {
  const CK_OBJECT_HANDLE stray = halfMadeObject();
  AttributeList relabel;
  relabel.addString(CKA_LABEL, "keygate-stray not-a-time");
  ASSERT_EQ(s_->ck().setAttributeValue(s_->handle(), stray, relabel.span()), CKR_OK);
  auto found = sweep(WallTime(std::chrono::seconds(1'800'000'000)), onlyKept());
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].action, StrayObject::Action::kDestroyed);
  EXPECT_NE((*found)[0].detail.find("unreadable stray mark"), std::string::npos) << (*found)[0].detail;
  EXPECT_EQ(s_->findAll().size(), 1u);
}

// An object that refuses to be disabled is destroyed at once: there is no other way to make it
// unusable.
TEST_F(Pkcs11StrayTest, AnObjectThatCannotBeDisabledIsDestroyedAtOnce) {
  const CK_OBJECT_HANDLE stray = halfMadeObject(/*modifiable=*/false);
  ASSERT_EQ(encryptWith(stray), CKR_OK);
  auto found = sweep(WallTime(std::chrono::seconds(1'800'000'000)), onlyKept());
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].action, StrayObject::Action::kDestroyed);
  EXPECT_NE((*found)[0].detail.find("could not be disabled"), std::string::npos) << (*found)[0].detail;
  EXPECT_EQ(s_->findAll().size(), 1u);
}

// SoftHSM2 2.6's file object store: an object file is a generation counter (u64 big-endian)
// and a run of attributes, each (type: u64 BE, kind: u64 BE, value) with kind 1 = bool (one
// byte, 0xff or 0), 2 = unsigned long (u64 BE), 3 = byte string and 4 = attribute map (u64 BE
// length, then the bytes), 5 = mechanism set (u64 BE count, then a u64 each).
std::string withAttributeChanged(const std::string& file, CK_ATTRIBUTE_TYPE type, bool value) {
  auto u64 = [&](size_t at) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(file.at(at + i));
    return v;
  };
  std::string out = file;
  for (size_t at = 8; at + 16 <= file.size();) {
    const uint64_t t = u64(at), kind = u64(at + 8);
    at += 16;
    if (kind == 1) {
      if (t == type) out[at] = value ? '\xff' : '\0';
      at += 1;
    } else if (kind == 2) {
      at += 8;
    } else if (kind == 3 || kind == 4) {
      at += 8 + u64(at);
    } else if (kind == 5) {
      at += 8 + 8 * u64(at);
    } else {
      ADD_FAILURE() << "not a SoftHSM2 object file (attribute kind " << kind << ")";
      return file;
    }
  }
  return out;
}

// What the kill really leaves (chaos_bench, issue 17): SoftHSM2's C_GenerateKey creates the
// object file, writes its defaults one attribute at a time — CKA_TOKEN among them, false —
// and only then the caller's template (CKA_TOKEN true, the ID, the label) in one transaction.
// A kill between the two leaves a file in the token's directory whose CKA_TOKEN is false:
// every later process loads it with the token, it encrypts for anyone logged in, and a search
// for CKA_TOKEN = true does not return it. The file is made here from a real one with that
// one attribute changed.
namespace fs = std::filesystem;

std::set<fs::path> objectFiles(const fs::path& dir) {
  std::set<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".object" && e.path().filename() != "token.object") out.insert(e.path());
  return out;
}

// The SoftHSM2 directory of a tenant's token: the one whose token.object carries its label.
fs::path tokenDirOf(const std::string& ns) {
  std::string padded = tokenLabel(ns);
  padded.resize(32, ' ');
  for (const auto& e : fs::recursive_directory_iterator(SoftHsmEnv::get().dir()))
    if (e.path().filename() == "token.object") {
      std::ifstream in(e.path(), std::ios::binary);
      std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (body.find(padded) != std::string::npos) return e.path().parent_path();
    }
  return {};
}

TEST_F(Pkcs11StrayTest, AHalfMadeObjectWhoseFileSaysNotOnTokenIsFoundToo) {
  const fs::path tokenDir = tokenDirOf(ns_);
  ASSERT_FALSE(tokenDir.empty());
  const auto before = objectFiles(tokenDir);
  const CK_OBJECT_HANDLE made = halfMadeObject();
  fs::path madeFile;
  for (const auto& f : objectFiles(tokenDir))
    if (!before.count(f)) madeFile = f;
  ASSERT_FALSE(madeFile.empty());
  std::ifstream in(madeFile, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path leftFile = tokenDir / "0badc0de-0000-4000-8000-00000000001f.object";
  std::ofstream(leftFile, std::ios::binary) << withAttributeChanged(body, CKA_TOKEN, false);
  std::ofstream(fs::path(leftFile).replace_extension(".lock")).close();  // made with the object
  ASSERT_EQ(s_->ck().destroyObject(s_->handle(), made), CKR_OK);
  restart();

  // The reproduction: SoftHSM2 loads the file; it is found by class, not as a token object,
  // and it encrypts.
  AttributeList secret, onToken;
  secret.addUlong(CKA_CLASS, CKO_SECRET_KEY);
  onToken.add(CKA_TOKEN, true);
  std::vector<CK_OBJECT_HANDLE> bySecret, byToken;
  ASSERT_EQ(s_->ck().findObjects(s_->handle(), secret.span(), &bySecret, 16), CKR_OK);
  ASSERT_EQ(s_->ck().findObjects(s_->handle(), onToken.span(), &byToken, 16), CKR_OK);
  ASSERT_EQ(bySecret.size(), 2u) << "the kept key and the file the kill left";
  ASSERT_EQ(byToken.size(), 1u) << "only the kept key says CKA_TOKEN true";
  CK_OBJECT_HANDLE left = bySecret[0];
  for (CK_OBJECT_HANDLE h : bySecret)
    if (std::find(byToken.begin(), byToken.end(), h) == byToken.end()) left = h;
  ASSERT_EQ(encryptWith(left), CKR_OK) << "the leftover encrypts for anyone on the token";

  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
  auto found = sweep(t0, onlyKept());
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].action, StrayObject::Action::kDisabled);
  EXPECT_NE((*found)[0].detail.find("CKA_TOKEN false"), std::string::npos) << (*found)[0].detail;
  EXPECT_NE(encryptWith(left), CKR_OK) << "disabled at once";

  auto gone = sweep(t0 + 1h, onlyKept());
  ASSERT_TRUE(gone.ok()) << gone.error().toString();
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].action, StrayObject::Action::kDestroyed);
  EXPECT_FALSE(fs::exists(leftFile)) << "its file is gone from the token's directory";
  bySecret.clear();
  ASSERT_EQ(s_->ck().findObjects(s_->handle(), secret.span(), &bySecret, 16), CKR_OK);
  EXPECT_EQ(bySecret.size(), 1u);
  auto d = b_->describe(kept_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
}

// What a kill inside a staged create's C_CopyObject leaves (create_objects.h): SoftHSM2
// writes the copy's file empty first (its generation counter, no attribute) and everything
// in one transaction after. Such an object has no class, no value, no usage: nothing can use
// it, nothing can be read from it or set on it. The sweep destroys it at once.
TEST_F(Pkcs11StrayTest, AnObjectWithoutAttributesIsDestroyedAtOnce) {
  const fs::path tokenDir = tokenDirOf(ns_);
  ASSERT_FALSE(tokenDir.empty());
  const fs::path leftFile = tokenDir / "0badc0de-0000-4000-8000-00000000002f.object";
  std::ofstream(leftFile, std::ios::binary) << std::string("\0\0\0\0\0\0\0\1", 8);
  std::ofstream(fs::path(leftFile).replace_extension(".lock")).close();  // made with the object
  restart();
  ASSERT_EQ(s_->findAll().size(), 2u) << "SoftHSM2 loads it with the token";

  auto found = sweep(WallTime(std::chrono::seconds(1'800'000'000)), onlyKept());
  ASSERT_TRUE(found.ok()) << found.error().toString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].action, StrayObject::Action::kDestroyed);
  EXPECT_EQ((*found)[0].objectClass, "unknown");
  EXPECT_NE((*found)[0].detail.find("no attributes"), std::string::npos) << (*found)[0].detail;
  EXPECT_FALSE(fs::exists(leftFile));
  EXPECT_FALSE(fs::exists(fs::path(leftFile).replace_extension(".lock")));
  EXPECT_EQ(s_->findAll().size(), 1u);
  auto d = b_->describe(kept_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
  auto clean = sweep(WallTime(std::chrono::seconds(1'800'000'100)), onlyKept());
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->empty());
}

}  // namespace
}  // namespace keygate::backends::testing
