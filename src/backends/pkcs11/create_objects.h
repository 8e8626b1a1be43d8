#pragma once
// Making a key version's objects in a token: generateObjects().
//
// Staged (the default for SoftHSM2): C_GenerateKey / C_GenerateKeyPair make *session*
// objects — nothing in the token yet — C_CopyObject copies each into the token with
// CKA_TOKEN true and the version's CKA_ID and label, and the session objects are destroyed.
// Why: SoftHSM2 writes a new token object's defaults one attribute at a time, CKA_TOKEN
// false and SoftHSM's default usage (encrypt, decrypt, wrap, unwrap, verify) among them —
// 34 rewrites of the object's file for an AES key — and the caller's template only after, in
// one transaction; a kill in between leaves an object that encrypts for anyone on the token
// and that no CKA_ID lookup finds (issue 17; the stray sweep disables it, but only later).
// A copy is written in one transaction after an empty file: a kill leaves an object with no
// attributes, which nothing can use and the stray sweep destroys. It is also several times
// faster (bench/pkcs11_generate_bench). The copy keeps the generated key's attributes —
// CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_KEY_GEN_MECHANISM — except
// CKA_COPYABLE, which stays true: SoftHSM2 refuses CKA_COPYABLE false both in the copy's
// template and in C_SetAttributeValue. Copying gives a PIN holder nothing they lack: the
// same PIN can turn any usage on in place, and a copy with another CKA_ID is a stray.
//
// Direct: one C_GenerateKey / C_GenerateKeyPair with the token template (what a hardware
// HSM writes atomically anyway). A module that refuses the staged copy (no C_CopyObject,
// or CKA_TOKEN / CKA_ID not changeable in a copy) gets the direct path, and *refused says
// why so the caller stops trying.

#include <string>

#include "backends/pkcs11/cryptoki.h"
#include "backends/pkcs11/templates.h"
#include "backends/pkcs11/token_manager.h"
#include "common/result.h"

namespace keygate::backends::pkcs11 {

// The staged create's pieces, for objects made another way (BYOK's C_UnwrapKey): the
// session object's template for a token template `t` (no CKA_TOKEN true, CKA_ID, label or
// CKA_COPYABLE false), and the copy of such a session object into the token with t's
// CKA_TOKEN, CKA_ID and label. copyIntoToken destroys the session object in every case; when
// the module refuses the copy (see below) it returns kUnimplemented and sets *refused.
AttributeList sessionTemplateOf(const AttributeList& t);
Result<CK_OBJECT_HANDLE> copyIntoToken(Cryptoki& ck, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE staged,
                                       const AttributeList& t, const std::string& what, CK_RV* refused = nullptr);

// The token objects made from g (secret key, or public then private half). `what` names
// the key in errors. On failure nothing of this call is left in the token, except what a
// module failing between the halves of a pair leaves (the caller's half-pair handling).
Result<ObjectSet> generateObjects(Cryptoki& ck, CK_SESSION_HANDLE session, const GenerationTemplate& g,
                                  const std::string& what, bool staged, CK_RV* refused = nullptr);

}  // namespace keygate::backends::pkcs11
