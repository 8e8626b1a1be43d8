#pragma once
// CK_RV → Error. The message names the function and the CKR constant
// ("C_SignInit: CKR_KEY_FUNCTION_NOT_PERMITTED"); Error::reason carries the bare CKR name
// so callers can branch on it without parsing text.

#include <string>
#include <string_view>

#include "backends/pkcs11/pkcs11_api.h"
#include "common/result.h"

namespace keygate::backends::pkcs11 {

// "CKR_PIN_INCORRECT"; unknown values as "CKR_0x…" (vendor codes included).
std::string ckrName(CK_RV rv);
// Canonical code for an rv (session/device loss → Unavailable, wrong PIN → Unauthenticated,
// disallowed use → PermissionDenied, bad template → InvalidArgument, …).
ErrorCode ckrCode(CK_RV rv);
// Error for a failed call; `context` (a token label, a key id — never a PIN) is appended.
Error ckError(std::string_view function, CK_RV rv, std::string_view context = {});
// OK for CKR_OK, else ckError(...).
Status ckCheck(std::string_view function, CK_RV rv, std::string_view context = {});

// Errors after which a fresh session (and login) may succeed: the retry-once set.
bool isSessionLoss(const Error& e);
// The token itself went away: slot ids may change, find it by label again.
bool isDeviceLoss(const Error& e);
// A cached object handle no longer names an object (deleted outside Keygate).
bool isStaleHandle(const Error& e);

}  // namespace keygate::backends::pkcs11
