#include "controllers/signing_key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "common/json.h"
#include "common/time.h"

namespace keygate::controllers {
namespace av1 = api::v1alpha1;

namespace {

Result<std::string> newKeyId() {
  unsigned char b[4];
  if (RAND_bytes(b, sizeof b) != 1) return makeError(ErrorCode::kInternal, "RAND_bytes failed");
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (unsigned char c : b) {
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 0xf]);
  }
  return id;
}

Result<av1::SigningKeyEntry> freshEntry(WallTime now) {
  ASSIGN_OR_RETURN(std::string id, newKeyId());
  ASSIGN_OR_RETURN(std::string key, av1::generateSigningKey());
  return av1::SigningKeyEntry{std::move(id), std::move(key), now, std::nullopt, false};
}

void wipe(std::vector<av1::SigningKeyEntry>& keys) {
  for (auto& k : keys)
    if (!k.key.empty()) OPENSSL_cleanse(k.key.data(), k.key.size());
}

bool validId(std::string_view id) {
  return id.size() == 8 && std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Read-modify-CAS on the stored keyring until no other writer intervenes.
template <typename Change>
Status changeKeyring(backends::SecretStore& store, Change&& change) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    ASSIGN_OR_RETURN(auto stored, store.get(kSigningKeyringSecret));
    if (!stored) return makeError(ErrorCode::kNotFound, "no approval-signing keyring yet (the operator creates it at its first start)");
    ASSIGN_OR_RETURN(auto keys, decodeSigningKeyring(stored->value()));
    Status st = change(keys);
    if (!st.ok()) {
      wipe(keys);
      return st;
    }
    backends::SecretValue next(encodeSigningKeyring(keys));
    wipe(keys);
    ASSIGN_OR_RETURN(bool swapped, store.replace(kSigningKeyringSecret, *stored, next));
    if (swapped) return okStatus();
  }
  return makeError(ErrorCode::kConflict, "the approval-signing keyring keeps changing under this update");
}

}  // namespace

std::string encodeSigningKeyring(const std::vector<av1::SigningKeyEntry>& keys) {
  Json list = Json::array();
  for (const auto& k : keys) {
    Json e = {{"id", k.id}, {"key", av1::base64Encode(k.key)}, {"created", formatRfc3339(k.created)}};
    if (k.retired) e["retired"] = formatRfc3339(*k.retired);
    if (k.unversioned) e["unversioned"] = true;
    list.push_back(std::move(e));
  }
  return dumpJson(Json{{"keys", std::move(list)}});
}

Result<std::vector<av1::SigningKeyEntry>> decodeSigningKeyring(std::string_view text) {
  auto bad = [](const std::string& why) { return makeError(ErrorCode::kInvalidArgument, "approval-signing keyring: " + why); };
  // Not parseJson's message: it quotes the text it read, which holds key bytes.
  auto parsed = parseJson(text);
  if (!parsed.ok()) return bad("not valid JSON");
  Json doc = std::move(*parsed);
  const Json* list = findPath(doc, "keys");
  if (!list || !list->is_array()) return bad("no \"keys\" list");
  std::vector<av1::SigningKeyEntry> keys;
  for (const Json& e : *list) {
    if (!e.is_object()) return bad("an entry is not an object");
    av1::SigningKeyEntry k;
    k.id = getString(e, "id");
    if (!validId(k.id)) return bad("key id \"" + k.id + "\" is not 8 lowercase hex digits");
    auto key = av1::base64Decode(getString(e, "key"));
    if (!key.ok()) return bad("key " + k.id + ": key is not base64");
    k.key = std::move(*key);
    auto created = parseRfc3339(getString(e, "created"));
    if (!created.ok()) return bad("key " + k.id + ": created is not an RFC 3339 time");
    k.created = *created;
    if (const Json* r = findPath(e, "retired"); r) {
      auto t = r->is_string() ? parseRfc3339(r->get<std::string>()) : Result<WallTime>(makeError(ErrorCode::kInvalidArgument, ""));
      if (!t.ok()) return bad("key " + k.id + ": retired is not an RFC 3339 time");
      k.retired = *t;
    }
    if (const Json* u = findPath(e, "unversioned"); u && u->is_boolean()) k.unversioned = u->get<bool>();
    if (!k.retired && k.key.empty()) return bad("key " + k.id + " is not retired but has no key");
    for (const auto& other : keys)
      if (other.id == k.id) return bad("key id " + k.id + " appears twice");
    keys.push_back(std::move(k));
  }
  return keys;
}

