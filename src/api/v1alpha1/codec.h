#pragma once
// JSON <-> structs for the three kinds, status included. Never throws.
//
// Round trip: encode(decode(j)) == j for any object the API server returns (defaults
// applied), including fields the structs do not model: those are taken from the decoded
// document (kept in `raw`) at the top level, in metadata (managedFields, generateName, ...),
// in spec and in status. Absent optional fields stay absent; empty strings, lists and maps
// are omitted like Go's omitempty.
//
// Errors name the field: `spec.algorithm: unsupported value "AES-128": supported values: ...`,
// `spec.activation.requiredApprovals: expected integer, got string`.

#include <string_view>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "common/json.h"
#include "common/result.h"

namespace keygate::api::v1alpha1 {

struct DecodeOptions {
  // Unknown fields below spec/status are errors (`spec.purpos: unknown field`), as with
  // kubectl --validate=strict. Off by default: the server prunes them anyway.
  bool strict = false;
};

Result<EncryptionKey> decodeEncryptionKey(const Json& j, DecodeOptions options = {});
Result<KeyActivationRequest> decodeKeyActivationRequest(const Json& j, DecodeOptions options = {});
Result<KeyRoleBinding> decodeKeyRoleBinding(const Json& j, DecodeOptions options = {});

Json encode(const EncryptionKey& key);
Json encode(const KeyActivationRequest& request);
Json encode(const KeyRoleBinding& binding);

// Status alone, as written to the /status subresource's body `status` field.
Json encodeStatus(const EncryptionKeyStatus& status);
Json encodeStatus(const KeyActivationRequestStatus& status);
Json encodeStatus(const KeyRoleBindingStatus& status);

// Shared by the codecs of other kinds in this layer.
Result<ObjectMeta> decodeObjectMeta(const Json& j);
Json encodeObjectMeta(const ObjectMeta& meta, const Json& raw = Json());

// A Namespace object's keygate.dev/jurisdiction label ("" when absent or not a string).
std::string jurisdictionOfNamespace(const Json& ns);

}  // namespace keygate::api::v1alpha1
