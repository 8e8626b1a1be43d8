// Tenant isolation, crash safety, restart, session loss, drift, concurrency, pkcs11-tool
// and bad input on a real SoftHSM2.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/cryptoki_dl.h"
#include "backends/pkcs11/templates.h"
#include "backends/registry.h"
#include "support/softhsm_env.h"

namespace keygate::backends::testing {
namespace {
using namespace keygate::backends::pkcs11;

KeySpec aesKey(const std::string& ns, Purpose p = Purpose::kEncrypt) {
  return KeySpec{KeyRef{ns, uniqueUid(), 1}, p, Algorithm::kAes256};
}

std::string runCommand(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), f)) out.append(buf, n);
  ::pclose(f);
  return out;
}

// A key in tenant-a's token is invisible from a session on tenant-b's token.
TEST(Pkcs11Isolation, KeyInTenantAIsNotVisibleFromTenantB) {
  auto b = SoftHsmEnv::get().openBackend();
  const std::string nsA = uniqueNamespace("tenant-a"), nsB = uniqueNamespace("tenant-b");
  KeySpec k = aesKey(nsA);
  ASSERT_TRUE(b->generate(k).ok());
  ASSERT_TRUE(b->generate(aesKey(nsB)).ok());
  auto tA = b->tokenFor(nsA), tB = b->tokenFor(nsB);
  ASSERT_TRUE(tA.ok() && tB.ok());
  EXPECT_NE((*tA)->label(), (*tB)->label());
  EXPECT_EQ((*tA)->label(), "keygate:" + nsA);

  auto sessionB = openTenantSession(*b, nsB);
  EXPECT_TRUE(sessionB->findByLabel(k.ref.backendKeyId()).empty());
  EXPECT_EQ(sessionB->findAll().size(), 1u) << "tenant-b sees only its own key";
  auto sessionA = openTenantSession(*b, nsA);
  EXPECT_EQ(sessionA->findByLabel(k.ref.backendKeyId()).size(), 1u);
  // The same key reference under another namespace resolves to nothing.
  KeySpec wrongTenant = k;
  wrongTenant.ref.tenantNamespace = nsB;
  EXPECT_EQ(b->describe(wrongTenant)->state, BackendKeyState::kAbsent);
  EXPECT_EQ(b->activate(wrongTenant).error().code, ErrorCode::kNotFound);
}

// Crash after generate, before the status write; restart (new backend, module finalised
// and re-initialised, token re-found by label, PIN from the store): exactly one object set.
TEST(Pkcs11CrashSafety, GenerateAfterRestartFindsTheExistingKey) {
  const std::string ns = uniqueNamespace("crash");
  KeySpec aes = aesKey(ns);
  KeySpec ec{KeyRef{ns, uniqueUid(), 3}, Purpose::kSign, Algorithm::kEcP256};
  GeneratedKey first, firstEc;
  {
    auto b = SoftHsmEnv::get().openBackend();
    first = b->generate(aes).value();
    firstEc = b->generate(ec).value();
    EXPECT_TRUE(first.created && firstEc.created);
  }  // last owner gone: C_Finalize
  auto b = SoftHsmEnv::get().openBackend();
  auto again = b->generate(aes);
  ASSERT_TRUE(again.ok()) << again.error().toString();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->fingerprint, first.fingerprint);
  auto againEc = b->generate(ec);
  ASSERT_TRUE(againEc.ok()) << againEc.error().toString();
  EXPECT_FALSE(againEc->created);
  EXPECT_EQ(againEc->fingerprint, firstEc.fingerprint);
  EXPECT_TRUE(b->generate(aes).ok());  // and again, from the handle cache
  auto s = openTenantSession(*b, ns);
  EXPECT_EQ(s->findByLabel(aes.ref.backendKeyId()).size(), 1u);
  EXPECT_EQ(s->findByLabel(ec.ref.backendKeyId()).size(), 2u);
  EXPECT_EQ(s->findAll().size(), 3u);
}

