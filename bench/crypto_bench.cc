// crypto_bench [seconds-per-point=3] — the crypto API's cost over raw SoftHSM2.
//
// Raw: one PKCS#11 session in a tight loop, in process (C_EncryptInit + C_Encrypt of 1 KiB
// with AES-256-GCM; C_GenerateRandom + the same for a data key; C_SignInit + C_Sign of a
// SHA-256 digest with EC P-256). API: the same operation through gRPC (plain text on
// loopback), authentication (a bearer token; TokenReview answered by a stand-in that takes
// 2 ms, as a real API server would, so a cache miss would show), KeyUser authorization from
// the cache, state and purpose checks, the ciphertext format, metrics callback and audit
// aggregation — at 1, 16 and 64 concurrent clients, each with its own connection.
// Prints ops/s, p50 and p99 per call, and the ratio to raw.
//
// The load generator shares the machine with the server, so it is kept cheap: one thread
// drives all clients with gRPC's async API (each client keeps exactly one call in flight,
// like a closed-loop caller), instead of one blocking thread per client.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <openssl/sha.h>

#include "backends/pkcs11/mechanisms.h"
#include "bench_measure.h"
#include "controllers/audit.h"
#include "dataplane/crypto_client.h"
#include "dataplane/crypto_service.h"
#include "dataplane/grpc_server.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"
#include "backends/pkcs11/templates.h"
#include "keygate/v1/crypto.grpc.pb.h"
#include "kube/cache.h"
#include "support/softhsm_env.h"

using namespace keygate;
using BenchClock = std::chrono::steady_clock;

