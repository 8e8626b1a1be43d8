#pragma once
// A KMS v2 client that behaves as kube-apiserver (k8s.io/apiserver kmsv2, v1.28) does toward
// a plugin: Status, then Encrypt of a fresh 32-byte DEK seed with a request uid, then Decrypt
// with the returned ciphertext, key_id and annotations under a new uid. Every answer is checked
// the way kube-apiserver checks it before it would store or use it:
//  - Status: version "v2" (or "v2beta1"), healthz "ok", key_id non-empty and ≤ 1 kB;
//  - Encrypt: ciphertext non-empty and ≤ 1 kB, key_id non-empty and ≤ 1 kB, annotation keys
//    fully qualified domain names, keys+values ≤ 32 kB in all; and, once Status was asked,
//    the key_id Status last gave (kube-apiserver makes a DEK seed for a Status key_id and
//    refuses an Encrypt answer under another one).
// Header-only; links keygate_proto_grpc and OpenSSL::Crypto.
#include <grpcpp/grpcpp.h>
#include <openssl/rand.h>

#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/grpc_codes.h"
#include "common/result.h"
#include "kms/v2/api.grpc.pb.h"

namespace keygate::testing {

struct KmsSealed {
  std::string ciphertext;
  std::string keyId;
  std::map<std::string, std::string> annotations;
};

class KmsApiServerClient {
 public:
  explicit KmsApiServerClient(const std::string& socketPath, std::chrono::milliseconds timeout = std::chrono::seconds(3))
      : timeout_(timeout) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(8 * 1024 * 1024);  // so oversized requests reach the plugin's own limit
    channel_ = grpc::CreateCustomChannel("unix://" + socketPath, grpc::InsecureChannelCredentials(), args);
    stub_ = v2::KeyManagementService::NewStub(channel_);
  }

  // The raw Status answer (kube-apiserver's health check reads healthz itself).
  Result<v2::StatusResponse> statusRaw() {
    grpc::ClientContext ctx;
    deadline(ctx);
    v2::StatusResponse resp;
    grpc::Status st = stub_->Status(&ctx, v2::StatusRequest(), &resp);
    if (!st.ok()) return fromGrpc(st);
    return resp;
  }

  // Status as kube-apiserver's health check judges it: an error unless healthy and valid.
  Result<std::string> status() {
    ASSIGN_OR_RETURN(v2::StatusResponse r, statusRaw());
    if (r.version() != "v2" && r.version() != "v2beta1")
      return makeError(ErrorCode::kFailedPrecondition, "got unexpected KMS API version " + r.version());
    if (r.healthz() != "ok") return makeError(ErrorCode::kUnavailable, "got unexpected healthz status: " + r.healthz());
    RETURN_IF_ERROR(validKeyId(r.key_id()));
    statusKeyId_ = r.key_id();
    return r.key_id();
  }

  Result<KmsSealed> encrypt(const std::string& plaintext, const std::string& uid = newUid()) {
    grpc::ClientContext ctx;
    deadline(ctx);
    v2::EncryptRequest req;
    req.set_plaintext(plaintext);
    req.set_uid(uid);
    v2::EncryptResponse resp;
    grpc::Status st = stub_->Encrypt(&ctx, req, &resp);
    if (!st.ok()) return fromGrpc(st);
    if (resp.ciphertext().empty()) return makeError(ErrorCode::kInternal, "encrypted DEK source is empty");
    if (resp.ciphertext().size() > 1024)
      return makeError(ErrorCode::kInternal, "encrypted DEK source is " + std::to_string(resp.ciphertext().size()) +
                                                 " bytes, which exceeds the max size of 1024");
    RETURN_IF_ERROR(validKeyId(resp.key_id()));
    size_t total = 0;
    KmsSealed out;
    for (const auto& [k, v] : resp.annotations()) {
      if (!fullyQualifiedDomainName(k))
        return makeError(ErrorCode::kInternal, "annotation key " + k + " is not a fully qualified domain name");
      total += k.size() + v.size();
      out.annotations[k] = v;
    }
    if (total > 32 * 1024) return makeError(ErrorCode::kInternal, "total size of annotations exceeds 32 kB");
    if (!statusKeyId_.empty() && resp.key_id() != statusKeyId_)
      return makeError(ErrorCode::kInternal, "Encrypt returned key_id " + resp.key_id() + ", Status said " + statusKeyId_);
    out.ciphertext = resp.ciphertext();
    out.keyId = resp.key_id();
    return out;
  }

  Result<std::string> decrypt(const KmsSealed& s, const std::string& uid = newUid()) {
    grpc::ClientContext ctx;
    deadline(ctx);
    v2::DecryptRequest req;
    req.set_ciphertext(s.ciphertext);
    req.set_uid(uid);
    req.set_key_id(s.keyId);
    for (const auto& [k, v] : s.annotations) (*req.mutable_annotations())[k] = v;
    v2::DecryptResponse resp;
    grpc::Status st = stub_->Decrypt(&ctx, req, &resp);
    if (!st.ok()) return fromGrpc(st);
    return resp.plaintext();
  }

  static std::string seed() {
    std::string s(32, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), 32);
    return s;
  }

  static std::string newUid() {
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
      s += hex[b[i] >> 4];
      s += hex[b[i] & 15];
    }
    return s;
  }

  // k8s.io/apimachinery validation.IsFullyQualifiedDomainName: a DNS-1123 subdomain of at
  // least two labels, lower case, ≤ 253 characters.
  static bool fullyQualifiedDomainName(const std::string& name) {
    std::string n = name;
    if (!n.empty() && n.back() == '.') n.pop_back();
    if (n.empty() || n.size() > 253 || n.find('.') == std::string::npos) return false;
    size_t start = 0;
    while (start <= n.size()) {
      size_t dot = n.find('.', start);
      std::string label = n.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
      for (char c : label)
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
          return false;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return true;
  }

 private:
  void deadline(grpc::ClientContext& ctx) { ctx.set_deadline(std::chrono::system_clock::now() + timeout_); }

  static Error fromGrpc(const grpc::Status& st) { return Error(errorCodeFromGrpc(st.error_code()), st.error_message()); }

  static Status validKeyId(const std::string& id) {
    if (id.empty()) return makeError(ErrorCode::kInternal, "keyID is empty");
    if (id.size() > 1024) return makeError(ErrorCode::kInternal, "keyID is longer than 1 kB");
    return okStatus();
  }

  std::chrono::milliseconds timeout_;
  std::string statusKeyId_;  // from the last healthy Status
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v2::KeyManagementService::Stub> stub_;
};

}  // namespace keygate::testing
