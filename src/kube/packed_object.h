#pragma once
// How the informer cache keeps an object at rest: CBOR (exact for every JSON value),
// deflated against a dictionary — an earlier object of the same cache. Objects of one kind
// share almost all their bytes (field names, enum values, label and finalizer names,
// timestamps' prefixes), so each packs to a few hundred bytes instead of the several
// kilobytes of a decoded nlohmann::json tree. docs/scale.md has the figures.
//
// The first object packed is the first dictionary. An object that packs poorly against
// it (an atypical first object: a key without status yet) becomes another dictionary, up
// to kMaxDictionaries; dictionaries are never replaced (packed bytes name theirs).
// Format: 'Z' <dictionary index> <raw deflate>, or 'C' <CBOR> should deflate ever fail.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace keygate::kube {

class ObjectPacker {
 public:
  static constexpr size_t kMaxDictionaries = 8;
  static constexpr size_t kDictionaryBytes = 4096;  // the tail of the object is kept

  // Thread-safe.
  std::string pack(const Json& obj);
  // Bytes this packer wrote. Anything else decodes to nullopt (never throws).
  std::optional<Json> unpack(const std::string& packed) const;
  size_t dictionaries() const;

 private:
  using Dictionaries = std::shared_ptr<const std::vector<std::string>>;
  Dictionaries snapshot() const;
  // Adds `cbor` as a dictionary unless full; returns the (possibly new) set.
  Dictionaries addDictionary(const std::string& cbor);

  mutable std::mutex mu_;
  Dictionaries dictionaries_ = std::make_shared<const std::vector<std::string>>();
};

}  // namespace keygate::kube
