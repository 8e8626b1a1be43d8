#pragma once
// The crypto API's logic, without sockets: who may use which key for what, then the backend
// call. The gRPC transport (grpc_server.h) authenticates the caller and hands the request
// messages (proto/keygate/v1/crypto.proto) to this class; tests call it directly too.
//
// Every call, in order (after the transport authenticated the caller):
//  1. tenant scope: a ServiceAccount caller only reaches keys in its own namespace, whatever
//     bindings name it (PERMISSION_DENIED, reason OtherTenant);
//  2. a current KeyUser KeyRoleBinding in the key's namespace naming the caller (User,
//     Group or ServiceAccount), keySelector honoured (PERMISSION_DENIED: NoBinding,
//     BindingOverdue); a caller with no binding in the namespace cannot learn whether a
//     key exists;
//  3. the key exists (NOT_FOUND);
//  4. the namespace's rate limit (RESOURCE_EXHAUSTED; only namespaces with keys get a bucket);
//  5. its purpose allows the operation (FAILED_PRECONDITION, WrongPurpose) and the version's
//     state does (WrongState): Active protects and processes, Deactivated only processes
//     (Decrypt, Verify, VerifyMac, GetPublicKey);
//  6. the backend call, where the HSM's usage attributes check state and purpose again.
// Refusals (and unauthenticated calls) are audit records (event KeyUseDenied) and metrics;
// allowed calls are metrics and one aggregated KeyUsed audit record per caller, key version
// and operation per interval (flushUsage()).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "backends/key_backend.h"
#include "common/clock.h"
#include "common/grpc_codes.h"
#include "common/result.h"
#include "controllers/audit.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"
#include "dataplane/key_name.h"
#include "keygate/v1/crypto.pb.h"
#include "kube/rate_limiter.h"

namespace keygate::dataplane {

enum class Operation { kEncrypt, kDecrypt, kGenerateDataKey, kReEncrypt, kSign, kVerify, kMac, kVerifyMac, kGetPublicKey };
const char* operationName(Operation op);

// One finished call, for metrics (bounded labels: no key names, no callers).
struct CallRecord {
  std::string ns;         // the key's namespace ("" when the key name did not parse)
  std::string purpose;    // the key's purpose ("" when unknown)
  Operation operation = Operation::kEncrypt;
  ErrorCode code = ErrorCode::kOk;
  std::string reason;     // denial reason, "" when allowed
  std::chrono::duration<double> duration{0};
};

struct CryptoServiceOptions {
  // Largest plaintext, aad, data or digest accepted (bytes); ciphertexts may be 64 bytes
  // longer. The gRPC server's message limit is set a little above.
  size_t maxInputBytes = 65536;
  // Per tenant namespace token bucket; qps <= 0 disables it.
  double tenantQps = 2000;
  int tenantBurst = 4000;
  // TEST HOOK ONLY: false skips Keygate's own state check so a test can show the HSM's
  // usage attributes refuse the use on their own. Never settable from the config.
  bool checkStateInKeygate = true;
  const Clock* clock = nullptr;  // null = realClock()
};

struct CryptoServiceDeps {
  const KeyDirectory* directory = nullptr;
  // The configured backend by name (backends[].name); null when there is none.
  std::function<backends::KeyBackend*(const std::string&)> backend;
  controllers::AuditSinkPtr audit;           // may be null
  std::function<void(const CallRecord&)> observe;  // may be null
};

class CryptoService {
 public:
  CryptoService(CryptoServiceDeps deps, CryptoServiceOptions options);

  Result<v1::EncryptResponse> encrypt(const Caller& caller, const v1::EncryptRequest& req);
  Result<v1::DecryptResponse> decrypt(const Caller& caller, const v1::DecryptRequest& req);
  Result<v1::GenerateDataKeyResponse> generateDataKey(const Caller& caller, const v1::GenerateDataKeyRequest& req);
  Result<v1::ReEncryptResponse> reEncrypt(const Caller& caller, const v1::ReEncryptRequest& req);
  Result<v1::SignResponse> sign(const Caller& caller, const v1::SignRequest& req);
  Result<v1::VerifyResponse> verify(const Caller& caller, const v1::VerifyRequest& req);
  Result<v1::MacResponse> mac(const Caller& caller, const v1::MacRequest& req);
  Result<v1::VerifyMacResponse> verifyMac(const Caller& caller, const v1::VerifyMacRequest& req);
  Result<v1::GetPublicKeyResponse> getPublicKey(const Caller& caller, const v1::GetPublicKeyRequest& req);

  // Writes one KeyUsed audit record per (caller, key version, operation) used since the
  // last flush, with the count; the operator calls it every minute and at shutdown.
  void flushUsage();

  // A call refused before any key was looked at because the caller is not authenticated (no
  // or a rejected token, a wrong audience): audited as KeyUseDenied with reason
  // Unauthenticated and initiator system:anonymous, and counted. `keyText` is the key the
  // request named (recorded when it parses). A failed TokenReview (UNAVAILABLE) is counted only.
  void observeUnauthenticated(Operation op, const Error& e, const std::string& keyText);

 private:
  struct Use;  // a resolved, authorized use of one key version
  enum class Need { kProtect, kProcess };
  struct Call;  // bookkeeping of one call (timing, audit, metrics)

  Result<Use> authorize(Call& call, const Caller& caller, Operation op, const KeyName& name, Need need);
  Result<std::string> encryptWith(const Use& use, const std::string& plaintext, const std::string& aad);
  Result<std::string> decryptWith(Call& call, const Caller& caller, Operation op, const std::string& keyText,
                                  const std::string& ciphertext, const std::string& aad, std::string* keyVersion,
                                  std::string* keyVersionIdOut);
  Status checkSize(const std::string& what, size_t n, bool required, size_t max) const;
  Error deny(Call& call, const Caller& caller, const KeyName& name, int64_t version, ErrorCode code,
             const std::string& reason, const std::string& message);
  void finish(Call& call, const Caller& caller, const Status& st);
  bool takeToken(const std::string& ns);

  CryptoServiceDeps deps_;
  CryptoServiceOptions options_;
  const Clock& clock_;
  std::mutex limitersMu_;
  std::map<std::string, std::unique_ptr<kube::RateLimiter>> limiters_;
  std::mutex usageMu_;
  // (namespace, key, version, caller, operation) → calls since the last flush.
  std::map<std::tuple<std::string, std::string, int64_t, std::string, std::string>, int64_t> usage_;
};

}  // namespace keygate::dataplane