// Half a key pair that was never enabled is replaced; an enabled one is left alone.
TEST(Pkcs11CrashSafety, HalfKeyPairIsReplacedOnlyWhenUnused) {
  auto b = SoftHsmEnv::get().openBackend();
  const std::string ns = uniqueNamespace("half");
  KeySpec ec{KeyRef{ns, uniqueUid(), 1}, Purpose::kSign, Algorithm::kEcP256};
  ASSERT_TRUE(b->generate(ec).ok());
  {
    auto s = openTenantSession(*b, ns);
    for (CK_OBJECT_HANDLE o : s->findByLabel(ec.ref.backendKeyId())) {
      if (s->ulongAttr(o, CKA_CLASS) == CKO_PUBLIC_KEY) {
      ASSERT_EQ(s->ck().destroyObject(s->handle(), o), CKR_OK);
    }
    }
  }
  auto fresh = SoftHsmEnv::get().openBackend();  // no handle cache
  auto g = fresh->generate(ec);
  ASSERT_TRUE(g.ok()) << g.error().toString();
  EXPECT_TRUE(g->created);
  auto s = openTenantSession(*fresh, ns);
  EXPECT_EQ(s->findByLabel(ec.ref.backendKeyId()).size(), 2u);

  // Now enable it, remove the public half again: generate must refuse and keep the rest.
  ASSERT_TRUE(fresh->activate(ec).ok());
  for (CK_OBJECT_HANDLE o : s->findByLabel(ec.ref.backendKeyId())) {
    if (s->ulongAttr(o, CKA_CLASS) == CKO_PUBLIC_KEY) {
      ASSERT_EQ(s->ck().destroyObject(s->handle(), o), CKR_OK);
    }
  }
  auto third = SoftHsmEnv::get().openBackend();
  auto refused = third->generate(ec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition) << refused.error().toString();
  EXPECT_EQ(s->findByLabel(ec.ref.backendKeyId()).size(), 1u) << "nothing destroyed";
}

// The same key id with another algorithm is refused, nothing changed.
TEST(Pkcs11CrashSafety, SameIdDifferentAlgorithmIsRefused) {
  auto b = SoftHsmEnv::get().openBackend();
  KeySpec aes = aesKey(uniqueNamespace("algo"));
  ASSERT_TRUE(b->generate(aes).ok());
  KeySpec hmac = aes;
  hmac.purpose = Purpose::kMac;
  hmac.algorithm = Algorithm::kHmacSha256;
  auto r = b->generate(hmac);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists) << r.error().toString();
  EXPECT_EQ(b->describe(aes)->state, BackendKeyState::kNoUsage);
}

// Session and login loss (someone logged the application out) → re-open, log in, retry once.
TEST(Pkcs11Sessions, LoginLossIsRecoveredByOneRetry) {
  auto b = SoftHsmEnv::get().openBackend();
  const std::string ns = uniqueNamespace("relogin");
  KeySpec k = aesKey(ns);
  ASSERT_TRUE(b->generate(k).ok());
  auto token = b->tokenFor(ns).value();
  const auto before = token->stats();
  {
    auto s = openTenantSession(*b, ns);
    ASSERT_EQ(s->ck().logout(s->handle()), CKR_OK);  // logs out every session of the process
  }
  ASSERT_TRUE(b->activate(k).ok());
  auto d = b->describe(k);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, BackendKeyState::kActive);
  const auto after = token->stats();
  EXPECT_EQ(after.recoveries, before.recoveries + 1);
  EXPECT_EQ(after.logins, before.logins + 1);
}

// The token reports drift (CKA_ENCRYPT flipped outside Keygate); applyUsage repairs it.
TEST(Pkcs11Drift, FlippedUsageIsReportedAndRepaired) {
  auto b = SoftHsmEnv::get().openBackend();
  const std::string ns = uniqueNamespace("drift");
  KeySpec k = aesKey(ns);
  ASSERT_TRUE(b->generate(k).ok());
  auto s = openTenantSession(*b, ns);
  auto objs = s->findByLabel(k.ref.backendKeyId());
  ASSERT_EQ(objs.size(), 1u);
  AttributeList on;
  on.add(CKA_ENCRYPT, true);
  ASSERT_EQ(s->ck().setAttributeValue(s->handle(), objs[0], on.span()), CKR_OK);
  auto d = b->describe(k);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kDrifted);
  ASSERT_FALSE(d->drift.empty());
  EXPECT_NE(d->drift[0].find("CKA_ENCRYPT"), std::string::npos) << d->drift[0];
  ASSERT_TRUE(b->applyUsage(k, UsageState::kNone).ok());
  EXPECT_EQ(b->describe(k)->state, BackendKeyState::kNoUsage);
  EXPECT_EQ(s->boolAttr(objs[0], CKA_ENCRYPT), 0);
}

