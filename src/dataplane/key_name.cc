#include "dataplane/key_name.h"

#include <charconv>

#include "common/sha256.h"

namespace keygate::dataplane {
namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool dnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

bool dnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!dnsLabel(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Error bad(std::string_view text, const std::string& why) {
  std::string shown(text.substr(0, 80));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return makeError(ErrorCode::kInvalidArgument, "key \"" + shown + (text.size() > 80 ? "…" : "") + "\": " + why);
}

}  // namespace

Result<KeyName> parseKeyName(std::string_view text, bool allowVersion) {
  const std::string form = allowVersion ? "NAMESPACE/NAME or NAMESPACE/NAME@VERSION" : "NAMESPACE/NAME";
  if (text.empty()) return makeError(ErrorCode::kInvalidArgument, "key is required (" + form + ")");
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad(text, "expected " + form);
  KeyName k;
  std::string_view ns = text.substr(0, slash), rest = text.substr(slash + 1);
  size_t at = rest.find('@');
  std::string_view name = rest.substr(0, at);
  if (!dnsLabel(ns)) return bad(text, "the namespace must be a DNS label (lower-case letters, digits, '-'; at most 63)");
  if (!dnsSubdomain(name)) return bad(text, "the name must be a DNS subdomain (lower-case letters, digits, '-', '.')");
  k.ns = std::string(ns);
  k.name = std::string(name);
  if (at != std::string_view::npos) {
    if (!allowVersion) return bad(text, "this operation always uses the current version; drop \"@VERSION\"");
    std::string_view v = rest.substr(at + 1);
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 1000000000)
      return bad(text, "VERSION must be a positive integer");
    k.version = n;
  }
  return k;
}

std::string keyVersionId(std::string_view keyUid, int64_t version) {
  std::string input = std::string("keygate.dev/key-version") + '\0';
  input.append(keyUid);
  input += "@" + std::to_string(version);
  const auto digest = sha256(input);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (int i = 0; i < 16; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace keygate::dataplane
