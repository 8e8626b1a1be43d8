#include "controllers/signing_key.h"

#include "api/v1alpha1/approval_signing.h"

namespace keygate::controllers {

Result<SigningKey> loadOrCreateSigningKey(backends::SecretStore& store) {
  ASSIGN_OR_RETURN(auto stored, store.get(kSigningKeySecret));
  if (stored) return SigningKey{stored->value(), false};
  ASSIGN_OR_RETURN(std::string generated, api::v1alpha1::generateSigningKey());
  ASSIGN_OR_RETURN(backends::SecretValue kept, store.putIfAbsent(kSigningKeySecret, backends::SecretValue(generated)));
  const bool ours = kept.value() == generated;
  backends::secureWipe(generated);
  return SigningKey{kept.value(), ours};
}

}  // namespace keygate::controllers
