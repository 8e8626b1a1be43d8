// Structural scans of API server bodies (meta_scan.h).
#include "kube/meta_scan.h"

#include <cstring>

#include "common/json.h"

namespace keygate::kube {
namespace {

constexpr size_t npos = std::string_view::npos;

size_t skipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  return i;
}

// s[i] is '"': the position after the closing quote.
size_t skipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    const void* hit = std::memchr(s.data() + i, '"', s.size() - i);
    if (!hit) return npos;
    size_t q = static_cast<const char*>(hit) - s.data();
    size_t backslashes = 0;
    while (q - backslashes > i && s[q - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return q + 1;
    i = q;  // an escaped quote: look on
  }
  return npos;
}

// The position after the value that starts at s[i].
size_t skipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return npos;
  if (s[i] == '"') return skipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = skipString(s, i);
        if (i == npos) return npos;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return npos;
  }
  const size_t start = i;
  while (i < s.size() && !std::strchr(",}] \n\r\t", s[i])) ++i;
  return i > start ? i : npos;
}

// Calls onMember(key, value) for each member of the JSON object that is all of `s` (surrounding
// whitespace allowed): the key as written (escapes not decoded), the value undecoded. False
// when `s` is not one well-formed object at this level (values are only skipped).
template <typename F>
bool forEachMember(std::string_view s, F&& onMember) {
  size_t i = skipSpace(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  for (i = skipSpace(s, i + 1); i < s.size() && s[i] != '}';) {
    if (s[i] != '"') return false;
    const size_t keyEnd = skipString(s, i);
    if (keyEnd == npos) return false;
    const std::string_view key = s.substr(i + 1, keyEnd - i - 2);
    i = skipSpace(s, keyEnd);
    if (i >= s.size() || s[i] != ':') return false;
    const size_t valueStart = skipSpace(s, i + 1), valueEnd = skipValue(s, valueStart);
    if (valueEnd == npos) return false;
    onMember(key, s.substr(valueStart, valueEnd - valueStart));
    i = skipSpace(s, valueEnd);
    if (i < s.size() && s[i] == ',') i = skipSpace(s, i + 1);
    else if (i >= s.size() || s[i] != '}') return false;
  }
  return i < s.size() && skipSpace(s, i + 1) == s.size();
}

// The top-level "metadata" member (the last one, as a decoder keeps).
std::optional<std::string_view> topLevelMetadata(std::string_view body) {
  std::optional<std::string_view> meta;
  if (!forEachMember(body, [&](std::string_view key, std::string_view value) {
        if (key == "metadata") meta = value;
      }))
    return std::nullopt;
  return meta;
}

}  // namespace

std::optional<ListMeta> scanListMeta(std::string_view body) {
  auto meta = topLevelMetadata(body);
  if (!meta) return std::nullopt;
  auto j = parseJson(*meta);
  if (!j.ok() || !j->is_object()) return std::nullopt;
  ListMeta out;
  for (auto [field, into] : {std::pair{"continue", &out.continueToken}, {"resourceVersion", &out.resourceVersion}}) {
    auto it = j->find(field);
    if (it == j->end() || it->is_null()) continue;
    if (!it->is_string()) return std::nullopt;
    *into = it->get<std::string>();
  }
  return out;
}

std::optional<std::string> scanObjectResourceVersion(std::string_view body) {
  auto meta = topLevelMetadata(body);
  if (!meta) return std::nullopt;
  std::optional<std::string_view> rv;
  if (!forEachMember(*meta, [&](std::string_view key, std::string_view value) {
        if (key == "resourceVersion") rv = value;
      }))
    return std::nullopt;
  // A plain string: quotes and no escapes (anything else is left to the decoder).
  if (!rv || rv->size() < 3 || rv->front() != '"' || rv->back() != '"') return std::nullopt;
  const std::string_view inner = rv->substr(1, rv->size() - 2);
  for (char c : inner)
    if (c == '\\' || c == '"' || static_cast<unsigned char>(c) < 0x20) return std::nullopt;
  return std::string(inner);
}

}  // namespace keygate::kube
