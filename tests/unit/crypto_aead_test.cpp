// Copyright (c) medchain developers.
// XChaCha20-Poly1305 against Wycheproof xchacha20_poly1305_test.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "medchain/core/bytes.h"
#include "medchain/crypto/aead.h"

namespace medchain::crypto {
namespace {

using nlohmann::json;

json LoadJson(const std::string& rel) {
  std::ifstream in(std::string(MEDCHAIN_TESTDATA) + "/" + rel);
  EXPECT_TRUE(in.good()) << "missing test data " << rel;
  return json::parse(in);
}

Bytes Hex(const std::string& s) {
  auto b = FromHex(s);
  EXPECT_TRUE(b.has_value()) << "bad hex: " << s;
  return b.value_or(Bytes{});
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Every group: the 192-bit nonce group is checked byte for byte (valid cases
// encrypt to ct||tag and decrypt back; invalid ones - modified tags and
// ciphertexts - fail with Unauthenticated). Groups with any other nonce size
// must be refused by the API with InvalidArgument, in both directions.
TEST(Aead, WycheproofXChaCha20Poly1305EveryGroup) {
  json doc = LoadJson("crypto/wycheproof/xchacha20_poly1305_test.json");
  int valid = 0, invalid_tag = 0, wrong_nonce_size = 0;
  for (const auto& group : doc["testGroups"]) {
    ASSERT_EQ(group["keySize"].get<int>(), 256);
    ASSERT_EQ(group["tagSize"].get<int>(), 128);
    const int iv_bits = group["ivSize"];
    for (const auto& t : group["tests"]) {
      SCOPED_TRACE("tcId " + std::to_string(t["tcId"].get<int>()) + " " +
                   t["comment"].get<std::string>());
      auto key = AeadKey::FromBytes(Hex(t["key"]));
      ASSERT_TRUE(key.ok());
      Bytes iv = Hex(t["iv"]), aad = Hex(t["aad"]), msg = Hex(t["msg"]);
      Bytes ct_tag = Concat(Hex(t["ct"]), Hex(t["tag"]));
      const std::string result = t["result"];
      if (iv_bits != 192) {
        ASSERT_EQ(result, "invalid");
        auto e = Encrypt(*key, iv, aad, msg);
        ASSERT_FALSE(e.ok());
        EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
        auto d = Decrypt(*key, iv, aad, ct_tag);
        ASSERT_FALSE(d.ok());
        EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
        ++wrong_nonce_size;
        continue;
      }
      auto d = Decrypt(*key, iv, aad, ct_tag);
      if (result == "valid") {
        auto e = Encrypt(*key, iv, aad, msg);
        ASSERT_TRUE(e.ok());
        EXPECT_EQ(ToHex(*e), ToHex(ct_tag));
        ASSERT_TRUE(d.ok()) << d.status().ToString();
        EXPECT_EQ(ToHex(*d), ToHex(msg));
        ++valid;
      } else {
        ASSERT_EQ(result, "invalid");
        ASSERT_FALSE(d.ok());
        EXPECT_EQ(d.status().code(), Code::kUnauthenticated);
        ++invalid_tag;
      }
    }
  }
  EXPECT_EQ(valid + invalid_tag + wrong_nonce_size, doc["numberOfTests"].get<int>());
  EXPECT_EQ(valid, 246);
  EXPECT_EQ(invalid_tag, 60);
  EXPECT_EQ(wrong_nonce_size, 9);
}

TEST(Aead, RandomNonceRoundTripAndTamper) {
  AeadKey key = AeadKey::Generate();
  const std::string aad = "record r1 v2";
  const std::string pt = "{\"resourceType\":\"Observation\"}";
  auto sealed = SealWithRandomNonce(key, AsBytes(aad), AsBytes(pt));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kAeadNonceSize + pt.size() + kAeadTagSize);
  auto opened = OpenWithNonce(key, AsBytes(aad), *sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsString(*opened), pt);

  auto sealed2 = SealWithRandomNonce(key, AsBytes(aad), AsBytes(pt));
  ASSERT_TRUE(sealed2.ok());
  EXPECT_FALSE(std::equal(sealed->begin(), sealed->begin() + kAeadNonceSize, sealed2->begin()))
      << "two random nonces collided";

  for (size_t i = 0; i < sealed->size(); ++i) {
    Bytes bad = *sealed;
    bad[i] ^= 0x20;
    auto r = OpenWithNonce(key, AsBytes(aad), bad);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  }
  auto wrong_aad = OpenWithNonce(key, AsBytes("record r1 v3"), *sealed);
  ASSERT_FALSE(wrong_aad.ok());
  EXPECT_EQ(wrong_aad.status().code(), Code::kUnauthenticated);
  AeadKey other = AeadKey::Generate();
  EXPECT_EQ(OpenWithNonce(other, AsBytes(aad), *sealed).status().code(), Code::kUnauthenticated);

  auto truncated = OpenWithNonce(key, AsBytes(aad), ByteView(sealed->data(), 39));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), Code::kInvalidArgument);
}

TEST(Aead, DecryptShorterThanTagIsInvalidArgument) {
  AeadKey key = AeadKey::Generate();
  AeadNonce nonce = RandomNonce();
  auto r = Decrypt(key, nonce, {}, Bytes(15, 0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(Aead, KeyFromBytesSizeAndMoveWipe) {
  EXPECT_FALSE(AeadKey::FromBytes(Bytes(31, 0)).ok());
  auto k = AeadKey::FromBytes(Bytes(32, 0x5a));
  ASSERT_TRUE(k.ok());
  AeadKey moved = std::move(*k);
  EXPECT_EQ(ToBytes(moved.bytes()), Bytes(32, 0x5a));
  EXPECT_EQ(ToBytes(k->bytes()), Bytes(32, 0));
}

}  // namespace
}  // namespace medchain::crypto
