#include "backends/kmip/ttlv.h"

#include <gtest/gtest.h>

#include <string>

namespace keygate::backends::kmip {
namespace {

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string unhex(std::string h) {
  std::string out;
  std::string clean;
  for (char c : h)
    if (c != ' ' && c != '|') clean += c;
  for (size_t i = 0; i + 1 < clean.size(); i += 2) out += static_cast<char>(std::stoi(clean.substr(i, 2), nullptr, 16));
  return out;
}

struct Vector {
  const char* name;
  Item item;
  const char* wire;
};

// The encodings of KMIP 1.x spec §9.1.2 (tag 0x420020), byte for byte, both directions.
TEST(Ttlv, SpecExamplesEncodeAndDecode) {
  Item big;
  big.tag = 0x420020;
  big.type = ItemType::kBigInteger;
  big.bytes = unhex("0000000003FD35EB6BC2DF4618080000");
  const Vector vectors[] = {
      {"Integer 8", Item::integer(0x420020, 8), "420020 02 00000004 0000000800000000"},
      {"Long Integer", Item::longInteger(0x420020, 123456789000000000LL), "420020 03 00000008 01B69B4BA5749200"},
      {"Big Integer", big, "420020 04 00000010 0000000003FD35EB6BC2DF4618080000"},
      {"Enumeration 255", Item::enumeration(0x420020, 255), "420020 05 00000004 000000FF00000000"},
      {"Boolean true", Item::boolean(0x420020, true), "420020 06 00000008 0000000000000001"},
      {"Text String", Item::text(0x420020, "Hello World"), "420020 07 0000000B 48656C6C6F20576F726C640000000000"},
      {"Byte String", Item::byteString(0x420020, std::string("\x01\x02\x03", 3)), "420020 08 00000003 0102030000000000"},
      {"Date-Time", Item::dateTime(0x420020, 0x47DA67F8), "420020 09 00000008 0000000047DA67F8"},
      {"Interval", Item::interval(0x420020, 864000), "420020 0A 00000004 000D2F0000000000"},
      {"Structure", Item::structure(0x420020, {Item::enumeration(0x420004, 254), Item::integer(0x420005, 255)}),
       "420020 01 00000020 420004 05 00000004 000000FE00000000 420005 02 00000004 000000FF00000000"},
  };
  for (const auto& v : vectors) {
    const std::string wire = unhex(v.wire);
    EXPECT_EQ(hex(encode(v.item)), hex(wire)) << v.name;
    auto back = decode(wire);
    ASSERT_TRUE(back.ok()) << v.name << ": " << back.error().message;
    EXPECT_EQ(back->type, v.item.type) << v.name;
    EXPECT_EQ(back->number, v.item.number) << v.name;
    EXPECT_EQ(back->bytes, v.item.bytes) << v.name;
    EXPECT_EQ(back->children.size(), v.item.children.size()) << v.name;
    EXPECT_EQ(hex(encode(*back)), hex(wire)) << v.name;
  }
}

// Negative Integers keep their sign; Enumerations and Intervals are unsigned.
TEST(Ttlv, SignsSurviveTheRoundTrip) {
  auto i = decode(encode(Item::integer(0x420001, -2)));
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->number, -2);
  auto l = decode(encode(Item::longInteger(0x420001, -5000000000LL)));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->number, -5000000000LL);
  auto e = decode(encode(Item::enumeration(0x420001, 0x80000001u)));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->number, 0x80000001LL);
}

// find/child pick the right field and name the missing or mistyped one.
TEST(Ttlv, ChildLookupNamesTheTag) {
  Item s = Item::structure(0x42007B, {Item::text(0x420094, "17"), Item::enumeration(0x42008D, 2)});
  ASSERT_NE(s.find(0x420094), nullptr);
  EXPECT_EQ(s.find(0x420094)->bytes, "17");
  EXPECT_EQ(s.find(0x420001), nullptr);
  EXPECT_TRUE(s.child(0x42008D, ItemType::kEnumeration).ok());
  auto wrongType = s.child(0x42008D, ItemType::kInteger);
  ASSERT_FALSE(wrongType.ok());
  EXPECT_NE(wrongType.error().message.find("0x42008D is a Enumeration, expected Integer"), std::string::npos);
  auto missing = s.child(0x420001, ItemType::kInteger);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("lacks 0x420001"), std::string::npos);
}

// Bytes from the network: every malformation is an InvalidArgument naming what is wrong.
TEST(Ttlv, MalformedInputIsAClearErrorNeverACrash) {
  const struct {
    const char* wire;
    const char* message;
  } cases[] = {
      {"", "truncated item header"},
      {"420020 02 000000", "truncated item header"},
      {"420020 0B 00000004 0000000800000000", "unknown item type 11"},
      {"420020 02 00000008 0000000800000000", "Integer 0x420020 has length 8, expected 4"},
      {"420020 06 00000008 0000000000000002", "neither 0 nor 1"},
      {"420020 07 00000010 48656C6C6F", "runs past the end"},
      {"420020 07 00000003 414243FF00000000", "non-zero padding"},
      {"420020 04 00000004 0000000100000000", "not a multiple of 8"},
      {"420020 01 00000018 420004 05 00000004 000000FE00000000", "runs past the end"},
      {"420020 01 00000008 420004 05 00000004 000000FE00000000", "runs past the end"},
      {"420020 02 00000004 0000000800000000 00", "1 bytes after the message"},
      {"420020 01 FFFFFFF8", "runs past the end"},
  };
  for (const auto& c : cases) {
    auto r = decode(unhex(c.wire));
    ASSERT_FALSE(r.ok()) << c.wire;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << c.wire;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << c.wire << " -> " << r.error().message;
  }
  // Nesting is bounded: 40 nested structures are refused, not recursed into.
  Item deep = Item::integer(0x420001, 1);
  for (int i = 0; i < 40; ++i) deep = Item::structure(0x420002, {deep});
  auto r = decode(encode(deep));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nested deeper"), std::string::npos);
  // Every truncation of a valid message fails cleanly.
  const std::string whole = encode(Item::structure(0x42007B, {Item::text(0x420094, "abc"), Item::boolean(0x420001, true)}));
  for (size_t n = 0; n < whole.size(); ++n) EXPECT_FALSE(decode(whole.substr(0, n)).ok()) << n;
}

// Framing: the header says how long the message is, within a limit.
TEST(Ttlv, MessageLengthFromTheHeader) {
  const std::string msg = encode(Item::structure(0x42007B, {Item::integer(0x420001, 1)}));
  auto n = messageLength(msg.substr(0, kHeaderBytes), 1 << 20);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, msg.size());
  EXPECT_FALSE(messageLength(msg.substr(0, 4), 1 << 20).ok());
  EXPECT_FALSE(messageLength(encode(Item::integer(0x420001, 1)).substr(0, 8), 1 << 20).ok());
  auto big = messageLength(unhex("42007B 01 7FFFFFF0"), 1 << 20);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("above the limit"), std::string::npos);
}

}  // namespace
}  // namespace keygate::backends::kmip
