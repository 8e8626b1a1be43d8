#pragma once
// The one conversion from an EncryptionKey version to what a backend needs (KeySpec):
// used by the EncryptionKey reconciler and the crypto API alike.

#include <cstdint>

#include "api/v1alpha1/encryption_key.h"
#include "backends/key_backend.h"
#include "common/result.h"

namespace keygate::controllers {

// InvalidArgument when the key's purpose or algorithm has no backend spelling.
Result<backends::KeySpec> backendSpec(const api::v1alpha1::EncryptionKey& key, int64_t version);

}  // namespace keygate::controllers
