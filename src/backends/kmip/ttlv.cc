#include "backends/kmip/ttlv.h"

#include <cstdio>

namespace keygate::backends::kmip {
namespace {

constexpr int kMaxDepth = 16;

size_t padded(size_t n) { return (n + 7) / 8 * 8; }

void putBE(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t getBE(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[at + i]);
  return v;
}

std::string hexTag(uint32_t tag) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%06X", tag);
  return buf;
}

Error malformed(size_t offset, const std::string& what) {
  return makeError(ErrorCode::kInvalidArgument, "malformed KMIP TTLV at byte " + std::to_string(offset) + ": " + what);
}

void encodeInto(const Item& item, std::string& out) {
  putBE(out, item.tag, 3);
  out.push_back(static_cast<char>(item.type));
  switch (item.type) {
    case ItemType::kStructure: {
      const size_t lengthAt = out.size();
      putBE(out, 0, 4);
      const size_t start = out.size();
      for (const Item& c : item.children) encodeInto(c, out);
      const uint64_t length = out.size() - start;
      for (int i = 0; i < 4; ++i) out[lengthAt + i] = static_cast<char>((length >> (8 * (3 - i))) & 0xFF);
      return;
    }
    case ItemType::kInteger:
    case ItemType::kEnumeration:
    case ItemType::kInterval:
      putBE(out, 4, 4);
      putBE(out, static_cast<uint32_t>(item.number), 4);
      putBE(out, 0, 4);
      return;
    case ItemType::kLongInteger:
    case ItemType::kBoolean:
    case ItemType::kDateTime:
      putBE(out, 8, 4);
      putBE(out, static_cast<uint64_t>(item.number), 8);
      return;
    case ItemType::kBigInteger:
    case ItemType::kTextString:
    case ItemType::kByteString:
      putBE(out, item.bytes.size(), 4);
      out += item.bytes;
      out.append(padded(item.bytes.size()) - item.bytes.size(), '\0');
      return;
  }
}

Result<Item> decodeAt(std::string_view in, size_t& at, size_t end, int depth) {
  if (depth > kMaxDepth) return malformed(at, "structures nested deeper than " + std::to_string(kMaxDepth));
  if (end - at < kHeaderBytes) return malformed(at, "truncated item header");
  Item item;
  item.tag = static_cast<uint32_t>(getBE(in, at, 3));
  const uint8_t type = static_cast<uint8_t>(in[at + 3]);
  const uint64_t length = getBE(in, at + 4, 4);
  const size_t headerAt = at;
  at += kHeaderBytes;
  if (type < 0x01 || type > 0x0A) return malformed(headerAt, "unknown item type " + std::to_string(type) + " (tag " + hexTag(item.tag) + ")");
  item.type = static_cast<ItemType>(type);
  const size_t valueBytes = item.type == ItemType::kStructure ? length : padded(length);
  if (length > end - at || valueBytes > end - at)
    return malformed(headerAt, "length " + std::to_string(length) + " of " + hexTag(item.tag) + " runs past the end");
  auto fixed = [&](uint64_t want) -> Status {
    if (length != want)
      return malformed(headerAt, std::string(itemTypeName(item.type)) + " " + hexTag(item.tag) + " has length " +
                                     std::to_string(length) + ", expected " + std::to_string(want));
    return okStatus();
  };
  switch (item.type) {
    case ItemType::kStructure: {
      const size_t childEnd = at + length;
      while (at < childEnd) {
        ASSIGN_OR_RETURN(Item child, decodeAt(in, at, childEnd, depth + 1));
        item.children.push_back(std::move(child));
      }
      return item;
    }
    case ItemType::kInteger:
    case ItemType::kEnumeration:
    case ItemType::kInterval: {
      RETURN_IF_ERROR(fixed(4));
      const uint32_t raw = static_cast<uint32_t>(getBE(in, at, 4));
      item.number = item.type == ItemType::kInteger ? static_cast<int64_t>(static_cast<int32_t>(raw)) : raw;
      break;
    }
    case ItemType::kLongInteger:
    case ItemType::kDateTime:
      RETURN_IF_ERROR(fixed(8));
      item.number = static_cast<int64_t>(getBE(in, at, 8));
      break;
    case ItemType::kBoolean: {
      RETURN_IF_ERROR(fixed(8));
      const uint64_t v = getBE(in, at, 8);
      if (v > 1) return malformed(headerAt, "Boolean " + hexTag(item.tag) + " is neither 0 nor 1");
      item.number = static_cast<int64_t>(v);
      break;
    }
    case ItemType::kBigInteger:
      if (length % 8 != 0) return malformed(headerAt, "Big Integer " + hexTag(item.tag) + " length is not a multiple of 8");
      [[fallthrough]];
    case ItemType::kTextString:
    case ItemType::kByteString:
      item.bytes.assign(in.substr(at, length));
      break;
  }
  for (size_t i = at + length; i < at + valueBytes; ++i)
    if (in[i] != '\0') return malformed(i, "non-zero padding after " + hexTag(item.tag));
  at += valueBytes;
  return item;
}

}  // namespace

