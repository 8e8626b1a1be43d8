#pragma once
// Who is calling the crypto API. Two ways in:
//  - a Kubernetes ServiceAccount token (`authorization: Bearer …`), best a projected token
//    with audience "keygate.dev", verified by the API server's TokenReview (cached);
//  - a TLS client certificate issued by the configured client CA (callers without a
//    ServiceAccount, e.g. kube-apiserver's KMS plugin as a static pod). As in Kubernetes'
//    x509 authenticator: the subject CN is the user name, each O is a group.
// The bearer token wins when both are present (a pod behind a mesh may present the mesh's
// certificate; its own token says who it is).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/v1alpha1/roles.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/result.h"

namespace keygate::dataplane {

struct Caller {
  api::v1alpha1::UserInfo user;  // username, uid, groups
  std::string method;            // "token", "certificate"
  // The namespace of a ServiceAccount caller ("system:serviceaccount:NS:NAME"), else "".
  std::string serviceAccountNamespace() const;
};

struct Credentials {
  std::string bearerToken;  // "" when none was sent
  // A client certificate the TLS layer verified against the client CA (else all empty).
  bool certificateVerified = false;
  std::string certificateCommonName;
  std::vector<std::string> certificateOrganizations;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Unauthenticated with what to fix; Unavailable when the API server cannot be asked.
  virtual Result<Caller> authenticate(const Credentials& credentials) = 0;
};

// POSTs a TokenReview (the JSON object) and returns the server's answer.
using TokenReviewFn = std::function<Result<Json>(const Json& review)>;

struct TokenReviewAuthenticatorOptions {
  std::string audience = "keygate.dev";
  // How long an accepted token is trusted without asking again; never past the token's
  // own `exp`. A deleted ServiceAccount or pod stops working within this time.
  std::chrono::seconds cacheTtl{30};
  // How long a rejected token stays rejected without asking again (a client retrying with
  // a bad token must not turn into a TokenReview flood).
  std::chrono::seconds negativeCacheTtl{5};
  size_t maxCacheEntries = 10000;
  bool acceptCertificates = false;  // true when a client CA is configured
  const Clock* clock = nullptr;     // null = realClock()
};

class TokenReviewAuthenticator final : public Authenticator {
 public:
  TokenReviewAuthenticator(TokenReviewFn review, TokenReviewAuthenticatorOptions options);
  Result<Caller> authenticate(const Credentials& credentials) override;

  struct Stats {
    uint64_t reviews = 0;    // TokenReviews sent
    uint64_t cacheHits = 0;  // answered from the cache
  };
  Stats stats() const;

 private:
  struct Entry {
    bool accepted = false;
    Caller caller;
    std::string rejection;
    SteadyTime expires;
  };
  Result<Caller> review(const std::string& token, const std::string& cacheKey);

  TokenReviewFn review_;
  TokenReviewAuthenticatorOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // SHA-256 of the token → verdict
  Stats stats_;
};

// `keygate local --serve`: bearer tokens from a file in kube-apiserver's --token-auth-file
// format (CSV: token,user,uid,"group1,group2"; groups optional; '#' comments), for trying
// the crypto API without a cluster. Tokens are compared in constant time.
class StaticTokenAuthenticator final : public Authenticator {
 public:
  // InvalidArgument naming file:line for a malformed line or a duplicate token.
  static Result<std::unique_ptr<StaticTokenAuthenticator>> load(const std::string& path);
  static Result<std::unique_ptr<StaticTokenAuthenticator>> parse(const std::string& csv, const std::string& source);
  Result<Caller> authenticate(const Credentials& credentials) override;

 private:
  std::vector<std::pair<std::string, Caller>> tokens_;
};

// The `exp` claim of a JWT (seconds since the epoch), or 0 when the token is not a JWT
// with one. The signature is not checked: this only bounds how long a verdict is cached.
int64_t jwtExpiry(const std::string& token);

}  // namespace keygate::dataplane
