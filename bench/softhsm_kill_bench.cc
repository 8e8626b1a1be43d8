// softhsm_kill_bench [kills=100] [--all] [--create] [--copy] [--repair] — what a SIGKILL
// leaves in SoftHSM2's file object store.
//
// A key made with Keygate's own generation template (AES-256, Encrypt: sensitive, not
// extractable, usage off) in a throwaway token; then, `kills` times: a child process flips the
// key's usage with Keygate's own usage template (C_SetAttributeValue, what
// Pkcs11Backend::applyUsage does at activation and deactivation) in a loop, and is SIGKILLed
// after a random 5–50 ms; a fresh process then looks for the key. Each step runs in its own
// process, as the operator restarting would. Prints, per outcome, how many kills left it:
// intact, gone (no object with its CKA_ID), or damaged (no intact object; the whole token
// unusable counted apart), or its value readable. Stops at the first kill that did not leave
// the key intact, unless --all (which then starts again from a fresh token).
//   --create  the child leaves the key alone and creates and destroys other keys in the same
//             token instead (what the operator does all day), with Keygate's create path
//             (create_objects.h: a session object copied into the token); after each kill the
//             objects of no key it left are counted — usable (C_EncryptInit accepts them) or
//             not — and removed.
//   --direct  with --create: C_GenerateKey straight into the token (the path before the
//             staged create, and what a module that refuses the copy gets).
//   --copy    the usage changes the other way PKCS#11 allows: C_CopyObject with the new
//             usage, then C_DestroyObject of the old object (the key made CKA_COPYABLE for
//             it). A kill between the two leaves two objects with the key's CKA_ID, a kill
//             inside the copy a damaged copy beside the intact original: "recoverable" (the
//             next child keeps one intact object and destroys the rest, as the operator would).
//   --repair  Keygate's SoftHSM2 store guard (softhsm_store.h): the child refreshes the copies
//             around each usage change as Pkcs11Backend::applyUsage does, and the guard runs
//             after each kill, as the operator's restart does before it loads the module.
// Never asserts: it measures the HSM, not Keygate. Figures: docs/scale.md.
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "backends/pkcs11/create_objects.h"
#include "backends/pkcs11/cryptoki_dl.h"
#include "backends/pkcs11/softhsm_store.h"
#include "backends/pkcs11/templates.h"
#include "support/softhsm_temp_dir.h"

using namespace keygate;
using namespace keygate::backends;
using namespace keygate::backends::pkcs11;

namespace {

const KeySpec kSpec{{"kill-bench", "victim", 1}, Purpose::kEncrypt, Algorithm::kAes256};
bool gCopy = false;
bool gCreate = false;  // --create: the child creates and destroys other keys; the victim is left alone
bool gDirect = false;  // --direct: with --create, generated straight into the token
bool gRepair = false;  // --repair: Keygate's SoftHSM2 store guard, as Pkcs11Backend runs it
std::string gTokenDir;

// C_CopyObject, which Keygate's Cryptoki interface does not carry.
CK_RV copyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, std::span<const CK_ATTRIBUTE> t, CK_OBJECT_HANDLE* out) {
  static CK_FUNCTION_LIST_PTR f = [] {
    CK_FUNCTION_LIST_PTR list = nullptr;
    void* h = dlopen(KEYGATE_SOFTHSM2_MODULE, RTLD_NOW | RTLD_NOLOAD);
    auto get = h ? reinterpret_cast<CK_C_GetFunctionList>(dlsym(h, "C_GetFunctionList")) : nullptr;
    if (!get || get(&list) != CKR_OK) _exit(24);
    return list;
  }();
  return f->C_CopyObject(s, o, const_cast<CK_ATTRIBUTE*>(t.data()), t.size(), out);
}

struct Open {
  std::shared_ptr<DlCryptoki> ck;
  CK_SESSION_HANDLE s = 0;
};