const char* itemTypeName(ItemType t) {
  switch (t) {
    case ItemType::kStructure: return "Structure";
    case ItemType::kInteger: return "Integer";
    case ItemType::kLongInteger: return "Long Integer";
    case ItemType::kBigInteger: return "Big Integer";
    case ItemType::kEnumeration: return "Enumeration";
    case ItemType::kBoolean: return "Boolean";
    case ItemType::kTextString: return "Text String";
    case ItemType::kByteString: return "Byte String";
    case ItemType::kDateTime: return "Date-Time";
    case ItemType::kInterval: return "Interval";
  }
  return "?";
}

Item Item::structure(uint32_t tag, std::vector<Item> children) {
  Item i;
  i.tag = tag;
  i.type = ItemType::kStructure;
  i.children = std::move(children);
  return i;
}

namespace {
Item numeric(uint32_t tag, ItemType type, int64_t v) {
  Item i;
  i.tag = tag;
  i.type = type;
  i.number = v;
  return i;
}
Item stringItem(uint32_t tag, ItemType type, std::string v) {
  Item i;
  i.tag = tag;
  i.type = type;
  i.bytes = std::move(v);
  return i;
}
}  // namespace

Item Item::integer(uint32_t tag, int32_t v) { return numeric(tag, ItemType::kInteger, v); }
Item Item::longInteger(uint32_t tag, int64_t v) { return numeric(tag, ItemType::kLongInteger, v); }
Item Item::enumeration(uint32_t tag, uint32_t v) { return numeric(tag, ItemType::kEnumeration, v); }
Item Item::boolean(uint32_t tag, bool v) { return numeric(tag, ItemType::kBoolean, v ? 1 : 0); }
Item Item::dateTime(uint32_t tag, int64_t s) { return numeric(tag, ItemType::kDateTime, s); }
Item Item::interval(uint32_t tag, uint32_t s) { return numeric(tag, ItemType::kInterval, s); }
Item Item::text(uint32_t tag, std::string v) { return stringItem(tag, ItemType::kTextString, std::move(v)); }
Item Item::byteString(uint32_t tag, std::string v) { return stringItem(tag, ItemType::kByteString, std::move(v)); }

const Item* Item::find(uint32_t t) const {
  for (const Item& c : children)
    if (c.tag == t) return &c;
  return nullptr;
}

std::vector<const Item*> Item::findAll(uint32_t t) const {
  std::vector<const Item*> out;
  for (const Item& c : children)
    if (c.tag == t) out.push_back(&c);
  return out;
}

Result<const Item*> Item::child(uint32_t t, ItemType want) const {
  const Item* c = find(t);
  if (c == nullptr) return makeError(ErrorCode::kInvalidArgument, "KMIP message lacks " + hexTag(t) + " in " + hexTag(tag));
  if (c->type != want)
    return makeError(ErrorCode::kInvalidArgument, "KMIP " + hexTag(t) + " is a " + itemTypeName(c->type) + ", expected " +
                                                      itemTypeName(want));
  return c;
}

std::string encode(const Item& item) {
  std::string out;
  encodeInto(item, out);
  return out;
}

Result<Item> decode(std::string_view data) {
  size_t at = 0;
  ASSIGN_OR_RETURN(Item item, decodeAt(data, at, data.size(), 0));
  if (at != data.size()) return malformed(at, std::to_string(data.size() - at) + " bytes after the message");
  return item;
}

Result<size_t> messageLength(std::string_view header, size_t maxBytes) {
  if (header.size() < kHeaderBytes) return malformed(header.size(), "truncated message header");
  if (static_cast<uint8_t>(header[3]) != static_cast<uint8_t>(ItemType::kStructure))
    return malformed(3, "a KMIP message is a Structure");
  const uint64_t length = getBE(header, 4, 4);
  if (length + kHeaderBytes > maxBytes)
    return malformed(4, "message of " + std::to_string(length + kHeaderBytes) + " bytes is above the limit of " +
                            std::to_string(maxBytes));
  return static_cast<size_t>(length + kHeaderBytes);
}

}  // namespace keygate::backends::kmip
