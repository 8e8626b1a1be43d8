// The PKCS#11 backend against the fake Cryptoki: templates, retry-once on session loss,
// error mapping, token initialisation and PIN handling.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "backends/file_secret_store.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/templates.h"
#include "common/cpu_affinity.h"
#include "support/fake_cryptoki.h"

namespace keygate::backends::testing {
namespace {
using namespace keygate::backends::pkcs11;

bool boolIn(const std::map<CK_ATTRIBUTE_TYPE, Bytes>& t, CK_ATTRIBUTE_TYPE a, bool* value) {
  auto it = t.find(a);
  if (it == t.end() || it->second.size() != 1) return false;
  *value = it->second[0] != 0;
  return true;
}

struct Fixture {
  std::shared_ptr<FakeCryptoki> ck = std::make_shared<FakeCryptoki>();
  std::shared_ptr<MemorySecretStore> store = std::make_shared<MemorySecretStore>();
  Pkcs11Backend backend{ck, store, Pkcs11BackendOptions{"hsm", "", 2, ""}};
};

KeySpec spec(Purpose p, Algorithm a, const std::string& ns = "tenant-a") {
  return KeySpec{KeyRef{ns, "0b7c2a8e-1111-4222-8333-444455556666", 1}, p, a};
}

// Every generation template carries every usage attribute of its class, all false, and
// the protection attributes (token, private, sensitive, non-extractable, modifiable).
TEST(Pkcs11Templates, EveryUsageAttributeIsExplicitlyFalse) {
  const std::pair<Purpose, Algorithm> cases[] = {
      {Purpose::kEncrypt, Algorithm::kAes256}, {Purpose::kEncrypt, Algorithm::kRsa3072},
      {Purpose::kSign, Algorithm::kRsa4096},   {Purpose::kSign, Algorithm::kEcP256},
      {Purpose::kSign, Algorithm::kEcP384},    {Purpose::kWrap, Algorithm::kAes256},
      {Purpose::kMac, Algorithm::kHmacSha256}};
  for (const auto& [p, a] : cases) {
    Fixture f;
    ASSERT_TRUE(f.backend.generate(spec(p, a)).ok()) << algorithmName(a);
    auto templates = f.ck->generationTemplates();
    ASSERT_FALSE(templates.empty());
    for (const auto& t : templates) {
      CK_OBJECT_CLASS cls = 0;
      std::memcpy(&cls, t.at(CKA_CLASS).data(), sizeof(cls));
      for (CK_ATTRIBUTE_TYPE u : usageAttributes(cls)) {
        bool v = true;
        ASSERT_TRUE(boolIn(t, u, &v)) << algorithmName(a) << " " << ckaName(u) << " missing";
        EXPECT_FALSE(v) << algorithmName(a) << " " << ckaName(u);
      }
      bool v = false;
      EXPECT_TRUE(boolIn(t, CKA_TOKEN, &v) && v);
      EXPECT_TRUE(boolIn(t, CKA_PRIVATE, &v) && v);
      EXPECT_TRUE(boolIn(t, CKA_MODIFIABLE, &v) && v);
      if (cls != CKO_PUBLIC_KEY) {
        EXPECT_TRUE(boolIn(t, CKA_SENSITIVE, &v) && v);
        EXPECT_TRUE(boolIn(t, CKA_EXTRACTABLE, &v) && !v);
      }
      EXPECT_EQ(t.at(CKA_ID), objectId(spec(p, a).ref));
      EXPECT_EQ(std::string(t.at(CKA_LABEL).begin(), t.at(CKA_LABEL).end()),
                "keygate/tenant-a/0b7c2a8e-1111-4222-8333-444455556666/v1");
    }
  }
}

// Each state enables exactly the documented attributes per class.
// A module that cannot copy a generated session key into the token (the fake has no
// C_CopyObject) still gets its key: generated in the token directly, the session object
// destroyed, and the staged path not tried again.
TEST(Pkcs11Generate, AModuleThatRefusesTheStagedCopyGetsDirectGeneration) {
  auto ck = std::make_shared<FakeCryptoki>();
  Pkcs11BackendOptions o{"hsm", "", 2, ""};
  o.stagedCreate = true;
  Pkcs11Backend backend(ck, std::make_shared<MemorySecretStore>(), o);
  ASSERT_TRUE(backend.generate(spec(Purpose::kEncrypt, Algorithm::kAes256)).ok());
  auto templates = ck->generationTemplates();
  ASSERT_EQ(templates.size(), 2u) << "the staged session object, then the direct token object";
  bool onToken = true;
  ASSERT_TRUE(boolIn(templates[0], CKA_TOKEN, &onToken));
  EXPECT_FALSE(onToken);
  EXPECT_EQ(templates[0].count(CKA_ID), 0u) << "the session object carries no CKA_ID a lookup could find";
  ASSERT_TRUE(boolIn(templates[1], CKA_TOKEN, &onToken));
  EXPECT_TRUE(onToken);
  EXPECT_EQ(ck->callCount("C_DestroyObject"), 1);
  EXPECT_EQ(ck->objectCount(), 1u);
  KeySpec second = spec(Purpose::kEncrypt, Algorithm::kAes256);
  second.ref.version = 2;
  ASSERT_TRUE(backend.generate(second).ok());
  EXPECT_EQ(ck->generationTemplates().size(), 3u) << "not tried again";
  EXPECT_EQ(ck->objectCount(), 2u);
  auto d = backend.describe(second);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
}

TEST(Pkcs11Templates, UsagePerPurposeAndState) {
  using V = std::vector<CK_ATTRIBUTE_TYPE>;
  EXPECT_EQ(enabledUsage(Purpose::kEncrypt, CKO_SECRET_KEY, UsageState::kFull), (V{CKA_ENCRYPT, CKA_DECRYPT}));
  EXPECT_EQ(enabledUsage(Purpose::kEncrypt, CKO_SECRET_KEY, UsageState::kProcessOnly), (V{CKA_DECRYPT}));
  EXPECT_EQ(enabledUsage(Purpose::kEncrypt, CKO_PUBLIC_KEY, UsageState::kProcessOnly), V{});
  EXPECT_EQ(enabledUsage(Purpose::kSign, CKO_PRIVATE_KEY, UsageState::kFull), (V{CKA_SIGN}));
  EXPECT_EQ(enabledUsage(Purpose::kSign, CKO_PRIVATE_KEY, UsageState::kProcessOnly), V{});
  EXPECT_EQ(enabledUsage(Purpose::kSign, CKO_PUBLIC_KEY, UsageState::kProcessOnly), (V{CKA_VERIFY}));
  EXPECT_EQ(enabledUsage(Purpose::kWrap, CKO_SECRET_KEY, UsageState::kFull), (V{CKA_WRAP, CKA_UNWRAP}));
  EXPECT_EQ(enabledUsage(Purpose::kWrap, CKO_PRIVATE_KEY, UsageState::kProcessOnly), (V{CKA_UNWRAP}));
  EXPECT_EQ(enabledUsage(Purpose::kMac, CKO_SECRET_KEY, UsageState::kFull), (V{CKA_SIGN, CKA_VERIFY}));
  EXPECT_EQ(enabledUsage(Purpose::kMac, CKO_SECRET_KEY, UsageState::kProcessOnly), (V{CKA_VERIFY}));
  for (CK_OBJECT_CLASS c : {CKO_SECRET_KEY, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY}) {
    EXPECT_TRUE(enabledUsage(Purpose::kEncrypt, c, UsageState::kNone).empty());
  }
}

// Token labels fit PKCS#11's 32 bytes; long namespaces get a stable hashed form.
TEST(Pkcs11Templates, TokenLabels) {
  EXPECT_EQ(tokenLabel("tenant-a"), "keygate:tenant-a");
  EXPECT_EQ(paddedLabel("keygate:tenant-a").size(), 32u);
  std::string longNs(63, 'n');
  EXPECT_EQ(tokenLabel(longNs).size(), 32u);
  EXPECT_NE(tokenLabel(longNs), tokenLabel(std::string(62, 'n') + "m"));
  EXPECT_EQ(tokenLabel(std::string(24, 'x')), "keygate:" + std::string(24, 'x'));
}

// The first use initialises a free slot with stored CSPRNG PINs; later found by label.
TEST(Pkcs11Tokens, InitialisesOnFirstUseAndStoresPins) {
  Fixture f;
  ASSERT_TRUE(f.backend.generate(spec(Purpose::kEncrypt, Algorithm::kAes256)).ok());
  EXPECT_EQ(f.ck->callCount("C_InitToken"), 1);
  EXPECT_EQ(f.ck->callCount("C_InitPIN"), 1);
  auto user = f.store->get("hsm.tenant-a.user-pin").value();
  auto so = f.store->get("hsm.tenant-a.so-pin").value();
  ASSERT_TRUE(user && so);
  EXPECT_EQ(user->value().size(), 48u);
  EXPECT_NE(user->value(), so->value());
  // A second backend (restart) finds the token and does not initialise again.
  Pkcs11Backend again(f.ck, f.store, Pkcs11BackendOptions{"hsm", "", 2, ""});
  auto g = again.generate(spec(Purpose::kEncrypt, Algorithm::kAes256));
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->created);
  EXPECT_EQ(f.ck->callCount("C_InitToken"), 1);
  EXPECT_EQ(f.ck->objectCount(), 1u);
}

// Generate after a cache hit does no C_FindObjects; a new instance finds once.
TEST(Pkcs11Tokens, HandlesAreCachedNotFoundPerCall) {
  Fixture f;
  KeySpec k = spec(Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(f.backend.generate(k).ok());
  int finds = f.ck->callCount("C_FindObjects");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(f.backend.activate(k).ok());
    ASSERT_TRUE(f.backend.describe(k).ok());
  }
  EXPECT_EQ(f.ck->callCount("C_FindObjects"), finds);
}

// After a restart (a new backend over the same token, its handle cache empty) the first
// lookup indexes the whole token in one search; the other keys' first operations then need
// no search of their own. A key the index does not know is still searched for.
TEST(Pkcs11Tokens, ARestartIndexesTheTokenOnceInsteadOfASearchPerKey) {
  auto ck = std::make_shared<FakeCryptoki>();
  auto store = std::make_shared<MemorySecretStore>();
  std::vector<KeySpec> keys;
  {
    Pkcs11Backend before(ck, store, Pkcs11BackendOptions{"hsm", "", 2, ""});
    for (int v = 1; v <= 5; ++v) {
      KeySpec k = spec(Purpose::kSign, Algorithm::kEcP256);
      k.ref.version = v;
      ASSERT_TRUE(before.generate(k).ok());
      keys.push_back(k);
    }
  }
  Pkcs11Backend after(ck, store, Pkcs11BackendOptions{"hsm", "", 2, ""});
  const int finds = ck->callCount("C_FindObjects");
  for (const KeySpec& k : keys) {
    auto d = after.describe(k);
    ASSERT_TRUE(d.ok()) << d.error().toString();
    EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
  }
  EXPECT_EQ(ck->callCount("C_FindObjects") - finds, 1) << "one pass over the token, not one search per key";
  KeySpec absent = keys[0];
  absent.ref.version = 9;
  EXPECT_EQ(after.describe(absent)->state, BackendKeyState::kAbsent);
  EXPECT_EQ(ck->callCount("C_FindObjects") - finds, 2) << "an id the index lacks is still searched for";
}

// CKR_SESSION_HANDLE_INVALID / CKR_USER_NOT_LOGGED_IN / CKR_DEVICE_REMOVED: reopen, retry once.
TEST(Pkcs11Sessions, RetriesOnceOnSessionLoss) {
  for (CK_RV loss : {CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, CKR_DEVICE_REMOVED}) {
    Fixture f;
    KeySpec k = spec(Purpose::kMac, Algorithm::kHmacSha256);
    ASSERT_TRUE(f.backend.generate(k).ok());
    f.ck->failNext("C_SetAttributeValue", loss);
    Status s = f.backend.activate(k);
    EXPECT_TRUE(s.ok()) << ckrName(loss) << ": " << (s.ok() ? "" : s.error().toString());
    EXPECT_EQ(f.backend.tokenFor("tenant-a").value()->stats().recoveries, 1u);
  }
}

// A second loss in a row is returned (no retry loop), with the CKR name.
TEST(Pkcs11Sessions, SecondLossIsReturned) {
  Fixture f;
  KeySpec k = spec(Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(f.backend.generate(k).ok());
  f.ck->failNext("C_SetAttributeValue", CKR_SESSION_HANDLE_INVALID, 2);
  Status s = f.backend.activate(k);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s.error().reason, "CKR_SESSION_HANDLE_INVALID");
  EXPECT_NE(s.error().message.find("C_SetAttributeValue: CKR_SESSION_HANDLE_INVALID"), std::string::npos);
  EXPECT_TRUE(f.backend.activate(k).ok()) << "the next call works again";
}

// Every session dropped by the module (restart): the pool re-opens and logs in again.
TEST(Pkcs11Sessions, DroppedSessionsAreReopened) {
  Fixture f;
  KeySpec k = spec(Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(f.backend.generate(k).ok());
  f.ck->dropAllSessions();
  auto d = f.backend.describe(k);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
}

// A session loss inside an exclusive section (generate runs on the token's creator
// thread) is recovered the same way.
TEST(Pkcs11Sessions, LossDuringGenerateIsRetriedOnce) {
  Fixture f;
  KeySpec k = spec(Purpose::kEncrypt, Algorithm::kAes256);
  f.ck->failNext("C_GenerateKey", CKR_SESSION_HANDLE_INVALID);
  auto g = f.backend.generate(k);
  ASSERT_TRUE(g.ok()) << g.error().toString();
  EXPECT_TRUE(g->created);
  EXPECT_EQ(f.backend.tokenFor("tenant-a").value()->stats().recoveries, 1u);
}

// Exclusive sections from many callers run one at a time, never beside a shared section,
// all on the token's one creator thread (not on the callers'), and each caller gets its
// own result back.
TEST(Pkcs11Sessions, ExclusiveSectionsRunOneAtATimeOnTheCreatorThread) {
  Fixture f;
  auto token = f.backend.tokenFor("tenant-a");
  ASSERT_TRUE(token.ok());
  std::atomic<int> inExclusive{0}, inShared{0}, overlaps{0}, wrongResults{0};
  std::mutex idsMu;
  std::set<std::thread::id> creatorThreads, callerThreads;
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&, t] {
      {
        std::lock_guard<std::mutex> l(idsMu);
        callerThreads.insert(std::this_thread::get_id());
      }
      for (int i = 0; i < 30; ++i) {
        if ((i + t) % 3 == 0) {
          auto r = (*token)->withSession<int>([&](Session&) -> Result<int> {
            if (inExclusive.fetch_add(1) != 0 || inShared.load() != 0) overlaps++;
            {
              std::lock_guard<std::mutex> l(idsMu);
              creatorThreads.insert(std::this_thread::get_id());
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            inExclusive--;
            return t * 100 + i;
          }, Token::Access::kExclusive);
          if (!r.ok() || *r != t * 100 + i) wrongResults++;
        } else {
          auto r = (*token)->withSession<int>([&](Session&) -> Result<int> {
            inShared++;
            if (inExclusive.load() != 0) overlaps++;
            std::this_thread::sleep_for(std::chrono::microseconds(100));
            inShared--;
            return i;
          });
          if (!r.ok() || *r != i) wrongResults++;
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(wrongResults.load(), 0);
  ASSERT_EQ(creatorThreads.size(), 1u);
  EXPECT_EQ(callerThreads.count(*creatorThreads.begin()), 0u);
  EXPECT_EQ((*token)->stats().exclusiveSections, 60u);
}

// An exception thrown inside an exclusive section reaches its caller; the creator thread
// keeps serving the next one.
TEST(Pkcs11Sessions, ExceptionInExclusiveSectionReachesTheCaller) {
  Fixture f;
  auto token = f.backend.tokenFor("tenant-a");
  ASSERT_TRUE(token.ok());
  EXPECT_THROW((*token)->withSession<int>([](Session&) -> Result<int> { throw std::runtime_error("boom"); },
                                          Token::Access::kExclusive),
               std::runtime_error);
  auto r = (*token)->withSession<int>([](Session&) -> Result<int> { return 7; }, Token::Access::kExclusive);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 7);
}

// `--hsm-cpus`: exclusive sections run on the reserved CPUs, shared sections stay on the
// caller's thread, which runs on the rest. (Reserving changes this test process's CPU mask
// for good; ctest runs every test in a process of its own.)
TEST(Pkcs11Sessions, ZzExclusiveSectionsRunOnTheReservedCpus) {
  auto allowed = allowedCpus();
  ASSERT_TRUE(allowed.ok());
  if (allowed->size() < 2) GTEST_SKIP() << "needs two CPUs; this process may use " << formatCpuList(*allowed);
  const std::vector<int> hsm{allowed->back()}, rest(allowed->begin(), allowed->end() - 1);
  ASSERT_TRUE(reserveCpus(hsm).ok());
  Fixture f;
  auto token = f.backend.tokenFor("tenant-a");
  ASSERT_TRUE(token.ok());
  auto inExclusive = (*token)->withSession<std::vector<int>>(
      [](Session&) -> Result<std::vector<int>> { return allowedCpus(); }, Token::Access::kExclusive);
  auto inShared = (*token)->withSession<std::vector<int>>([](Session&) -> Result<std::vector<int>> { return allowedCpus(); });
  ASSERT_TRUE(inExclusive.ok());
  ASSERT_TRUE(inShared.ok());
  EXPECT_EQ(*inExclusive, hsm);
  EXPECT_EQ(*inShared, rest);
}

// Non-session errors are not retried and keep their CKR name.
TEST(Pkcs11Errors, OtherErrorsAreNotRetried) {
  Fixture f;
  KeySpec k = spec(Purpose::kEncrypt, Algorithm::kAes256);
  f.ck->failNext("C_GenerateKey", CKR_DEVICE_MEMORY);
  auto g = f.backend.generate(k);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(f.ck->callCount("C_GenerateKey"), 1);
  f.ck->failNext("C_GenerateKey", CKR_TEMPLATE_INCONSISTENT);
  g = f.backend.generate(k);
  EXPECT_EQ(g.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(g.error().message, "C_GenerateKey: CKR_TEMPLATE_INCONSISTENT (" + k.ref.backendKeyId() + ")");
}

// CK_RV → Error mapping: names, codes, reason.
TEST(Pkcs11Errors, Mapping) {
  struct Row {
    CK_RV rv;
    const char* name;
    ErrorCode code;
  };
  const Row rows[] = {
      {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED", ErrorCode::kPermissionDenied},
      {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", ErrorCode::kUnauthenticated},
      {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", ErrorCode::kUnavailable},
      {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", ErrorCode::kUnavailable},
      {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", ErrorCode::kUnavailable},
      {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", ErrorCode::kUnimplemented},
      {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", ErrorCode::kNotFound},
      {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", ErrorCode::kInvalidArgument},
      {CKR_HOST_MEMORY, "CKR_HOST_MEMORY", ErrorCode::kResourceExhausted},
      {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", ErrorCode::kInternal},
      {0x80000123UL, "CKR_0x80000123", ErrorCode::kInternal},
  };
  for (const Row& r : rows) {
    Error e = ckError("C_SignInit", r.rv);
    EXPECT_EQ(e.message, std::string("C_SignInit: ") + r.name);
    EXPECT_EQ(e.reason, r.name);
    EXPECT_EQ(e.code, r.code) << r.name;
  }
  EXPECT_TRUE(isSessionLoss(ckError("x", CKR_USER_NOT_LOGGED_IN)));
  EXPECT_FALSE(isSessionLoss(ckError("x", CKR_PIN_INCORRECT)));
  EXPECT_TRUE(ckCheck("x", CKR_OK).ok());
}

// A wrong stored PIN is Unauthenticated, names the token, never prints the PIN.
TEST(Pkcs11Errors, WrongPinIsClear) {
  Fixture f;
  ASSERT_TRUE(f.backend.generate(spec(Purpose::kEncrypt, Algorithm::kAes256)).ok());
  auto bad = std::make_shared<MemorySecretStore>();
  ASSERT_TRUE(bad->put("hsm.tenant-a.user-pin", SecretValue("wrong-pin-value")).ok());
  f.ck->dropAllSessions();  // forget the first backend's login
  Pkcs11Backend other(f.ck, bad, Pkcs11BackendOptions{"hsm", "", 2, ""});
  auto d = other.describe(spec(Purpose::kEncrypt, Algorithm::kAes256));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(d.error().message.find("C_Login: CKR_PIN_INCORRECT (keygate:tenant-a"), std::string::npos)
      << d.error().message;
  EXPECT_EQ(d.error().message.find("wrong-pin-value"), std::string::npos);
  EXPECT_EQ(f.ck->objectCount(), 1u);
}

// No free slot left: ResourceExhausted, nothing initialised.
TEST(Pkcs11Errors, NoFreeSlot) {
  auto ck = std::make_shared<FakeCryptoki>(1);
  auto store = std::make_shared<MemorySecretStore>();
  Pkcs11Backend b(ck, store, Pkcs11BackendOptions{"hsm", "", 2, ""});
  ASSERT_TRUE(b.generate(spec(Purpose::kEncrypt, Algorithm::kAes256, "one")).ok());
  auto g = b.generate(spec(Purpose::kEncrypt, Algorithm::kAes256, "two"));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kResourceExhausted);
}

// Self test passes when active, fails (as a value) when not.
TEST(Pkcs11SelfTest, PassesOnlyWhenActive) {
  Fixture f;
  KeySpec k = spec(Purpose::kMac, Algorithm::kHmacSha256);
  ASSERT_TRUE(f.backend.generate(k).ok());
  auto before = f.backend.selfTest(k);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->passed);
  EXPECT_NE(before->detail.find("CKR_KEY_FUNCTION_NOT_PERMITTED"), std::string::npos) << before->detail;
  ASSERT_TRUE(f.backend.activate(k).ok());
  auto after = f.backend.selfTest(k);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->passed) << after->detail;
  EXPECT_EQ(after->mechanism, "CKM_SHA256_HMAC");
}

// The mechanism's known-answer test catches a module that computes AES-GCM wrong (the fake
// module's "encryption" is a XOR): the self test fails as a value, naming the vector.
TEST(Pkcs11SelfTest, KnownAnswerTestCatchesAWrongModule) {
  Fixture f;
  KeySpec k = spec(Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(f.backend.generate(k).ok());
  ASSERT_TRUE(f.backend.activate(k).ok());
  auto r = f.backend.selfTest(k);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_FALSE(r->passed);
  EXPECT_NE(r->detail.find("AES-256-GCM known-answer test"), std::string::npos) << r->detail;
}

// FileSecretStore: 0600 files in a 0700 dir, replaced atomically, names validated.
TEST(FileSecretStoreTest, StoresPrivateFiles) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "keygate-secrets-XXXXXX").string();
  std::string dir = ::mkdtemp(tmpl.data());
  auto store = FileSecretStore::open(dir + "/s");
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->get("softhsm.a.user-pin").value().has_value());
  ASSERT_TRUE((*store)->put("softhsm.a.user-pin", SecretValue("one")).ok());
  ASSERT_TRUE((*store)->put("softhsm.a.user-pin", SecretValue("two")).ok());
  EXPECT_EQ((*store)->get("softhsm.a.user-pin").value()->value(), "two");
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/s/softhsm.a.user-pin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir + "/s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir + "/s"), {}), 1) << "no temp files left";
  EXPECT_FALSE((*store)->put("../escape", SecretValue("x")).ok());
  EXPECT_FALSE((*store)->get("").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keygate::backends::testing