Open open() {
  Open o;
  auto ck = DlCryptoki::load(KEYGATE_SOFTHSM2_MODULE);
  if (!ck.ok()) _exit(20);
  o.ck = *ck;
  std::vector<CK_SLOT_ID> slots;
  if (o.ck->getSlotList(true, &slots) != CKR_OK || slots.empty()) _exit(21);
  if (o.ck->openSession(slots.front(), CKF_SERIAL_SESSION | CKF_RW_SESSION, &o.s) != CKR_OK) _exit(22);
  if (o.ck->login(o.s, CKU_USER, "1234") != CKR_OK) _exit(23);
  return o;
}

std::vector<CK_OBJECT_HANDLE> find(Open& o) {
  AttributeList q;
  q.addBytes(CKA_ID, objectId(kSpec.ref));
  std::vector<CK_OBJECT_HANDLE> found;
  (void)o.ck->findObjects(o.s, q.span(), &found, 64);
  return found;
}

// Child: make the key.
int create() {
  Open o = open();
  GenerationTemplate g = generationTemplate(kSpec);
  CK_MECHANISM m{g.mechanism, nullptr, 0};
  CK_OBJECT_HANDLE h = 0;
  std::vector<CK_ATTRIBUTE> t(g.secret.span().begin(), g.secret.span().end());
  static CK_BBOOL yes = CK_TRUE;
  for (auto& a : t)
    if (a.type == CKA_COPYABLE && gCopy) a.pValue = &yes;
  return o.ck->generateKey(o.s, m, t, &h) == CKR_OK ? 0 : 30;
}

// Child: flip the usage until killed.
int checkOne(Open& o, CK_OBJECT_HANDLE h);
int flip() {
  Open o = open();
  auto found = find(o);
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  for (CK_OBJECT_HANDLE c : found) {  // after a kill: keep one intact object, destroy the others
    if (h == CK_INVALID_HANDLE && checkOne(o, c) == 0) h = c;
    else if (o.ck->destroyObject(o.s, c) != CKR_OK) return 35;
  }
  if (h == CK_INVALID_HANDLE) return 31;
  if (gCreate) {
    GenerationTemplate g = generationTemplate(KeySpec{{"kill-bench", "other", 1}, Purpose::kEncrypt, Algorithm::kAes256});
    for (;;) {
      auto made = generateObjects(*o.ck, o.s, g, "other", !gDirect);
      if (!made.ok()) return 36;
      for (const ObjectRef& other : *made)
        if (o.ck->destroyObject(o.s, other.handle) != CKR_OK) return 37;
    }
  }
  for (unsigned i = 0;; ++i) {
    AttributeList t = usageTemplate(kSpec.purpose, CKO_SECRET_KEY, i % 2 ? UsageState::kFull : UsageState::kNone);
    if (!gCopy) {
      // With --repair, the copies are refreshed around the change as Pkcs11Backend::applyUsage does.
      if (gRepair && !checkSoftHsmTokens(gTokenDir, false, "kill-bench").ok()) return 38;
      if (o.ck->setAttributeValue(o.s, h, t.span()) != CKR_OK) return 32;
      if (gRepair && !checkSoftHsmTokens(gTokenDir, false, "kill-bench").ok()) return 38;
      continue;
    }
    CK_OBJECT_HANDLE copy = 0;
    if (copyObject(o.s, h, t.span(), &copy) != CKR_OK) return 33;
    if (o.ck->destroyObject(o.s, h) != CKR_OK) return 34;
    h = copy;
  }
}

