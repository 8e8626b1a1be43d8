#pragma once
// Reading attributes back from a token object (C_GetAttributeValue with its
// unavailable-information conventions folded into std::optional).

#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "backends/pkcs11/cryptoki.h"
#include "common/result.h"

namespace keygate::backends::pkcs11 {

// nullopt for an attribute the object does not have (or will not reveal).
Result<std::vector<std::pair<CK_ATTRIBUTE_TYPE, std::optional<bool>>>> readBools(
    Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, std::span<const CK_ATTRIBUTE_TYPE> types);
Result<std::optional<CK_ULONG>> readUlong(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                          CK_ATTRIBUTE_TYPE type);
Result<std::optional<Bytes>> readBytes(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);

// What a pass over a token's objects needs of each: CKA_ID, CKA_CLASS and CKA_TOKEN in one
// C_GetAttributeValue (a second only for an ID over 64 bytes). rv is that call's result; on
// CKR_OK or a partial answer (an attribute missing or sensitive) the fields hold what was
// readable. SoftHSM2 answers CKR_ATTRIBUTE_VALUE_INVALID for an object with no attributes.
struct ObjectIdentity {
  CK_RV rv = CKR_OK;
  std::optional<Bytes> id;
  std::optional<CK_ULONG> objectClass;
  bool onToken = false;
};
ObjectIdentity readIdentity(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o);

}  // namespace keygate::backends::pkcs11
