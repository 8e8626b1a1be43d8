// Every algorithm × allowed purpose through the whole lifecycle on a real SoftHSM2 token,
// checked by calling Cryptoki directly from the test's own session.
#include <gtest/gtest.h>

#include <set>

#include "backends/pkcs11/ck_errors.h"
#include "support/softhsm_env.h"

namespace keygate::backends::testing {
namespace {
using pkcs11::ckrName;

struct Case {
  Purpose purpose;
  Algorithm algorithm;
};

std::string caseName(const ::testing::TestParamInfo<Case>& info) {
  std::string n = std::string(purposeName(info.param.purpose)) + "_" + algorithmName(info.param.algorithm);
  for (char& c : n) {
    if (c == '-') c = '_';
  }
  return n;
}

// What each lifecycle state must permit, written out per purpose (not derived from the
// implementation's tables).
std::set<Op> permitted(Purpose p, UsageState s) {
  if (s == UsageState::kNone) return {};
  const bool full = s == UsageState::kFull;
  switch (p) {
    case Purpose::kEncrypt: return full ? std::set<Op>{Op::kEncrypt, Op::kDecrypt} : std::set<Op>{Op::kDecrypt};
    case Purpose::kSign: return full ? std::set<Op>{Op::kSign, Op::kVerify} : std::set<Op>{Op::kVerify};
    case Purpose::kWrap: return full ? std::set<Op>{Op::kWrap, Op::kUnwrap} : std::set<Op>{Op::kUnwrap};
    case Purpose::kMac: return full ? std::set<Op>{Op::kSign, Op::kVerify} : std::set<Op>{Op::kVerify};
  }
  return {};
}

void expectOnly(Prober& p, const Case& c, UsageState state, const char* phase) {
  auto allowed = permitted(c.purpose, state);
  for (Op op : kAllOps) {
    CK_RV rv = p.run(op);
    if (allowed.count(op)) {
      EXPECT_EQ(ckrName(rv), "CKR_OK") << phase << ": " << opName(op) << " must work";
    } else if (p.natural(op)) {
      EXPECT_EQ(ckrName(rv), "CKR_KEY_FUNCTION_NOT_PERMITTED") << phase << ": " << opName(op) << " must be refused";
    } else {
      EXPECT_NE(rv, CKR_OK) << phase << ": " << opName(op) << " has no mechanism for this key type yet worked";
    }
  }
}

class LifecycleTest : public ::testing::TestWithParam<Case> {};

// PreActive: nothing works; Active: only the purpose; Deactivated: only processing;
// Compromised: nothing; destroyed: gone. describe() and selfTest agree at each step.
TEST_P(LifecycleTest, OnlyThePurposeWorksAndOnlyWhenActive) {
  const Case c = GetParam();
  auto backend = SoftHsmEnv::get().openBackend();
  ASSERT_TRUE(backend);
  const std::string ns = uniqueNamespace("tenant");
  KeySpec spec{KeyRef{ns, uniqueUid(), 1}, c.purpose, c.algorithm};

  auto gen = backend->generate(spec);
  ASSERT_TRUE(gen.ok()) << gen.error().toString();
  EXPECT_TRUE(gen->created);
  EXPECT_EQ(gen->backendKeyId, spec.ref.backendKeyId());
  const bool pair = c.algorithm != Algorithm::kAes256 && c.algorithm != Algorithm::kHmacSha256;
  if (pair) {
    EXPECT_EQ(gen->fingerprint.rfind("sha256:", 0), 0u) << gen->fingerprint;
    EXPECT_EQ(gen->fingerprint.size(), 7u + 64u);
  } else {  // SoftHSM computes CKA_CHECK_VALUE (3 bytes) for AES and generic secrets
    EXPECT_EQ(gen->fingerprint.rfind("kcv:", 0), 0u) << gen->fingerprint;
    EXPECT_EQ(gen->fingerprint.size(), 4u + 6u);
  }

  auto session = openTenantSession(*backend, ns);
  ASSERT_TRUE(session);
  ASSERT_EQ(session->loginRv(), CKR_OK);
  // Before the prober makes its own session key: every object the process sees is the key's.
  EXPECT_EQ(session->findAll().size(), pair ? 2u : 1u) << "no session object of the create is left behind";
  Prober probe(*session, c.algorithm, spec.ref.backendKeyId());
  ASSERT_EQ(probe.objectCount(), pair ? 2u : 1u) << "the key must exist in the tenant's token";

  // Protection attributes as generated.
  for (CK_OBJECT_HANDLE o : session->findByLabel(spec.ref.backendKeyId())) {
    EXPECT_EQ(session->boolAttr(o, CKA_TOKEN), 1);
    EXPECT_EQ(session->boolAttr(o, CKA_PRIVATE), 1);
    EXPECT_EQ(session->boolAttr(o, CKA_MODIFIABLE), 1);
    if (session->ulongAttr(o, CKA_CLASS) != CKO_PUBLIC_KEY) {
      EXPECT_EQ(session->boolAttr(o, CKA_SENSITIVE), 1);
      EXPECT_EQ(session->boolAttr(o, CKA_EXTRACTABLE), 0);
      EXPECT_EQ(session->boolAttr(o, CKA_NEVER_EXTRACTABLE), 1);
      EXPECT_EQ(session->boolAttr(o, CKA_ALWAYS_SENSITIVE), 1);
    }
    // Made inside the token, also when made as a session object and copied into it
    // (create_objects.h: the copy keeps what the generation set).
    EXPECT_EQ(session->boolAttr(o, CKA_LOCAL), 1);
  }

  auto d = backend->describe(spec);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
  EXPECT_EQ(d->fingerprint, gen->fingerprint);
  expectOnly(probe, c, UsageState::kNone, "PreActive");

  ASSERT_TRUE(backend->activate(spec).ok());
  EXPECT_EQ(backend->describe(spec)->state, BackendKeyState::kActive);
  auto st = backend->selfTest(spec);
  ASSERT_TRUE(st.ok()) << st.error().toString();
  EXPECT_TRUE(st->passed) << st->mechanism << ": " << st->detail;
  expectOnly(probe, c, UsageState::kFull, "Active");

  ASSERT_TRUE(backend->deactivate(spec).ok());
  EXPECT_EQ(backend->describe(spec)->state, BackendKeyState::kDeactivated);
  expectOnly(probe, c, UsageState::kProcessOnly, "Deactivated");
  auto failed = backend->selfTest(spec);
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->passed) << "a deactivated key must not pass a protect+process round trip";

