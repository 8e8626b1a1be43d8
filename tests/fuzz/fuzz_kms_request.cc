// Fuzz target: kube-apiserver's KMS v2 Decrypt and Encrypt requests as the plugin receives them
// (protobuf bytes), handled by the plugin's logic over a crypto API that answers like a real
// one would for a key it does not know.
#include <cstdint>
#include <string>

#include "kms/plugin.h"

using namespace keygate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kms::Plugin* plugin = [] {
    kms::Upstream up;
    up.encrypt = [](const keygate::v1::EncryptRequest&) -> Result<keygate::v1::EncryptResponse> {
      return makeError(ErrorCode::kFailedPrecondition, "key is PreActive");
    };
    up.decrypt = [](const keygate::v1::DecryptRequest& r) -> Result<keygate::v1::DecryptResponse> {
      if (r.ciphertext().size() > 4096) return makeError(ErrorCode::kInvalidArgument, "too big");
      return makeError(ErrorCode::kInvalidArgument, "ciphertext does not authenticate");
    };
    kms::PluginOptions o;
    o.key = "kube-system/etcd";
    return new kms::Plugin(o, up);
  }();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  ::v2::DecryptRequest d;
  if (d.ParseFromString(bytes)) (void)plugin->decrypt(d);
  ::v2::EncryptRequest e;
  if (e.ParseFromString(bytes)) (void)plugin->encrypt(e);
  return 0;
}
