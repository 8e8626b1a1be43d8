#include "dataplane/identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdio>

#include "common/log.h"
#include "common/sha256.h"

namespace keygate::dataplane {
namespace {

const log::Logger& logger() {
  static const log::Logger l("dataplane.identity");
  return l;
}

std::string sha256(const std::string& s) {
  const auto md = keygate::sha256(s);
  return std::string(reinterpret_cast<const char*>(md.data()), md.size());
}

std::string base64UrlDecode(std::string_view in) {
  std::string s(in);
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4) s += '=';
  std::string out(s.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return {};
  size_t pad = 0;
  for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - std::min<size_t>(pad, static_cast<size_t>(n)));
  return out;
}

Error unauthenticated(const std::string& why) { return makeError(ErrorCode::kUnauthenticated, why); }

}  // namespace

std::string Caller::serviceAccountNamespace() const {
  static const std::string prefix = "system:serviceaccount:";
  const std::string& u = user.username;
  if (u.rfind(prefix, 0) != 0) return "";
  size_t colon = u.find(':', prefix.size());
  if (colon == std::string::npos) return "";
  return u.substr(prefix.size(), colon - prefix.size());
}

int64_t jwtExpiry(const std::string& token) {
  size_t a = token.find('.');
  if (a == std::string::npos) return 0;
  size_t b = token.find('.', a + 1);
  if (b == std::string::npos) return 0;
  auto claims = parseJson(base64UrlDecode(std::string_view(token).substr(a + 1, b - a - 1)));
  if (!claims.ok() || !claims->is_object()) return 0;
  auto it = claims->find("exp");
  if (it == claims->end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

TokenReviewAuthenticator::TokenReviewAuthenticator(TokenReviewFn review, TokenReviewAuthenticatorOptions options)
    : review_(std::move(review)), options_(std::move(options)), clock_(options_.clock ? *options_.clock : realClock()) {}

TokenReviewAuthenticator::Stats TokenReviewAuthenticator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Result<Caller> TokenReviewAuthenticator::authenticate(const Credentials& c) {
  if (!c.bearerToken.empty()) {
    if (c.bearerToken.size() > 16384) return unauthenticated("the bearer token is longer than 16 KiB");
    const std::string key = sha256(c.bearerToken);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(key);
      if (it != cache_.end() && it->second.expires > clock_.steadyNow()) {
        ++stats_.cacheHits;
        if (it->second.accepted) return it->second.caller;
        return unauthenticated(it->second.rejection);
      }
    }
    return review(c.bearerToken, key);
  }
  if (c.certificateVerified && options_.acceptCertificates) {
    if (c.certificateCommonName.empty())
      return unauthenticated("the client certificate has no subject common name (CN is the user name)");
    Caller caller;
    caller.method = "certificate";
    caller.user.username = c.certificateCommonName;
    caller.user.groups = c.certificateOrganizations;
    caller.user.groups.push_back("system:authenticated");
    return caller;
  }
  return unauthenticated("no credentials: send a ServiceAccount token with audience \"" + options_.audience +
                         "\" as 'authorization: Bearer TOKEN'" +
                         (options_.acceptCertificates ? " or a client certificate from the configured client CA" : ""));
}

Result<Caller> TokenReviewAuthenticator::review(const std::string& token, const std::string& key) {
  Json body = {{"apiVersion", "authentication.k8s.io/v1"},
               {"kind", "TokenReview"},
               {"spec", {{"token", token}, {"audiences", Json::array({options_.audience})}}}};
  Result<Json> answer = review_(body);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.reviews;
  }
  if (!answer.ok()) {
    logger().warn("TokenReview failed", {{"error", answer.error().message}});
    return makeError(ErrorCode::kUnavailable, "cannot verify the token: the API server's TokenReview failed (" +
                                                  answer.error().toString() + "); retry");
  }
  const Json& status = answer->contains("status") ? (*answer)["status"] : Json::object();
  Entry e;
  e.accepted = status.value("authenticated", false);
  if (e.accepted) {
    // The server only says authenticated when the token's audiences intersect ours; check
    // anyway: a token for another audience must never pass.
    bool audienceOk = false;
    if (status.contains("audiences") && status["audiences"].is_array())
      for (const auto& a : status["audiences"])
        if (a.is_string() && a.get<std::string>() == options_.audience) audienceOk = true;
    if (!audienceOk) {
      e.accepted = false;
      e.rejection = "the token is not for audience \"" + options_.audience + "\" (request a projected token with " +
                    "audience " + options_.audience + ")";
    } else {
      e.caller.method = "token";
      e.caller.user.username = getString(status, "user.username");
      e.caller.user.uid = getString(status, "user.uid");
      if (status.contains("user") && status["user"].contains("groups") && status["user"]["groups"].is_array())
        for (const auto& g : status["user"]["groups"])
          if (g.is_string()) e.caller.user.groups.push_back(g.get<std::string>());
      if (e.caller.user.username.empty()) {
        e.accepted = false;
        e.rejection = "the TokenReview named no user";
      }
    }
  } else {
    std::string why = getString(status, "error");
    e.rejection = "the API server rejected the token" + (why.empty() ? std::string() : ": " + why);
  }
  const SteadyTime now = clock_.steadyNow();
  e.expires = now + (e.accepted ? options_.cacheTtl : options_.negativeCacheTtl);
  if (e.accepted) {
    // Never trust a verdict past the token's own expiry.
    int64_t exp = jwtExpiry(token);
    if (exp > 0) {
      auto left = std::chrono::system_clock::from_time_t(static_cast<time_t>(exp)) - clock_.now();
      if (now + left < e.expires) e.expires = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= options_.maxCacheEntries) {
      std::erase_if(cache_, [&](const auto& kv) { return kv.second.expires <= now; });
      if (cache_.size() >= options_.maxCacheEntries) cache_.clear();
    }
    cache_[key] = e;
  }
  if (e.accepted) return e.caller;
  return unauthenticated(e.rejection);
}