Result<std::vector<av1::SigningKeyEntry>> readSigningKeyring(backends::SecretStore& store) {
  ASSIGN_OR_RETURN(auto stored, store.get(kSigningKeyringSecret));
  if (!stored) return makeError(ErrorCode::kNotFound, "no approval-signing keyring");
  return decodeSigningKeyring(stored->value());
}

Result<LoadedKeyring> loadOrCreateSigningKeyring(backends::SecretStore& store, WallTime now) {
  ASSIGN_OR_RETURN(auto stored, store.get(kSigningKeyringSecret));
  if (stored) {
    ASSIGN_OR_RETURN(auto keys, decodeSigningKeyring(stored->value()));
    return LoadedKeyring{std::move(keys), false, false};
  }
  ASSIGN_OR_RETURN(auto single, store.get(kSigningKeySecret));
  ASSIGN_OR_RETURN(av1::SigningKeyEntry entry, freshEntry(now));
  if (single) {
    // The earlier release's key keeps signing (and verifying unversioned signatures).
    OPENSSL_cleanse(entry.key.data(), entry.key.size());
    entry.key = single->value();
    entry.unversioned = true;
  }
  std::vector<av1::SigningKeyEntry> mine{entry};
  std::string encoded = encodeSigningKeyring(mine);
  wipe(mine);
  ASSIGN_OR_RETURN(backends::SecretValue kept, store.putIfAbsent(kSigningKeyringSecret, backends::SecretValue(encoded)));
  const bool ours = kept.value() == encoded;
  OPENSSL_cleanse(encoded.data(), encoded.size());
  ASSIGN_OR_RETURN(auto keys, decodeSigningKeyring(kept.value()));
  return LoadedKeyring{std::move(keys), ours && !single, ours && single.has_value()};
}

Result<av1::SigningKeyEntry> rotateSigningKey(backends::SecretStore& store, WallTime now) {
  ASSIGN_OR_RETURN(av1::SigningKeyEntry entry, freshEntry(now));
  RETURN_IF_ERROR(changeKeyring(store, [&](std::vector<av1::SigningKeyEntry>& keys) -> Status {
    for (const auto& k : keys)
      if (k.id == entry.id) return makeError(ErrorCode::kConflict, "key id collision; run the command again");
    keys.push_back(entry);
    return okStatus();
  }));
  OPENSSL_cleanse(entry.key.data(), entry.key.size());
  entry.key.clear();
  return entry;
}

Status retireSigningKey(backends::SecretStore& store, const std::string& id, WallTime now) {
  return changeKeyring(store, [&](std::vector<av1::SigningKeyEntry>& keys) -> Status {
    auto it = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.id == id; });
    if (it == keys.end()) return makeError(ErrorCode::kNotFound, "no approval-signing key " + id);
    if (it->retired) return okStatus();
    size_t live = std::count_if(keys.begin(), keys.end(), [](const auto& k) { return !k.retired; });
    if (live <= 1)
      return makeError(ErrorCode::kFailedPrecondition,
                       "key " + id + " is the only unretired approval-signing key; rotate first, then retire it");
    OPENSSL_cleanse(it->key.data(), it->key.size());
    it->key.clear();
    it->retired = now;
    return okStatus();
  });
}

Result<std::string> refreshSigningKeyring(backends::SecretStore& store, av1::SigningKeyring& ring) {
  ASSIGN_OR_RETURN(auto stored, readSigningKeyring(store));
  auto held = ring.keys();
  std::string change;
  auto note = [&change](const std::string& what) { change += (change.empty() ? "" : "; ") + what; };
  for (const auto& k : stored) {
    auto it = std::find_if(held.begin(), held.end(), [&](const auto& h) { return h.id == k.id; });
    if (it == held.end()) note(k.retired ? "retired " + k.id : "added " + k.id);
    else if (k.retired && !it->retired) note("retired " + k.id);
  }
  for (const auto& h : held)
    if (std::none_of(stored.begin(), stored.end(), [&](const auto& k) { return k.id == h.id; })) note("removed " + h.id);
  const bool same = stored == held;
  wipe(held);
  if (!same) ring.set(std::move(stored));
  else wipe(stored);
  return change;
}

}  // namespace keygate::controllers