  ASSERT_TRUE(backend->markCompromised(spec).ok());
  EXPECT_EQ(backend->describe(spec)->state, BackendKeyState::kNoUsage);
  expectOnly(probe, c, UsageState::kNone, "Compromised");

  ASSERT_TRUE(backend->destroy(spec.ref).ok());
  EXPECT_TRUE(session->findByLabel(spec.ref.backendKeyId()).empty());
  EXPECT_EQ(backend->describe(spec)->state, BackendKeyState::kAbsent);
  EXPECT_TRUE(backend->destroy(spec.ref).ok()) << "destroy is idempotent";
  EXPECT_EQ(backend->activate(spec).error().code, ErrorCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Softhsm, LifecycleTest,
                         ::testing::Values(Case{Purpose::kEncrypt, Algorithm::kAes256},
                                           Case{Purpose::kEncrypt, Algorithm::kRsa3072},
                                           Case{Purpose::kSign, Algorithm::kRsa3072},
                                           Case{Purpose::kSign, Algorithm::kEcP256},
                                           Case{Purpose::kSign, Algorithm::kEcP384},
                                           Case{Purpose::kSign, Algorithm::kRsa4096},
                                           Case{Purpose::kWrap, Algorithm::kAes256},
                                           Case{Purpose::kWrap, Algorithm::kRsa3072},
                                           Case{Purpose::kMac, Algorithm::kHmacSha256}),
                         caseName);

}  // namespace
}  // namespace keygate::backends::testing
