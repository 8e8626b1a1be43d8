#pragma once
// Mutating admission: identities and approval stamps are written by keygate, never taken
// from the client.
//   KeyActivationRequest CREATE: spec.requester = userInfo.username (client value replaced).
//   KeyActivationRequest UPDATE: each approval appended by this update (index >= the old
//     object's count) gets approver = userInfo.username, time = now (RFC 3339), specHash and
//     signature (api/v1alpha1/approval_signing.h). The request uid is taken from oldObject: on CREATE the
//     mutating webhook sees the object before its uid exists, and approvals are only ever
//     added by UPDATE.
//   EncryptionKey CREATE: annotation keygate.dev/created-by = userInfo.username.
// Anything the mutators cannot make sense of is left unpatched for the validators (and the
// CRD schema) to reject with a field message.

#include "webhook/admission.h"

namespace keygate::webhook {

AdmissionResponse mutateKeyActivationRequest(const AdmissionRequest& request, const AdmissionContext& ctx);
AdmissionResponse mutateEncryptionKey(const AdmissionRequest& request, const AdmissionContext& ctx);

}  // namespace keygate::webhook