// Child: 0 intact, 1 recoverable (one intact object, besides duplicates or damaged copies),
// 2 gone, 3 damaged (objects with the CKA_ID, none intact), 4 value readable.
int checkOne(Open& o, CK_OBJECT_HANDLE h);
int check() {
  Open o = open();
  auto found = find(o);
  if (found.empty()) return 2;
  int intact = 0;
  for (CK_OBJECT_HANDLE h : found) {
    const int r = checkOne(o, h);
    if (r == 4) return 4;
    intact += r == 0;
  }
  if (intact == 0) return 3;
  return found.size() == 1 ? 0 : 1;
}
int checkOne(Open& o, CK_OBJECT_HANDLE h) {
  CK_KEY_TYPE type = 0;
  CK_ULONG len = 0;
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
  CK_ATTRIBUTE a[] = {{CKA_KEY_TYPE, &type, sizeof type},
                      {CKA_VALUE_LEN, &len, sizeof len},
                      {CKA_SENSITIVE, &sensitive, 1},
                      {CKA_EXTRACTABLE, &extractable, 1}};
  const CK_RV rv = o.ck->getAttributeValue(o.s, h, a);
  if (rv != CKR_OK || type != CKK_AES || len != 32) {
    if (std::getenv("KILL_BENCH_DEBUG"))
      std::fprintf(stderr, "damaged object %lu: rv 0x%lx type %lu len %lu\n", h, rv, type, len);
    return 3;
  }
  uint8_t value[64];
  CK_ATTRIBUTE v[] = {{CKA_VALUE, value, sizeof value}};
  if (o.ck->getAttributeValue(o.s, h, v) == CKR_OK) return 4;
  if (sensitive == CK_TRUE && extractable == CK_FALSE) return 0;
  if (std::getenv("KILL_BENCH_DEBUG"))
    std::fprintf(stderr, "damaged object %lu: sensitive %d extractable %d\n", h, sensitive, extractable);
  return 3;
}

// Child (--create): the objects beside the victim a kill left, each tried for encryption and
// then destroyed, so that each kill counts its own. Exit code: 100 + usable * 30 + unusable
// with a usage attribute on * 10 + the rest (each at most 9; below 100: open() failed).
int leftovers() {
  Open o = open();
  std::vector<CK_OBJECT_HANDLE> all;
  if (o.ck->findObjects(o.s, {}, &all, 1024) != CKR_OK) return 255;
  const Bytes victim = objectId(kSpec.ref);
  int usable = 0, flagged = 0, inert = 0;
  for (CK_OBJECT_HANDLE h : all) {
    uint8_t id[64];
    CK_ATTRIBUTE a[] = {{CKA_ID, id, sizeof id}};
    if (o.ck->getAttributeValue(o.s, h, a) == CKR_OK && Bytes(id, id + a[0].ulValueLen) == victim) continue;
    CK_BYTE iv[16] = {0};
    CK_MECHANISM m{CKM_AES_CBC_PAD, iv, sizeof iv};
    CK_BBOOL enc = CK_FALSE, dec = CK_FALSE;
    CK_ATTRIBUTE flags[] = {{CKA_ENCRYPT, &enc, 1}, {CKA_DECRYPT, &dec, 1}};
    const bool usageOn = o.ck->getAttributeValue(o.s, h, flags) == CKR_OK && (enc == CK_TRUE || dec == CK_TRUE);
    if (o.ck->encryptInit(o.s, m, h) == CKR_OK) {
      Bytes out;
      (void)o.ck->encrypt(o.s, Bytes(16, 1), &out);
      ++usable;
    } else {
      ++(usageOn ? flagged : inert);
    }
    (void)o.ck->destroyObject(o.s, h);
  }
  return 100 + std::min(usable, 3) * 30 + std::min(flagged, 2) * 10 + std::min(inert, 9);
}

