#pragma once
// The one place that includes the PKCS#11 (Cryptoki 2.40) header. Debian ships the same
// header in libp11-kit-dev (<p11-kit/pkcs11.h>, needs pkg-config p11-kit-1's -I) and in
// libsofthsm2-dev (<softhsm/pkcs11.h>); both define the standard CK_* names.

#if __has_include(<p11-kit/pkcs11.h>)
#include <p11-kit/pkcs11.h>
#elif __has_include(<softhsm/pkcs11.h>)
#include <softhsm/pkcs11.h>
#elif __has_include(<p11-kit-1/p11-kit/pkcs11.h>)
#include <p11-kit-1/p11-kit/pkcs11.h>
#else
#error "no pkcs11.h: install libp11-kit-dev or libsofthsm2-dev"
#endif