// Several workers at once: one session each, every key created exactly once.
TEST(Pkcs11Sessions, ConcurrentWorkersShareTheTokenSafely) {
  auto b = SoftHsmEnv::get().openBackend();
  const std::string ns = uniqueNamespace("workers");
  std::vector<KeySpec> keys;
  for (int i = 0; i < 16; ++i) keys.push_back(aesKey(ns));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = w; i < keys.size(); i += 4) {
        // Each key twice (the second is a no-op), then activated and self-tested.
        auto g1 = b->generate(keys[i]);
        auto g2 = g1.ok() ? b->generate(keys[i]) : g1;
        auto act = g2.ok() ? b->activate(keys[i]) : Status(g2.error());
        if (!act.ok()) {
          ++failures;
          ADD_FAILURE() << "key " << i << ": " << act.error().toString();
        }
        auto st = b->selfTest(keys[i]);
        if (!st.ok() || !st->passed) {
          ++failures;
          ADD_FAILURE() << "key " << i << " self test: " << (st.ok() ? st->detail : st.error().toString());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto s = openTenantSession(*b, ns);
  EXPECT_EQ(s->findAll().size(), keys.size());
  auto stats = b->tokenFor(ns).value()->stats();
  EXPECT_LE(stats.sessionsOpened, 5u) << "one session per worker (+1 for the token check)";
}

// keygate_pkcs11_sessions_open's source: sessions opened through the module and not yet
// closed; a backend's pooled sessions are counted while it lives and gone with it.
TEST(Pkcs11Sessions, OpenSessionCountFollowsOpensAndCloses) {
  const int64_t before = openSessionCount();
  {
    auto b = SoftHsmEnv::get().openBackend();
    KeySpec k = aesKey(uniqueNamespace("sessions"));
    ASSERT_TRUE(b->generate(k).ok());
    EXPECT_GT(openSessionCount(), before);
  }
  EXPECT_EQ(openSessionCount(), before) << "the pool's sessions are closed with the backend";
}

// A namespace too long for a 32-byte token label gets a stable hashed label.
TEST(Pkcs11Tokens, LongNamespaceGetsStableHashedLabel) {
  const std::string ns = uniqueNamespace("a-very-long-tenant-namespace-name-for-labels");
  const std::string label = tokenLabel(ns);
  EXPECT_LE(label.size(), 32u);
  EXPECT_EQ(label.rfind("keygate:a-very-long", 0), 0u) << label;
  EXPECT_EQ(label, tokenLabel(ns));
  KeySpec k = aesKey(ns);
  {
    auto b = SoftHsmEnv::get().openBackend();
    ASSERT_TRUE(b->generate(k).ok());
    EXPECT_EQ(b->tokenFor(ns).value()->label(), label);
  }
  auto b = SoftHsmEnv::get().openBackend();
  EXPECT_FALSE(b->generate(k)->created) << "re-found by the hashed label after restart";
}

// The PIN store holds the PINs under the operator's names, never logged; the token is
// re-found with them. A wrong PIN is a clear Unauthenticated error and destroys nothing.
TEST(Pkcs11BadInput, WrongPinInStoreIsAClearErrorAndNothingIsDestroyed) {
  const std::string ns = uniqueNamespace("wrongpin");
  KeySpec k = aesKey(ns);
  std::string soPin;
  {
    auto b = SoftHsmEnv::get().openBackend();
    ASSERT_TRUE(b->generate(k).ok());
    soPin = SoftHsmEnv::get().secrets()->get(b->tokens().soPinName(ns)).value()->value();
  }
  auto bad = std::make_shared<MemorySecretStore>();
  ASSERT_TRUE(bad->put("softhsm." + ns + ".so-pin", SecretValue(soPin)).ok());
  ASSERT_TRUE(bad->put("softhsm." + ns + ".user-pin", SecretValue("not-the-pin")).ok());
  {
    auto b = SoftHsmEnv::get().openBackend(bad);
    auto r = b->generate(k);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_NE(r.error().message.find("C_Login: CKR_PIN_INCORRECT"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("not-the-pin"), std::string::npos) << "never print a PIN";
    EXPECT_FALSE(b->destroy(k.ref).ok());
  }
  {  // Token exists but the store lost its PIN: refuse, do not re-initialise.
    auto empty = std::make_shared<MemorySecretStore>();
    auto b = SoftHsmEnv::get().openBackend(empty);
    auto r = b->describe(k);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << r.error().toString();
  }
  auto good = SoftHsmEnv::get().openBackend();
  auto d = good->describe(k);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage) << "the key survived";
}

// Algorithm/purpose misfits and malformed refs are refused before the token is touched.
TEST(Pkcs11BadInput, UnknownOrMisfitAlgorithmIsRefused) {
  auto b = SoftHsmEnv::get().openBackend();
  const std::string ns = uniqueNamespace("misfit");
  KeySpec k{KeyRef{ns, uniqueUid(), 1}, Purpose::kSign, Algorithm::kAes256};
  auto r = b->generate(k);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "AES-256 cannot serve purpose Sign");
  k.purpose = Purpose::kMac;
  k.algorithm = Algorithm::kRsa3072;
  EXPECT_EQ(b->generate(k).error().message, "RSA-3072 cannot serve purpose MAC");
  EXPECT_FALSE(parseAlgorithm("DES-56").ok());
  EXPECT_FALSE(parsePurpose("Decrypt").ok());
  k.ref.tenantNamespace = "Bad_Namespace";
  k.algorithm = Algorithm::kHmacSha256;
  EXPECT_EQ(b->generate(k).error().code, ErrorCode::kInvalidArgument);
  k.ref.tenantNamespace = ns;
  k.ref.version = 0;
  EXPECT_EQ(b->generate(k).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(b->importWrapped(k, 1, {}).error().code, ErrorCode::kInvalidArgument);  // version 0
  auto s = openTenantSession(*b, ns);
  EXPECT_TRUE(s->findAll().empty()) << "nothing was created";
}

// Module path problems are clear errors, not crashes.
TEST(Pkcs11BadInput, MissingOrBogusModuleIsAClearError) {
  auto store = std::make_shared<MemorySecretStore>();
  auto open = [&](const std::string& path) {
    Pkcs11BackendOptions o;
    o.modulePath = path;
    return Pkcs11Backend::open(o, store);
  };
  auto empty = open("");
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  auto missing = open("/nonexistent/libpkcs11.so");
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("/nonexistent/libpkcs11.so does not exist"), std::string::npos);
  auto notLib = open(SoftHsmEnv::get().confPath());
  EXPECT_EQ(notLib.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(notLib.error().message.find("cannot load PKCS#11 module"), std::string::npos) << notLib.error().message;
  for (const char* lib : {"/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1"}) {
    if (::access(lib, R_OK) != 0) continue;
    auto noSym = open(lib);
    EXPECT_EQ(noSym.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(noSym.error().message.find("is not a PKCS#11 module"), std::string::npos) << noSym.error().message;
    break;
  }
}

// The registry builds the backend from config by type and names the bad field.
TEST(Pkcs11Registry, BuildsFromConfigByType) {
  auto reg = BackendRegistry::withBuiltins();
  BackendDeps deps{SoftHsmEnv::get().secrets()};
  BackendConfig ok{"softhsm", "pkcs11",
                   Json{{"name", "softhsm"}, {"type", "pkcs11"}, {"module", SoftHsmEnv::get().modulePath()},
                        {"isolation", "tokenPerNamespace"}}};
  auto b = reg.build(ok, deps);
  ASSERT_TRUE(b.ok()) << b.error().toString();
  EXPECT_EQ((*b)->type(), "pkcs11");
  EXPECT_EQ((*b)->name(), "softhsm");

  BackendConfig unknown{"kms", "vault", Json::object()};
  EXPECT_EQ(reg.build(unknown, deps).error().message,
            "backends[kms].type: unknown backend type \"vault\" (known: kmip, pkcs11)");
  BackendConfig noModule{"softhsm", "pkcs11", Json{{"isolation", "tokenPerNamespace"}}};
  EXPECT_NE(reg.build(noModule, deps).error().message.find("backends[softhsm].module: required"), std::string::npos);
  BackendConfig shared{"softhsm", "pkcs11", Json{{"module", SoftHsmEnv::get().modulePath()}, {"isolation", "shared"}}};
  EXPECT_EQ(reg.build(shared, deps).error().code, ErrorCode::kInvalidArgument);
}

// pkcs11-tool, a separate process on the same token dir, lists the object with its
// usage: none while PreActive, encrypt+decrypt once active.
TEST(Pkcs11Tool, ListsTheObjectWithTheExpectedAttributes) {
  if (::access("/usr/bin/pkcs11-tool", X_OK) != 0) GTEST_SKIP() << "pkcs11-tool not installed";
  auto b = SoftHsmEnv::get().openBackend();
  const std::string ns = uniqueNamespace("tool");
  KeySpec k = aesKey(ns);
  ASSERT_TRUE(b->generate(k).ok());
  const std::string pin = SoftHsmEnv::get().secrets()->get(b->tokens().userPinName(ns)).value()->value();
  const std::string cmd = "SOFTHSM2_CONF=" + SoftHsmEnv::get().confPath() + " pkcs11-tool --module " +
                          SoftHsmEnv::get().modulePath() + " --token-label " + tokenLabel(ns) +
                          " --login --pin " + pin + " -O 2>&1";
  std::string out = runCommand(cmd);
  EXPECT_NE(out.find("Secret Key Object; AES length 32"), std::string::npos) << out;
  EXPECT_NE(out.find("label:      " + k.ref.backendKeyId()), std::string::npos) << out;
  EXPECT_NE(out.find("Usage:      none"), std::string::npos) << out;
  EXPECT_NE(out.find("Access:     sensitive, always sensitive, never extractable"), std::string::npos) << out;
  ASSERT_TRUE(b->activate(k).ok());
  out = runCommand(cmd);
  EXPECT_NE(out.find("Usage:      encrypt, decrypt"), std::string::npos) << out;
}

}  // namespace
}  // namespace keygate::backends::testing
