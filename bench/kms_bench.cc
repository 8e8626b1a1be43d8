// kms_bench [seconds-per-point=3] — the KMS v2 plugin through the whole chain, as
// kube-apiserver drives it: a v2.KeyManagementService client on the unix socket (one
// connection shared by all callers, as kube-apiserver holds one) → `kms::Plugin` → the crypto
// API over TLS with a client certificate (as the static pod authenticates) → CryptoService
// (KeyUser authorization, state and purpose checks, audit aggregation) → SoftHSM2 AES-256-GCM.
// Encrypt takes a 32-byte DEK seed; Decrypt takes one of its ciphertexts. Beside each, the
// same operation on the crypto API alone (a CryptoClient with the same certificate), so the
// plugin's own cost shows. 1, 8 and 32 calls in flight, like the goroutines of kube-apiserver's
// storage layer on its one connection; one load-generator thread drives them all through a
// gRPC CompletionQueue (the generator shares this machine's cores with the server). Prints
// ops/s, p50, p99.
//
// The contract's targets (Kubernetes KMS v2): Decrypt < 10 ms (thousands arrive when
// kube-apiserver starts), Encrypt < 100 ms. Figures, not assertions: this machine's other
// load decides them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "bench_measure.h"
#include "common/file.h"
#include "keygate/v1/crypto.grpc.pb.h"
#include "kms/v2/api.grpc.pb.h"
#include "controllers/audit.h"
#include "dataplane/crypto_client.h"
#include "dataplane/crypto_service.h"
#include "dataplane/grpc_server.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"
#include "kms/grpc_server.h"
#include "kms/plugin.h"
#include "kube/cache.h"
#include "support/kms_apiserver_client.h"
#include "support/softhsm_env.h"
#include "support/temp_dir.h"