namespace {

using bench::Figures;
using bench::measure;

// n clients (one channel each, its own token), one call in flight per client, one thread.
template <typename Req, typename Resp, typename Prepare>
Figures measureAsync(const std::vector<std::unique_ptr<v1::Crypto::Stub>>& stubs, double seconds, const Req& req,
                     Prepare prepare) {
  return bench::measureAsync<Resp>(stubs.size(), seconds, [&](size_t slot, grpc::ClientContext* ctx, grpc::CompletionQueue* cq) {
    ctx->AddMetadata("authorization", "Bearer workload-" + std::to_string(slot));
    return prepare(stubs[slot].get(), ctx, req, cq);
  });
}

std::string sha256(const std::string& s) {
  std::string d(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  auto& env = backends::testing::SoftHsmEnv::get();
  auto backend = env.openBackend();
  const std::string ns = "bench-tenant";
  auto makeSpec = [&](const std::string& uid, backends::Purpose p, backends::Algorithm a) {
    backends::KeySpec s;
    s.ref = {ns, uid, 1};
    s.purpose = p;
    s.algorithm = a;
    return s;
  };
  auto aes = makeSpec("bench-aes", backends::Purpose::kEncrypt, backends::Algorithm::kAes256);
  auto ec = makeSpec("bench-ec", backends::Purpose::kSign, backends::Algorithm::kEcP256);
  for (const auto* s : {&aes, &ec}) {
    if (!backend->generate(*s).ok() || !backend->activate(*s).ok()) {
      std::fprintf(stderr, "cannot make the bench keys\n");
      return 1;
    }
  }
  const std::string kib(1024, 'p');
  const std::string digest = sha256("bench");

  // ---- raw: one session, tight loop ----
  auto token = *backend->tokenFor(ns);
  auto rawLoop = [&](const std::function<bool(backends::pkcs11::Session&, CK_OBJECT_HANDLE aesH, CK_OBJECT_HANDLE ecH)>& op) {
    Figures f;
    (void)token->withSession<bool>([&](backends::pkcs11::Session& s) -> Result<bool> {
      const auto aesObjs = token->cachedObjects(backends::pkcs11::objectId(aes.ref));
      const auto ecObjs = token->cachedObjects(backends::pkcs11::objectId(ec.ref));
      CK_OBJECT_HANDLE aesH = aesObjs && !aesObjs->empty() ? aesObjs->front().handle : CK_INVALID_HANDLE;
      CK_OBJECT_HANDLE ecH = CK_INVALID_HANDLE;
      if (ecObjs)
        for (const auto& o : *ecObjs)
          if (o.objectClass == CKO_PRIVATE_KEY) ecH = o.handle;
      f = measure(1, seconds, [&](int) { return op(s, aesH, ecH); });
      return true;
    });
    return f;
  };
  auto gcm = [&](backends::pkcs11::Session& s, CK_OBJECT_HANDLE h, const std::string& data) {
    std::array<uint8_t, 12> iv{};
    backends::pkcs11::Mechanism m;
    backends::pkcs11::setAesGcm(m, iv);
    std::vector<uint8_t> out;
    return s.ck().encryptInit(s.handle(), m.get(), h) == CKR_OK &&
           s.ck().encrypt(s.handle(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, &out) == CKR_OK;
  };
  Figures rawEncrypt = rawLoop([&](auto& s, auto aesH, auto) { return gcm(s, aesH, kib); });
  Figures rawDataKey = rawLoop([&](auto& s, auto aesH, auto) {
    std::vector<uint8_t> dk(32);
    if (s.ck().generateRandom(s.handle(), dk) != CKR_OK) return false;
    return gcm(s, aesH, std::string(dk.begin(), dk.end()));
  });
  Figures rawSign = rawLoop([&](auto& s, auto, auto ecH) {
    backends::pkcs11::Mechanism m;
    backends::pkcs11::setPlain(m, CKM_ECDSA);
    std::vector<uint8_t> sig;
    return s.ck().signInit(s.handle(), m.get(), ecH) == CKR_OK &&
           s.ck().sign(s.handle(), {reinterpret_cast<const uint8_t*>(digest.data()), digest.size()}, &sig) == CKR_OK;
  });

  // ---- through the API ----
  kube::Cache keys, bindings;
  auto keyJson = [&](const std::string& name, const backends::KeySpec& s, const char* purpose, const char* alg) {
    return Json{{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "EncryptionKey"},
                {"metadata", {{"name", name}, {"namespace", ns}, {"uid", s.ref.keyUid}, {"resourceVersion", "1"}}},
                {"spec", {{"purpose", purpose}, {"algorithm", alg}, {"backend", "softhsm"}}},
                {"status", {{"state", "Active"}, {"currentVersion", 1}, {"versions", {{{"version", 1}, {"state", "Active"}}}}}}};
  };
  keys.upsert(std::make_shared<const Json>(keyJson("data", aes, "Encrypt", "AES-256")));
  keys.upsert(std::make_shared<const Json>(keyJson("signer", ec, "Sign", "EC-P256")));
  bindings.upsert(std::make_shared<const Json>(Json{
      {"apiVersion", "keygate.dev/v1alpha1"},
      {"kind", "KeyRoleBinding"},
      {"metadata", {{"name", "users"}, {"namespace", ns}, {"uid", "b1"}, {"resourceVersion", "1"}}},
      {"spec", {{"role", "KeyUser"}, {"subjects", {{{"kind", "Group"}, {"name", "system:serviceaccounts:" + ns}}}}, {"reviewBy", "2099-12-31"}}}}));
  std::atomic<uint64_t> reviews{0};
  dataplane::TokenReviewAuthenticator authn(
      [&](const Json& body) -> Result<Json> {
        reviews++;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::string who = "system:serviceaccount:" + ns + ":" + body["spec"]["token"].get<std::string>();
        return Json{{"status", {{"authenticated", true},
                                {"user", {{"username", who}, {"groups", {"system:serviceaccounts", "system:serviceaccounts:" + ns}}}},
                                {"audiences", {"keygate.dev"}}}}};
      },
      {});
  dataplane::KeyDirectory directory(keys, bindings);
  dataplane::CryptoServiceDeps deps;
  deps.directory = &directory;
  deps.backend = [&](const std::string&) -> backends::KeyBackend* { return backend.get(); };
  deps.audit = std::make_shared<controllers::StreamAuditSink>(nullptr, 10);
  std::atomic<uint64_t> observed{0};
  std::atomic<uint64_t> serviceNs{0};
  deps.observe = [&](const dataplane::CallRecord& r) {
    observed++;
    serviceNs += static_cast<uint64_t>(r.duration.count() * 1e9);
  };
  dataplane::CryptoServiceOptions so;
  so.tenantQps = 0;  // measure the server, not the limiter
  dataplane::CryptoService service(std::move(deps), so);
  dataplane::GrpcServerOptions go;
  go.address = "127.0.0.1:0";
  auto server = dataplane::GrpcServer::start(go, authn, service);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.error().toString().c_str());
    return 1;
  }
  auto clientFor = [&](int t) {
    dataplane::CryptoClientOptions o;
    o.target = "127.0.0.1:" + std::to_string((*server)->port());
    o.insecure = true;
    o.token = "workload-" + std::to_string(t);
    return std::shared_ptr<dataplane::CryptoClient>(dataplane::CryptoClient::connect(o).value());
  };
  std::printf("crypto_bench: %.1f s per point, SoftHSM2 %s, %u CPUs\n\n", seconds, env.modulePath().c_str(),
              std::thread::hardware_concurrency());
  std::printf("%-26s %8s %12s %10s %10s %8s %7s %10s\n", "operation", "clients", "ops/s", "p50 us", "p99 us", "ratio",
              "errors", "in-svc us");
  // in-svc: mean wall time inside CryptoService per call (authorization, checks, the backend
  // call) — the rest of a call's latency is gRPC, the network stack and queueing.
  uint64_t lastCalls = 0, lastNs = 0;
  auto row = [&](const char* op, const char* clients, const Figures& f, double raw) {
    uint64_t calls = observed.load() - lastCalls, ns = serviceNs.load() - lastNs;
    lastCalls = observed.load();
    lastNs = serviceNs.load();
    std::printf("%-26s %8s %12.0f %10.0f %10.0f %8.2f %7llu %10.1f\n", op, clients, f.opsPerSec, f.p50us, f.p99us,
                raw > 0 ? f.opsPerSec / raw : 1.0, static_cast<unsigned long long>(f.errors),
                calls ? ns / 1e3 / calls : 0.0);
  };
  auto stubsFor = [&](int n) {
    std::vector<std::unique_ptr<v1::Crypto::Stub>> stubs;
    for (int t = 0; t < n; ++t) {
      grpc::ChannelArguments args;
      args.SetInt("keygate.bench.client", t);  // a distinct channel (connection) per client
      stubs.push_back(v1::Crypto::NewStub(grpc::CreateCustomChannel(
          "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials(), args)));
    }
    return stubs;
  };
  v1::EncryptRequest encReq;
  encReq.set_key(ns + "/data");
  encReq.set_plaintext(kib);
  v1::GenerateDataKeyRequest dkReq;
  dkReq.set_key(ns + "/data");
  v1::SignRequest signReq;
  signReq.set_key(ns + "/signer");
  signReq.set_digest(digest);
  const int counts[] = {1, 16, 64};
  row("Encrypt AES-256-GCM 1 KiB", "raw", rawEncrypt, 0);
  {
    // Keygate's own cost without gRPC: CryptoService::encrypt called in process by one thread
    // (authorization, checks, the IV from the HSM, the backend call, the ciphertext format).
    dataplane::Caller inproc;
    inproc.user.username = "system:serviceaccount:" + ns + ":inproc";
    inproc.user.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
    inproc.method = "token";
    Figures f = measure(1, seconds, [&](int) { return service.encrypt(inproc, encReq).ok(); });
    row("Encrypt AES-256-GCM 1 KiB", "in-proc", f, rawEncrypt.opsPerSec);
    // Two threads: SoftHSM2 serializes operations on one key object, so this is no faster.
    Figures f2 = measure(2, seconds, [&](int) { return service.encrypt(inproc, encReq).ok(); });
    row("Encrypt AES-256-GCM 1 KiB", "in-proc x2", f2, rawEncrypt.opsPerSec);
  }
  for (int n : counts) {
    auto f = measureAsync<v1::EncryptRequest, v1::EncryptResponse>(
        stubsFor(n), seconds, encReq,
        [](v1::Crypto::Stub* s, grpc::ClientContext* c, const v1::EncryptRequest& r, grpc::CompletionQueue* q) {
          return s->PrepareAsyncEncrypt(c, r, q);
        });
    row("Encrypt AES-256-GCM 1 KiB", std::to_string(n).c_str(), f, rawEncrypt.opsPerSec);
  }
  // In Batches of 16 calls: ops/s counts the calls (16 per Batch); p50/p99 are per Batch.
  const int kBatch = 16;
  auto batchRows = [&](const char* label, const std::function<void(v1::Call*)>& fill, double raw,
                       std::initializer_list<int> clients) {
    v1::BatchRequest batchReq;
    for (int i = 0; i < kBatch; ++i) fill(batchReq.add_calls());
    for (int n : clients) {
      auto f = measureAsync<v1::BatchRequest, v1::BatchResponse>(
          stubsFor(n), seconds, batchReq,
          [](v1::Crypto::Stub* s, grpc::ClientContext* c, const v1::BatchRequest& r, grpc::CompletionQueue* q) {
            return s->PrepareAsyncBatch(c, r, q);
          });
      f.opsPerSec *= kBatch;
      row(label, std::to_string(n).c_str(), f, raw);
    }
  };
  batchRows("Encrypt, Batch of 16", [&](v1::Call* c) { *c->mutable_encrypt() = encReq; }, rawEncrypt.opsPerSec,
            {1, 16, 64});
  row("GenerateDataKey 32 B", "raw", rawDataKey, 0);
  for (int n : counts) {
    auto f = measureAsync<v1::GenerateDataKeyRequest, v1::GenerateDataKeyResponse>(
        stubsFor(n), seconds, dkReq,
        [](v1::Crypto::Stub* s, grpc::ClientContext* c, const v1::GenerateDataKeyRequest& r, grpc::CompletionQueue* q) {
          return s->PrepareAsyncGenerateDataKey(c, r, q);
        });
    row("GenerateDataKey 32 B", std::to_string(n).c_str(), f, rawDataKey.opsPerSec);
  }
  batchRows("GenerateDataKey, Batch of 16", [&](v1::Call* c) { *c->mutable_generate_data_key() = dkReq; },
            rawDataKey.opsPerSec, {64});
  row("Sign ECDSA P-256", "raw", rawSign, 0);
  for (int n : counts) {
    auto f = measureAsync<v1::SignRequest, v1::SignResponse>(
        stubsFor(n), seconds, signReq,
        [](v1::Crypto::Stub* s, grpc::ClientContext* c, const v1::SignRequest& r, grpc::CompletionQueue* q) {
          return s->PrepareAsyncSign(c, r, q);
        });
    row("Sign ECDSA P-256", std::to_string(n).c_str(), f, rawSign.opsPerSec);
  }
  batchRows("Sign, Batch of 16", [&](v1::Call* c) { *c->mutable_sign() = signReq; }, rawSign.opsPerSec, {64});
  // The blocking client Keygate's own tools use (one thread per client), for comparison.
  for (int n : {16}) {
    std::vector<std::shared_ptr<dataplane::CryptoClient>> clients;
    for (int t = 0; t < n; ++t) clients.push_back(clientFor(t));
    Figures f = measure(n, seconds, [&](int t) { return clients[t]->encrypt(encReq).ok(); });
    row("Encrypt (blocking clients)", std::to_string(n).c_str(), f, rawEncrypt.opsPerSec);
  }
  std::printf("\nTokenReviews sent: %llu for %d distinct tokens (cached %lld s; a verdict is never kept past the token's exp)\n",
              static_cast<unsigned long long>(reviews.load()), 64, 30LL);
  std::printf("calls observed (metrics): %llu; mean time inside Keygate's service (authorization, checks, backend call): "
              "%.1f us per call\n",
              static_cast<unsigned long long>(observed.load()), observed ? serviceNs.load() / 1e3 / observed.load() : 0.0);
  (*server)->stop();
  env.cleanup();
  return 0;
}
