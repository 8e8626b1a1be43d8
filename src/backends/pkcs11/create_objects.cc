#include "backends/pkcs11/create_objects.h"

#include <vector>

#include "backends/pkcs11/ck_errors.h"

namespace keygate::backends::pkcs11 {

// The session object's template: the token template without what the copy sets (CKA_TOKEN,
// CKA_ID, CKA_LABEL) and without CKA_COPYABLE false (a copy needs it true).
AttributeList sessionTemplateOf(const AttributeList& token) {
  AttributeList out;
  for (const CK_ATTRIBUTE& a : token.span()) {
    if (a.type == CKA_TOKEN || a.type == CKA_ID || a.type == CKA_LABEL || a.type == CKA_COPYABLE) continue;
    out.addBytes(a.type, std::span<const uint8_t>(static_cast<const uint8_t*>(a.pValue), a.ulValueLen));
  }
  out.add(CKA_TOKEN, false);
  return out;
}

namespace {

// What the copy changes: into the token, with the version's CKA_ID and label.
AttributeList copyTemplate(const AttributeList& token) {
  AttributeList out;
  out.add(CKA_TOKEN, true);
  for (CK_ATTRIBUTE_TYPE t : {CKA_ID, CKA_LABEL})
    if (const CK_ATTRIBUTE* a = token.find(t))
      out.addBytes(t, std::span<const uint8_t>(static_cast<const uint8_t*>(a->pValue), a->ulValueLen));
  return out;
}

// Codes by which a module says "not this way", as opposed to a failure of the moment.
bool refusesCopy(CK_RV rv) {
  switch (rv) {
    case CKR_FUNCTION_NOT_SUPPORTED:
    case CKR_ATTRIBUTE_READ_ONLY:
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_ACTION_PROHIBITED:
      return true;
    default:
      return false;
  }
}

Result<ObjectSet> generateDirect(Cryptoki& ck, CK_SESSION_HANDLE s, const GenerationTemplate& g, const std::string& what) {
  CK_MECHANISM mech{g.mechanism, nullptr, 0};
  if (g.keyPair) {
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    RETURN_IF_ERROR(ckCheck("C_GenerateKeyPair", ck.generateKeyPair(s, mech, g.publicKey.span(), g.privateKey.span(), &pub, &priv),
                            what));
    return ObjectSet{ObjectRef{pub, CKO_PUBLIC_KEY}, ObjectRef{priv, CKO_PRIVATE_KEY}};
  }
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(ckCheck("C_GenerateKey", ck.generateKey(s, mech, g.secret.span(), &key), what));
  return ObjectSet{ObjectRef{key, CKO_SECRET_KEY}};
}

}  // namespace

Result<CK_OBJECT_HANDLE> copyIntoToken(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE staged, const AttributeList& t,
                                       const std::string& what, CK_RV* refused) {
  AttributeList c = copyTemplate(t);
  CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
  const CK_RV rv = ck.copyObject(s, staged, c.span(), &copy);
  (void)ck.destroyObject(s, staged);
  if (rv == CKR_OK) return copy;
  if (refusesCopy(rv)) {
    if (refused) *refused = rv;
    return makeError(ErrorCode::kUnimplemented, "the module refuses C_CopyObject into the token (" + ckrName(rv) + ")");
  }
  return ckError("C_CopyObject (into the token)", rv, what);
}

Result<ObjectSet> generateObjects(Cryptoki& ck, CK_SESSION_HANDLE s, const GenerationTemplate& g, const std::string& what,
                                  bool staged, CK_RV* refused) {
  if (!staged) return generateDirect(ck, s, g, what);
  // The session objects, in the order they are copied.
  ObjectSet staging;
  CK_MECHANISM mech{g.mechanism, nullptr, 0};
  if (g.keyPair) {
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    AttributeList pubT = sessionTemplateOf(g.publicKey), privT = sessionTemplateOf(g.privateKey);
    RETURN_IF_ERROR(ckCheck("C_GenerateKeyPair (session objects)", ck.generateKeyPair(s, mech, pubT.span(), privT.span(), &pub, &priv),
                            what));
    staging = {ObjectRef{pub, CKO_PUBLIC_KEY}, ObjectRef{priv, CKO_PRIVATE_KEY}};
  } else {
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    AttributeList t = sessionTemplateOf(g.secret);
    RETURN_IF_ERROR(ckCheck("C_GenerateKey (session object)", ck.generateKey(s, mech, t.span(), &key), what));
    staging = {ObjectRef{key, CKO_SECRET_KEY}};
  }
  // Each session object into the token (copyIntoToken destroys it); a failure destroys the
  // session objects not copied yet and the copies made (the first half of a pair).
  ObjectSet copies;
  for (size_t i = 0; i < staging.size(); ++i) {
    const ObjectRef& o = staging[i];
    const AttributeList& t = o.objectClass == CKO_SECRET_KEY ? g.secret : o.objectClass == CKO_PUBLIC_KEY ? g.publicKey : g.privateKey;
    CK_RV rv = CKR_OK;
    Result<CK_OBJECT_HANDLE> copy = copyIntoToken(ck, s, o.handle, t, what, &rv);
    if (copy.ok()) {
      copies.push_back(ObjectRef{*copy, o.objectClass});
      continue;
    }
    for (size_t j = i + 1; j < staging.size(); ++j) (void)ck.destroyObject(s, staging[j].handle);
    for (const ObjectRef& c : copies) (void)ck.destroyObject(s, c.handle);
    if (rv != CKR_OK && copies.empty()) {  // refused: this module gets the direct path
      if (refused) *refused = rv;
      return generateDirect(ck, s, g, what);
    }
    return copy.takeError();
  }
  return copies;
}

}  // namespace keygate::backends::pkcs11
