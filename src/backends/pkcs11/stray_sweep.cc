// Pkcs11Backend::sweepStrays: token objects that belong to no key version Keygate accounts for.
//
// Why they exist: SoftHSM2 writes a new token object attribute by attribute, so a process
// killed inside C_GenerateKey can leave an object with SoftHSM's defaults (no CKA_ID, empty
// label, encrypt/decrypt/wrap/unwrap/verify on) that no CKA_ID lookup finds again. A destroy
// interrupted between two objects, or an object someone put into the tenant's token by hand,
// is the same kind of problem: material nobody accounts for.
//
// What happens to one: at first sight every usage attribute is set to false and its label to
// "keygate-stray <RFC 3339 time>", in one C_SetAttributeValue; the label carries the time it was
// found across restarts. A later sweep destroys it once that time is `grace` ago. An object
// that refuses to be disabled (CKA_MODIFIABLE false, or a module error) is destroyed at once:
// there is no other way to make it unusable.
#include <algorithm>
#include <map>
#include <set>

#include "backends/pkcs11/attributes.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/public_key.h"
#include "backends/pkcs11/templates.h"
#include "common/time.h"

namespace keygate::backends::pkcs11 {
namespace {

constexpr std::string_view kStrayMark = "keygate-stray ";
constexpr size_t kMaxObjectsPerSweep = size_t(1) << 22;

const char* objectClassName(std::optional<CK_ULONG> cls) {
  if (!cls) return "unknown";
  switch (*cls) {
    case CKO_SECRET_KEY: return "secretKey";
    case CKO_PRIVATE_KEY: return "privateKey";
    case CKO_PUBLIC_KEY: return "publicKey";
    case CKO_DATA: return "data";
    case CKO_CERTIFICATE: return "certificate";
    default: return "other";
  }
}

std::string labelText(const std::optional<Bytes>& b) { return b ? std::string(b->begin(), b->end()) : std::string(); }

// "keygate/<namespace>/<uid>/v<version>" (KeyRef::backendKeyId) back into its ref.
std::optional<KeyRef> parseBackendKeyId(const std::string& label) {
  constexpr std::string_view kPrefix = "keygate/";
  if (label.rfind(kPrefix, 0) != 0) return std::nullopt;
  const size_t a = label.find('/', kPrefix.size());
  const size_t b = a == std::string::npos ? a : label.find('/', a + 1);
  if (b == std::string::npos || label.compare(b + 1, 1, "v") != 0) return std::nullopt;
  KeyRef r;
  r.tenantNamespace = label.substr(kPrefix.size(), a - kPrefix.size());
  r.keyUid = label.substr(a + 1, b - a - 1);
  const std::string v = label.substr(b + 2);
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  r.version = std::stoi(v);
  if (!r.validate().ok()) return std::nullopt;
  return r;
}

}  // namespace

Result<std::vector<StrayObject>> Pkcs11Backend::sweepStrays(const std::string& tenantNamespace,
                                                             const StraySweepOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(tenantNamespace));
  return token->withSession<std::vector<StrayObject>>([&](Session& s) -> Result<std::vector<StrayObject>> {
    std::set<Bytes> known;
    std::map<Bytes, int> destroyed;  // id -> version
    std::set<std::string> liveUids;  // keys that exist: they claim all of their versions
    if (!options.accounted) return makeError(ErrorCode::kInvalidArgument, "stray sweep without what is accounted for");
    {
      ASSIGN_OR_RETURN(AccountedObjects acc, options.accounted());
      for (const KeyRef& r : acc.keys) known.insert(objectId(r)), liveUids.insert(r.keyUid);
      for (const auto& [r, serial] : acc.wrappingKeys) known.insert(wrappingObjectId(r, serial));
      for (const KeyRef& r : acc.destroyed) destroyed.emplace(objectId(r), r.version), liveUids.insert(r.keyUid);
    }
    // Every object, not only CKA_TOKEN = true: the object a kill inside C_GenerateKey leaves
    // in SoftHSM2's store still says CKA_TOKEN false (its defaults were written, the caller's
    // template was not), yet every later process loads it with the token. Keygate's own
    // session objects (a BYOK measurement's copy, a self test's known-answer key) exist only
    // inside exclusive or shared sections, never during this exclusive one.
    std::vector<CK_OBJECT_HANDLE> handles;
    RETURN_IF_ERROR(ckCheck("C_FindObjects", s.ck().findObjects(s.handle(), {}, &handles, kMaxObjectsPerSweep),
                            token->label()));
    std::vector<StrayObject> out;
    for (CK_OBJECT_HANDLE h : handles) {
      // One read of ID, class and CKA_TOKEN: for an accounted object, all the sweep needs.
      const ObjectIdentity who = readIdentity(s.ck(), s.handle(), h);
      if (who.rv == CKR_OBJECT_HANDLE_INVALID) continue;  // gone meanwhile
      // Every object has a class. One whose class cannot be read has no attributes at all:
      // what a kill inside C_CopyObject leaves (a staged create, create_objects.h). Nothing
      // can use it and nothing can be set on it, so it goes at once.
      if (who.rv == CKR_ATTRIBUTE_VALUE_INVALID || ((who.rv == CKR_OK || who.rv == CKR_ATTRIBUTE_TYPE_INVALID) && !who.objectClass)) {
        const CK_RV rv = s.ck().destroyObject(s.handle(), h);
        if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID) return ckError("C_DestroyObject", rv, token->label());
        StrayObject st;
        st.location = token->label();
        st.objectClass = objectClassName(std::nullopt);
        st.action = StrayObject::Action::kDestroyed;
        st.detail = std::string("no attributes, not even a class (") + ckrName(who.rv) +
                    "; what a process killed inside C_CopyObject leaves); destroyed at once";
        out.push_back(std::move(st));
        continue;
      }
      if (who.rv != CKR_OK && who.rv != CKR_ATTRIBUTE_TYPE_INVALID && who.rv != CKR_ATTRIBUTE_SENSITIVE)
        return ckError("C_GetAttributeValue", who.rv, token->label());
      const std::optional<Bytes>& id = who.id;
      const std::optional<CK_ULONG>& cls = who.objectClass;
      const bool onToken = who.onToken;
      if (id && known.count(*id) && onToken) continue;
      ASSIGN_OR_RETURN(std::optional<Bytes> label, readBytes(s.ck(), s.handle(), h, CKA_LABEL));
      StrayObject st;
      st.location = token->label();
      st.objectClass = objectClassName(cls);
      st.id = id ? hex(*id) : std::string();
      st.label = labelText(label);
      std::vector<CK_ATTRIBUTE_TYPE> usage;
      if (cls) {
        auto all = usageAttributes(*cls);
        usage.assign(all.begin(), all.end());
        ASSIGN_OR_RETURN(auto values, readBools(s.ck(), s.handle(), h, usage));
        for (const auto& [type, v] : values)
          if (v.value_or(false)) st.usage += (st.usage.empty() ? "" : ",") + ckaShortName(type);
      }
      // A whole Keygate version (its label and CKA_ID agree) of a key that no longer exists:
      // destruction.policy Retain keeps it on purpose.
      const std::optional<KeyRef> version = parseBackendKeyId(st.label);
      const bool wellFormed =
          onToken && version && version->tenantNamespace == tenantNamespace && id && *id == objectId(*version);
      if (wellFormed && !destroyed.count(*id) && !liveUids.count(version->keyUid)) {
        st.action = StrayObject::Action::kRetained;
        st.detail = "version " + std::to_string(version->version) + " of EncryptionKey uid " + version->keyUid +
                    ", which no longer exists: kept (destruction.policy Retain)";
        out.push_back(std::move(st));
        continue;
      }
      std::string why;
      if (!onToken)
        why = "CKA_TOKEN false in the token's store (what a process killed inside object creation leaves)";
      else if (!id || id->empty())
        why = "no CKA_ID (what a process killed inside object creation leaves)";
      else if (destroyed.count(*id))
        why = "left of version " + std::to_string(destroyed.at(*id)) + ", which its EncryptionKey records as Destroyed";
      else if (wellFormed)
        why = "version " + std::to_string(version->version) + " of an existing key that does not claim it";
      else
        why = "its CKA_ID belongs to no key version or wrapping key Keygate accounts for";

      auto destroyNow = [&](const std::string& reason) -> Status {
        CK_RV rv = s.ck().destroyObject(s.handle(), h);
        if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID) return ckCheck("C_DestroyObject", rv, token->label());
        if (id) token->forgetObjects(*id);
        st.action = StrayObject::Action::kDestroyed;
        st.detail = why + "; " + reason;
        return okStatus();
      };

      if (st.label.rfind(kStrayMark, 0) == 0) {  // found by an earlier sweep
        auto seen = parseRfc3339(std::string_view(st.label).substr(kStrayMark.size()));
        st.firstSeen = seen.ok() ? std::optional<WallTime>(*seen) : std::nullopt;
        if (!seen.ok() || options.now - *seen >= options.grace) {
          RETURN_IF_ERROR(destroyNow(seen.ok() ? "disabled since " + formatRfc3339(*seen) + ", grace period over"
                                               : "unreadable stray mark, destroyed"));
        } else if (!st.usage.empty()) {  // someone turned a usage back on: off again, or gone
          AttributeList off;
          for (CK_ATTRIBUTE_TYPE a : usage) off.add(a, false);
          if (s.ck().setAttributeValue(s.handle(), h, off.span()) != CKR_OK)
            RETURN_IF_ERROR(destroyNow("a usage was on again and could not be turned off"));
          else
            st.action = StrayObject::Action::kWaiting, st.detail = why + "; a usage was on again, turned off";
        } else {
          st.action = StrayObject::Action::kWaiting;
          st.detail = why + "; disabled, destroyed at " + formatRfc3339(*seen + options.grace);
        }
        out.push_back(std::move(st));
        continue;
      }

      st.firstSeen = options.now;
      AttributeList disable;
      for (CK_ATTRIBUTE_TYPE a : usage) disable.add(a, false);
      disable.addString(CKA_LABEL, std::string(kStrayMark) + formatRfc3339(options.now));
      const CK_RV rv = s.ck().setAttributeValue(s.handle(), h, disable.span());
      if (rv == CKR_OK) {
        if (id) token->forgetObjects(*id);
        st.action = StrayObject::Action::kDisabled;
        st.detail = why + "; every usage off, destroyed after " + formatRfc3339(options.now + options.grace);
      } else {
        RETURN_IF_ERROR(destroyNow(std::string("could not be disabled (") + ckrName(rv) + "), destroyed at once"));
      }
      out.push_back(std::move(st));
    }
    const auto strays = std::count_if(out.begin(), out.end(),
                                      [](const StrayObject& o) { return o.action != StrayObject::Action::kRetained; });
    if (strays > 0) log_.warn("stray token objects", {{"token", token->label()}, {"count", static_cast<int64_t>(strays)}});
    return out;
  }, Token::Access::kExclusive);
}

}  // namespace keygate::backends::pkcs11