namespace {

// One CSV record: fields separated by commas, a field may be double-quoted (with commas inside).
std::vector<std::string> csvFields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) out.emplace_back();
    else out.back() += c;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<StaticTokenAuthenticator>> StaticTokenAuthenticator::load(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return makeError(ErrorCode::kInvalidArgument, path + ": cannot read the token file");
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return parse(text, path);
}

Result<std::unique_ptr<StaticTokenAuthenticator>> StaticTokenAuthenticator::parse(const std::string& csv,
                                                                                   const std::string& source) {
  auto a = std::unique_ptr<StaticTokenAuthenticator>(new StaticTokenAuthenticator());
  size_t lineNo = 0, start = 0;
  while (start <= csv.size()) {
    size_t end = csv.find('\n', start);
    std::string line = csv.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? csv.size() + 1 : end + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto fields = csvFields(line);
    auto bad = [&](const std::string& why) {
      return makeError(ErrorCode::kInvalidArgument, source + ":" + std::to_string(lineNo) + ": " + why);
    };
    if (fields.size() < 3 || fields[0].empty() || fields[1].empty())
      return bad("expected token,user,uid[,\"group1,group2\"]");
    for (const auto& [t, _] : a->tokens_)
      if (t == fields[0]) return bad("duplicate token");
    Caller c;
    c.method = "token";
    c.user.username = fields[1];
    c.user.uid = fields[2];
    if (fields.size() > 3) {
      std::string g;
      for (size_t i = 3; i < fields.size(); ++i) g += (i > 3 ? "," : "") + fields[i];
      size_t p = 0;
      while (p <= g.size()) {
        size_t q = g.find(',', p);
        std::string one = g.substr(p, q == std::string::npos ? std::string::npos : q - p);
        if (!one.empty()) c.user.groups.push_back(one);
        p = q == std::string::npos ? g.size() + 1 : q + 1;
      }
    }
    c.user.groups.push_back("system:authenticated");
    a->tokens_.emplace_back(fields[0], std::move(c));
  }
  return a;
}

Result<Caller> StaticTokenAuthenticator::authenticate(const Credentials& c) {
  if (c.bearerToken.empty())
    return unauthenticated("no credentials: send a token from the server's --token-auth-file as 'authorization: Bearer TOKEN'");
  for (const auto& [t, caller] : tokens_)
    if (t.size() == c.bearerToken.size() && CRYPTO_memcmp(t.data(), c.bearerToken.data(), t.size()) == 0) return caller;
  return unauthenticated("unknown token (not in the server's --token-auth-file)");
}

}  // namespace keygate::dataplane