int inChild(int (*fn)()) {
  pid_t p = fork();
  if (p == 0) _exit(fn());
  int st = 0;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  const int kills = argc > 1 ? std::max(1, std::atoi(argv[1])) : 100;
  bool all = false;
  for (int i = 1; i < argc; ++i) {
    all = all || std::strcmp(argv[i], "--all") == 0;
    gCopy = gCopy || std::strcmp(argv[i], "--copy") == 0;
    gCreate = gCreate || std::strcmp(argv[i], "--create") == 0;
    gDirect = gDirect || std::strcmp(argv[i], "--direct") == 0;
    gRepair = gRepair || std::strcmp(argv[i], "--repair") == 0;
  }
  testing::SoftHsmTempDir dir;  // sets SOFTHSM2_CONF for the children
  gTokenDir = dir.path() + "/tokens";
  if (std::system("softhsm2-util --init-token --free --label kill-bench --pin 1234 --so-pin 1234 >/dev/null") != 0) {
    std::fprintf(stderr, "softhsm2-util --init-token failed\n");
    return 1;
  }
  if (inChild(create) != 0 || inChild(check) != 0) {
    std::fprintf(stderr, "cannot make the key\n");
    return 1;
  }
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay(5, 50);
  int outcomes[5] = {0, 0, 0, 0, 0};
  int done = 0, firstBad = 0, tokenLost = 0, restored = 0, leftUsable = 0, leftFlagged = 0, leftUnusable = 0;
  if (gRepair && !checkSoftHsmTokens(dir.path() + "/tokens", true).ok()) return 1;  // the first copy
  for (; done < kills; ++done) {
    pid_t p = fork();
    if (p == 0) _exit(flip());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
    if (gRepair) {
      auto c = checkSoftHsmTokens(dir.path() + "/tokens", true);
      if (c.ok()) restored += static_cast<int>(c->restored.size());
    }
    if (gCreate) {
      const int left = inChild(leftovers) - 100;
      if (left >= 0 && left < 155) leftUsable += left / 30, leftFlagged += left % 30 / 10, leftUnusable += left % 10;
    }
    const int r = inChild(check);
    if (r == 22) ++tokenLost;
    if (std::getenv("KILL_BENCH_DEBUG") && (r < 0 || r > 4)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      std::fprintf(stderr, "check exited %d, again 0.5 s later: %d\n", r, inChild(check));
    }
    outcomes[r >= 0 && r <= 4 ? r : 3]++;
    if (r != 0 && r != 1) {
      if (!firstBad) firstBad = done + 1;
      if (!all) {
        ++done;
        break;
      }
      // Start again from a fresh key.
      std::filesystem::remove_all(dir.path() + "/tokens");
      std::filesystem::create_directories(dir.path() + "/tokens");
      if (std::system("softhsm2-util --init-token --free --label kill-bench --pin 1234 --so-pin 1234 >/dev/null") != 0 ||
          inChild(create) != 0 || (gRepair && !checkSoftHsmTokens(dir.path() + "/tokens", true).ok()))
        return 1;
    }
  }
  std::printf("softhsm_kill_bench: SoftHSM2 file store, a SIGKILL 5-50 ms into a loop of %s\n\n",
              gCreate ? (gDirect ? "C_GenerateKey into the token + C_DestroyObject of other keys in the same token"
                                 : "Keygate's staged create (session key, C_CopyObject) + C_DestroyObject of other keys")
              : gCopy ? "usage changes by C_CopyObject with the new usage, then C_DestroyObject of the old"
                      : "usage changes (C_SetAttributeValue)");
  std::printf("%-52s %8d\n", "kills", done);
  std::printf("%-52s %8d\n", "key intact", outcomes[0]);
  std::printf("%-52s %8d\n", "key recoverable (intact, beside a duplicate or a damaged copy)", outcomes[1]);
  std::printf("%-52s %8d\n", "key gone (no object with its CKA_ID)", outcomes[2]);
  std::printf("%-52s %8d\n", "key damaged (no intact object with its CKA_ID)", outcomes[3]);
  std::printf("%-52s %8d\n", "  of which the token itself unusable (no session)", tokenLost);
  if (gRepair) std::printf("%-52s %8d\n", "files put back by the guard (--repair)", restored);
  std::printf("%-52s %8d\n", "key value readable (CKA_VALUE returned)", outcomes[4]);
  if (gCreate) {
    std::printf("%-52s %8d\n", "objects of no key the kills left: usable (encrypt)", leftUsable);
    std::printf("%-52s %8d\n", "  not usable, but with encrypt or decrypt on", leftFlagged);
    std::printf("%-52s %8d\n", "  not usable, no usage on (or no attributes)", leftUnusable);
  }
  std::printf("%-52s %8d\n", "first kill that did not leave the key intact", firstBad);
  return 0;
}
