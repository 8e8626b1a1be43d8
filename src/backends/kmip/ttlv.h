#pragma once
// KMIP TTLV (Tag-Type-Length-Value) encoding, KMIP 1.x spec §9.1: a 3-byte tag, a 1-byte
// type, a 4-byte big-endian length, then the value padded with zeros to a multiple of 8.
// A Structure's value is the encoding of its children.
//
// decode() is strict about everything that decides how the rest of the message is read
// (lengths per type, padding, nesting depth, total size) and never reads out of bounds:
// the bytes come from the network.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keygate::backends::kmip {

enum class ItemType : uint8_t {
  kStructure = 0x01,
  kInteger = 0x02,
  kLongInteger = 0x03,
  kBigInteger = 0x04,
  kEnumeration = 0x05,
  kBoolean = 0x06,
  kTextString = 0x07,
  kByteString = 0x08,
  kDateTime = 0x09,
  kInterval = 0x0A,
};
const char* itemTypeName(ItemType t);

struct Item {
  uint32_t tag = 0;  // 24 bits, 0x42xxxx for KMIP's own tags
  ItemType type = ItemType::kStructure;
  int64_t number = 0;          // Integer, Long Integer, Enumeration, Boolean, Date-Time, Interval
  std::string bytes;           // Text String (UTF-8), Byte String, Big Integer (two's complement)
  std::vector<Item> children;  // Structure

  static Item structure(uint32_t tag, std::vector<Item> children = {});
  static Item integer(uint32_t tag, int32_t v);
  static Item longInteger(uint32_t tag, int64_t v);
  static Item enumeration(uint32_t tag, uint32_t v);
  static Item boolean(uint32_t tag, bool v);
  static Item text(uint32_t tag, std::string v);
  static Item byteString(uint32_t tag, std::string v);
  static Item dateTime(uint32_t tag, int64_t secondsSinceEpoch);
  static Item interval(uint32_t tag, uint32_t seconds);

  // First child with `tag`, or nullptr.
  const Item* find(uint32_t tag) const;
  std::vector<const Item*> findAll(uint32_t tag) const;
  // The child's value when it exists and has the expected type; InvalidArgument naming
  // the tag otherwise (a server answer without a field we need is malformed for us).
  Result<const Item*> child(uint32_t tag, ItemType type) const;
};

std::string encode(const Item& item);

// Exactly one item filling `data`. InvalidArgument with the offset on malformed input.
Result<Item> decode(std::string_view data);

// The total length of the message whose first 8 bytes are `header` (framing on a stream).
// InvalidArgument when the header is not a Structure or announces more than `maxBytes`.
Result<size_t> messageLength(std::string_view header, size_t maxBytes);

inline constexpr size_t kHeaderBytes = 8;

}  // namespace keygate::backends::kmip
