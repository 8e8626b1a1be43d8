#pragma once
// Validating admission: what the CRD schema cannot express. Field rules come from the shared
// api/ validation module (validateCreate/validateUpdate/validateRequestForKey/
// validateSegregation); identity, role and segregation-of-duties rules live here.
//
// On UPDATE only problems introduced by the update are reported: an error the old object
// already had (say, a policy change made its backend unknown) does not block, for example,
// a KeyAdministrator deactivating the key.
//
// Codes: 403 Forbidden (identity, role, segregation of duties), 422 Invalid (field rules),
// 400 BadRequest (object does not decode).

#include "webhook/admission.h"

namespace keygate::webhook {

AdmissionResponse validateKeyActivationRequest(const AdmissionRequest& request, const AdmissionContext& ctx);
AdmissionResponse validateEncryptionKey(const AdmissionRequest& request, const AdmissionContext& ctx);
AdmissionResponse validateKeyRoleBinding(const AdmissionRequest& request, const AdmissionContext& ctx);

}  // namespace keygate::webhook
