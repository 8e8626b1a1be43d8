#include "controllers/backend_spec.h"

namespace keygate::controllers {

Result<backends::KeySpec> backendSpec(const api::v1alpha1::EncryptionKey& key, int64_t version) {
  backends::KeySpec spec;
  spec.ref.tenantNamespace = key.metadata.namespace_;
  spec.ref.keyUid = key.metadata.uid;
  spec.ref.version = static_cast<int>(version);
  ASSIGN_OR_RETURN(spec.purpose, backends::parsePurpose(api::v1alpha1::toString(key.spec.purpose)));
  ASSIGN_OR_RETURN(spec.algorithm, backends::parseAlgorithm(api::v1alpha1::toString(key.spec.algorithm)));
  return spec;
}

}  // namespace keygate::controllers