using namespace keygate;
using bench::Figures;
using bench::measure;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  auto& env = backends::testing::SoftHsmEnv::get();
  auto backend = env.openBackend();
  const std::string ns = "cluster-kms";
  backends::KeySpec kek;
  kek.ref = {ns, "bench-kek-uid", 1};
  kek.purpose = backends::Purpose::kEncrypt;
  kek.algorithm = backends::Algorithm::kAes256;
  if (!backend->generate(kek).ok() || !backend->activate(kek).ok()) {
    std::fprintf(stderr, "cannot make the bench key\n");
    return 1;
  }

  // Certificates as in docs/kms-plugin.md: a serving certificate for 127.0.0.1 and the
  // plugin's client certificate (CN=kms-plugin) from the client CA.
  testing::TempDir dir("keygate-kms-bench");
  const std::string d = dir.path();
  if (sh("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
         "-days 1 -subj /CN=bench-ca && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
         "-out srv.csr -subj /CN=127.0.0.1 && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in "
         "srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out srv.crt -extfile san.ext && openssl req -newkey ec "
         "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key -out cli.csr -subj /CN=kms-plugin && openssl x509 -req "
         "-in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out cli.crt") != 0) {
    std::fprintf(stderr, "openssl failed to make the bench certificates\n");
    return 1;
  }

  kube::Cache keys, bindings;
  keys.upsert(std::make_shared<const Json>(Json{
      {"apiVersion", "keygate.dev/v1alpha1"},
      {"kind", "EncryptionKey"},
      {"metadata", {{"name", "etcd-kek"}, {"namespace", ns}, {"uid", kek.ref.keyUid}, {"resourceVersion", "1"}}},
      {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}},
      {"status", {{"state", "Active"}, {"currentVersion", 1}, {"versions", {{{"version", 1}, {"state", "Active"}}}}}}}));
  bindings.upsert(std::make_shared<const Json>(Json{
      {"apiVersion", "keygate.dev/v1alpha1"},
      {"kind", "KeyRoleBinding"},
      {"metadata", {{"name", "kube-apiserver"}, {"namespace", ns}, {"uid", "b1"}, {"resourceVersion", "1"}}},
      {"spec", {{"role", "KeyUser"}, {"subjects", {{{"kind", "User"}, {"name", "kms-plugin"}}}}, {"reviewBy", "2099-12-31"}}}}));
  dataplane::TokenReviewAuthenticatorOptions ao;
  ao.acceptCertificates = true;
  dataplane::TokenReviewAuthenticator authn(
      [](const Json&) -> Result<Json> { return makeError(ErrorCode::kUnavailable, "certificates only"); }, ao);
  dataplane::KeyDirectory directory(keys, bindings);
  dataplane::CryptoServiceDeps deps;
  deps.directory = &directory;
  deps.backend = [&](const std::string&) -> backends::KeyBackend* { return backend.get(); };
  deps.audit = std::make_shared<controllers::StreamAuditSink>(nullptr, 10);
  dataplane::CryptoServiceOptions so;
  so.tenantQps = 0;
  dataplane::CryptoService service(std::move(deps), so);
  dataplane::GrpcServerOptions go;
  go.address = "127.0.0.1:0";
  go.certFile = d + "/srv.crt";
  go.keyFile = d + "/srv.key";
  go.clientCaFile = d + "/ca.crt";
  auto server = dataplane::GrpcServer::start(go, authn, service);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.error().toString().c_str());
    return 1;
  }
  dataplane::CryptoClientOptions co;
  co.target = "127.0.0.1:" + std::to_string((*server)->port());
  co.caFile = d + "/ca.crt";
  co.certFile = d + "/cli.crt";
  co.keyFile = d + "/cli.key";
  co.timeout = std::chrono::seconds(2);
  auto client = dataplane::CryptoClient::connect(co);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.error().toString().c_str());
    return 1;
  }
  std::shared_ptr<dataplane::CryptoClient> c = std::move(*client);
  kms::Upstream up;
  up.encrypt = [c](const v1::EncryptRequest& r) { return c->encrypt(r); };
  up.decrypt = [c](const v1::DecryptRequest& r) { return c->decrypt(r); };
  kms::PluginOptions po;
  po.key = ns + "/etcd-kek";
  kms::Plugin plugin(po, up);
  if (Status st = plugin.probe(); !st.ok()) {
    std::fprintf(stderr, "health probe failed: %s\n", st.error().toString().c_str());
    return 1;
  }
  kms::KmsServerOptions ko;
  ko.listen = "unix://" + d + "/kms.sock";
  auto kmsServer = kms::KmsServer::start(ko, plugin);
  if (!kmsServer.ok()) {
    std::fprintf(stderr, "%s\n", kmsServer.error().toString().c_str());
    return 1;
  }
  testing::KmsApiServerClient apiserver(d + "/kms.sock");
  auto keyId = apiserver.status();
  if (!keyId.ok()) {
    std::fprintf(stderr, "Status: %s\n", keyId.error().toString().c_str());
    return 1;
  }
  const std::string seed = testing::KmsApiServerClient::seed();
  auto sealed = apiserver.encrypt(seed);
  if (!sealed.ok()) {
    std::fprintf(stderr, "Encrypt: %s\n", sealed.error().toString().c_str());
    return 1;
  }
  v1::EncryptRequest er;
  er.set_key(po.key);
  er.set_plaintext(seed);
  er.set_aad(kms::kAad);
  v1::DecryptRequest dr;
  dr.set_key(po.key);
  dr.set_ciphertext(sealed->ciphertext);
  dr.set_aad(kms::kAad);

  std::printf("kms_bench: %.1f s per point, SoftHSM2 %s, %u CPUs; key_id %s\n", seconds, env.modulePath().c_str(),
              std::thread::hardware_concurrency(), keyId->c_str());
  std::printf("chain: unix socket -> keygate kms-plugin -> crypto API (TLS, client certificate) -> SoftHSM2 AES-256-GCM\n\n");
  std::printf("%-34s %8s %10s %10s %10s %7s\n", "operation (32-byte DEK seed)", "inflight", "ops/s", "p50 us", "p99 us",
              "errors");
  auto row = [](const char* op, int callers, const Figures& f) {
    std::printf("%-34s %8d %10.0f %10.0f %10.0f %7llu\n", op, callers, f.opsPerSec, f.p50us, f.p99us,
                static_cast<unsigned long long>(f.errors));
  };
  // One connection each, as kube-apiserver keeps one to its plugin and the plugin one to the
  // crypto API (same certificate as the plugin's client).
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *readWholeFile(d + "/ca.crt");
  ssl.pem_cert_chain = *readWholeFile(d + "/cli.crt");
  ssl.pem_private_key = *readWholeFile(d + "/cli.key");
  auto cryptoStub = v1::Crypto::NewStub(grpc::CreateChannel(co.target, grpc::SslCredentials(ssl)));
  auto kmsStub = v2::KeyManagementService::NewStub(
      grpc::CreateChannel("unix://" + d + "/kms.sock", grpc::InsecureChannelCredentials()));
  v2::EncryptRequest ke;
  ke.set_plaintext(seed);
  ke.set_uid("bench");
  v2::DecryptRequest kd;
  kd.set_ciphertext(sealed->ciphertext);
  kd.set_key_id(sealed->keyId);
  kd.set_uid("bench");
  for (const auto& [k, v] : sealed->annotations) (*kd.mutable_annotations())[k] = v;
  Figures kmsDecrypt32;
  Figures kmsEncrypt32;
  for (int n : {1, 8, 32}) {
    const size_t slots = static_cast<size_t>(n);
    row("crypto API Encrypt (alone)", n,
        bench::measureAsync<v1::EncryptResponse>(slots, seconds, [&](size_t, grpc::ClientContext* ctx, grpc::CompletionQueue* q) {
          return cryptoStub->PrepareAsyncEncrypt(ctx, er, q);
        }));
    kmsEncrypt32 = bench::measureAsync<v2::EncryptResponse>(
        slots, seconds,
        [&](size_t, grpc::ClientContext* ctx, grpc::CompletionQueue* q) { return kmsStub->PrepareAsyncEncrypt(ctx, ke, q); });
    row("KMS v2 Encrypt (through plugin)", n, kmsEncrypt32);
    row("crypto API Decrypt (alone)", n,
        bench::measureAsync<v1::DecryptResponse>(slots, seconds, [&](size_t, grpc::ClientContext* ctx, grpc::CompletionQueue* q) {
          return cryptoStub->PrepareAsyncDecrypt(ctx, dr, q);
        }));
    kmsDecrypt32 = bench::measureAsync<v2::DecryptResponse>(
        slots, seconds,
        [&](size_t, grpc::ClientContext* ctx, grpc::CompletionQueue* q) { return kmsStub->PrepareAsyncDecrypt(ctx, kd, q); });
    row("KMS v2 Decrypt (through plugin)", n, kmsDecrypt32);
  }
  // Correctness of what was measured: the last seed decrypts to itself.
  auto check = apiserver.decrypt(*sealed);
  if (!check.ok() || *check != seed) {
    std::fprintf(stderr, "the measured Decrypt does not give the seed back\n");
    return 1;
  }
  row("KMS v2 Status", 1, measure(1, seconds, [&](int) { return apiserver.status().ok(); }));
  std::printf("\ntargets (KMS v2 contract): Decrypt < 10000 us, Encrypt < 100000 us; at 32 in flight p99 was %.0f us and %.0f us\n",
              kmsDecrypt32.p99us, kmsEncrypt32.p99us);
  (*kmsServer)->stop();
  (*server)->stop();
  env.cleanup();
  return 0;
}
