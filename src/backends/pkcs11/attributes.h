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

}  // namespace keygate::backends::pkcs11
