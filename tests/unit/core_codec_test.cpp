// Copyright (c) medchain developers.
#include <gtest/gtest.h>

#include "medchain/core/bytes.h"
#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"

namespace medchain {
namespace {

Bytes Hex(std::string_view h) { return *FromHex(h); }

TEST(Codec, FixedWidthIntegersAreBigEndian) {
  Encoder e;
  e.U8(0x01).U16(0x0203).U32(0x04050607).U64(0x08090a0b0c0d0e0fULL);
  EXPECT_EQ(ToHex(e.buffer()), "0102030405060708090a0b0c0d0e0f");
  Decoder d(e.buffer(), "t");
  EXPECT_EQ(d.U8("a"), 0x01);
  EXPECT_EQ(d.U16("b"), 0x0203);
  EXPECT_EQ(d.U32("c"), 0x04050607u);
  EXPECT_EQ(d.U64("d"), 0x08090a0b0c0d0e0fULL);
  EXPECT_TRUE(d.Finish().ok());
}

// Varint vectors: unsigned LEB128 as in docs/format.md section "varint".
TEST(Codec, VarintVectors) {
  struct V {
    uint64_t value;
    const char* hex;
  } vectors[] = {
      {0, "00"},
      {1, "01"},
      {127, "7f"},
      {128, "8001"},
      {300, "ac02"},
      {16383, "ff7f"},
      {16384, "808001"},
      {0xffffffffULL, "ffffffff0f"},
      {0xffffffffffffffffULL, "ffffffffffffffffff01"},
  };
  for (const auto& v : vectors) {
    Encoder e;
    e.Varint(v.value);
    EXPECT_EQ(ToHex(e.buffer()), v.hex) << v.value;
    Bytes b = Hex(v.hex);
    Decoder d(b, "t");
    EXPECT_EQ(d.Varint("n"), v.value);
    EXPECT_TRUE(d.Finish().ok()) << d.status().ToString();
  }
}

TEST(Codec, VarintRejectsNonCanonicalAndOverflow) {
  for (const char* hex : {"8000", "ff00", "80808000", "ffffffffffffffffff02",
                          "ffffffffffffffffff81", "80", ""}) {
    Bytes b = Hex(hex);
    Decoder d(b, "t");
    d.Varint("n");
    EXPECT_FALSE(d.Finish().ok()) << hex;
  }
}

TEST(Codec, BytesAndStrings) {
  Encoder e;
  e.Var(AsBytes("abc")).Str("h\xc3\xa9").Bool(true).Bool(false);
  EXPECT_EQ(ToHex(e.buffer()), "036162630368c3a90100");
  Decoder d(e.buffer(), "t");
  EXPECT_EQ(AsString(d.VarView("a", 3)), "abc");
  EXPECT_EQ(d.Str("b", 10), "h\xc3\xa9");
  EXPECT_TRUE(d.Bool("c"));
  EXPECT_FALSE(d.Bool("d"));
  EXPECT_TRUE(d.Finish().ok());
}

TEST(Codec, RejectsOversizeLengthsWithFieldName) {
  Bytes b = Hex("05616263646566");
  Decoder d(b, "tx");
  d.Var("body", 4);
  Status s = d.Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("tx.body"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("exceeds limit 4"), std::string::npos) << s.message();
}

TEST(Codec, RejectsTruncationTrailingBytesBadBoolAndBadUtf8) {
  {
    Bytes b = Hex("0561");
    Decoder d(b, "t");
    d.Var("x", 100);
    EXPECT_NE(d.Finish().message().find("truncated"), std::string::npos);
  }
  {
    Bytes b = Hex("0100");
    Decoder d(b, "t");
    d.U8("x");
    EXPECT_NE(d.Finish().message().find("trailing"), std::string::npos);
  }
  {
    Bytes b = Hex("02");
    Decoder d(b, "t");
    d.Bool("flag");
    EXPECT_FALSE(d.Finish().ok());
  }
  // Overlong '/', a lone surrogate, and a code point above U+10FFFF.
  for (const char* hex : {"02c0af", "03eda080", "04f4908080"}) {
    Bytes b = Hex(hex);
    Decoder d(b, "t");
    d.Str("s", 10);
    EXPECT_FALSE(d.Finish().ok()) << hex;
  }
}

TEST(Codec, CountIsBoundedByLimitAndInput) {
  Bytes b = Hex("ff01");  // 255 elements claimed, one byte left
  Decoder d(b, "t");
  d.Count("items", 1000);
  EXPECT_FALSE(d.ok());
  Bytes c = Hex("0a");
  Decoder d2(c, "t");
  d2.Count("items", 5);
  EXPECT_FALSE(d2.ok());
}

TEST(Codec, ErrorsStick) {
  Bytes b = Hex("02");
  Decoder d(b, "t");
  d.Bool("first");
  EXPECT_EQ(d.U8("second"), 0);
  EXPECT_NE(d.status().message().find("first"), std::string::npos);
}

TEST(Hex, RoundTripAndRejects) {
  EXPECT_EQ(ToHex(Hex("00ff10AB")), "00ff10ab");
  EXPECT_FALSE(FromHex("abc"));
  EXPECT_FALSE(FromHex("zz"));
  EXPECT_FALSE(HashFromHex("00"));
}

TEST(Base64, StrictDecoding) {
  EXPECT_EQ(ToBase64(AsBytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(ToBase64(AsBytes("fo")), "Zm8=");
  EXPECT_EQ(AsString(*FromBase64("Zm8=")), "fo");
  EXPECT_FALSE(FromBase64("Zm8"));     // missing padding
  EXPECT_FALSE(FromBase64("Zm9="));    // non-zero trailing bits
  EXPECT_FALSE(FromBase64("Zm 8="));   // whitespace
  EXPECT_TRUE(FromBase64("")->empty());
}

// FIPS 180-2 appendix B vectors.
TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(ToHex(Sha256Digest(std::string_view(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(Sha256Digest(std::string_view("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("abcdbcdecdefdefgefghfghighijhijki").Update("jkljklmklmnlmnomnopnopq");
  EXPECT_EQ(ToHex(h.Finish()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // The object is reusable after Finish.
  EXPECT_EQ(ToHex(h.Update("abc").Finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace medchain
