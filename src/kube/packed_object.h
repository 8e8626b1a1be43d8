#pragma once
// How the informer cache keeps an object at rest: CBOR (exact for every JSON value),
// deflated against a dictionary that is the first object the cache packed. Objects of one
// kind share almost all their bytes — field names, enum values, label and finalizer
// names, timestamps' prefixes — so each packs to a few hundred bytes instead of the
// several kilobytes of a decoded nlohmann::json tree. docs/scale.md has the figures.
// Format: one tag byte, 'Z' (deflated CBOR) or 'C' (plain CBOR, if deflate ever fails).

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/json.h"

namespace keygate::kube {

class ObjectPacker {
 public:
  // Thread-safe. The first call fixes the dictionary for the packer's lifetime.
  std::string pack(const Json& obj);
  // Bytes this packer wrote. Anything else decodes to nullopt (never throws).
  std::optional<Json> unpack(const std::string& packed) const;

 private:
  std::shared_ptr<const std::string> dictionary() const;
  mutable std::mutex mu_;
  std::shared_ptr<const std::string> dictionary_;  // CBOR of the first object packed
};

}  // namespace keygate::kube
