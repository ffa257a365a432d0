// Copyright (c) medchain developers.
// X25519 sealed boxes, and raw X25519 against Wycheproof x25519_test.json.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "medchain/core/bytes.h"
#include "medchain/crypto/box.h"

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

TEST(Box, SealOpenRoundTrip) {
  BoxKey recipient = BoxKey::Generate();
  const std::string data_key = "0123456789abcdef0123456789abcdef";
  auto sealed = Seal(recipient.public_key(), AsBytes(data_key));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), data_key.size() + kSealOverhead);
  auto opened = recipient.OpenSealed(*sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(AsString(*opened), data_key);
  // Sealing is randomised (fresh ephemeral key).
  auto sealed2 = Seal(recipient.public_key(), AsBytes(data_key));
  ASSERT_TRUE(sealed2.ok());
  EXPECT_NE(*sealed, *sealed2);
}

TEST(Box, EmptyPlaintextRoundTrip) {
  BoxKey recipient = BoxKey::Generate();
  auto sealed = Seal(recipient.public_key(), {});
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kSealOverhead);
  auto opened = recipient.OpenSealed(*sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->empty());
}

TEST(Box, WrongKeyAndEveryModifiedByteFail) {
  BoxKey recipient = BoxKey::Generate();
  BoxKey other = BoxKey::Generate();
  auto sealed = Seal(recipient.public_key(), AsBytes("secret data key"));
  ASSERT_TRUE(sealed.ok());
  auto wrong = other.OpenSealed(*sealed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);
  for (size_t i = 0; i < sealed->size(); ++i) {
    Bytes bad = *sealed;
    bad[i] ^= 0x01;
    auto r = recipient.OpenSealed(bad);
    EXPECT_FALSE(r.ok()) << "byte " << i;
  }
}

TEST(Box, TruncatedIsInvalidArgument) {
  BoxKey recipient = BoxKey::Generate();
  auto sealed = Seal(recipient.public_key(), AsBytes("x"));
  ASSERT_TRUE(sealed.ok());
  auto r = recipient.OpenSealed(ByteView(sealed->data(), kSealOverhead - 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  // One byte short of the full box still has the overhead: authentication fails.
  auto r2 = recipient.OpenSealed(ByteView(sealed->data(), sealed->size() - 1));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), Code::kUnauthenticated);
}

TEST(Box, SealToLowOrderKeyIsRefused) {
  BoxPublicKey zero{};  // u = 0, a low-order point
  auto r = Seal(zero, AsBytes("x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// RFC 7748 section 6.1: Alice's and Bob's key pairs and their shared secret.
TEST(Box, Rfc7748KeyPairsFromSecret) {
  auto alice =
      BoxKey::FromSecret(Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob =
      BoxKey::FromSecret(Hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_EQ(ToHex(alice->public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(ToHex(bob->public_key()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto k1 = X25519(alice->secret(), bob->public_key());
  auto k2 = X25519(bob->secret(), alice->public_key());
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_EQ(ToHex(*k1), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(*k1, *k2);
}

TEST(Box, FromSecretRoundTripsGeneratedKey) {
  BoxKey a = BoxKey::Generate();
  auto b = BoxKey::FromSecret(a.secret());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->public_key(), a.public_key());
  auto sealed = Seal(a.public_key(), AsBytes("m"));
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(b->OpenSealed(*sealed).ok());
  EXPECT_FALSE(BoxKey::FromSecret(Bytes(31, 1)).ok());
}

TEST(Box, MoveWipesTheSource) {
  BoxKey a = BoxKey::Generate();
  Bytes secret = ToBytes(a.secret());
  BoxKey b = std::move(a);
  EXPECT_EQ(ToBytes(b.secret()), secret);
  // NOLINTNEXTLINE(bugprone-use-after-move)
  EXPECT_EQ(ToBytes(a.secret()), Bytes(32, 0));
}

// Wycheproof: "valid" cases must give exactly the listed shared secret.
// "acceptable" cases are inputs a careful implementation may reject. Our rule
// (libsodium's): the ones whose shared secret is all zeros (low-order public
// points, incl. non-canonical encodings of them) are rejected with an error;
// every other acceptable case (twist points, non-canonical u reduced mod p,
// edge-case multiplications) is computed and must match the listed secret.
TEST(Box, WycheproofX25519EveryCase) {
  json doc = LoadJson("crypto/wycheproof/x25519_test.json");
  const Bytes zero(32, 0);
  int valid = 0, acceptable_rejected = 0, acceptable_computed = 0;
  for (const auto& group : doc["testGroups"]) {
    ASSERT_EQ(group["curve"], "curve25519");
    for (const auto& t : group["tests"]) {
      SCOPED_TRACE("tcId " + std::to_string(t["tcId"].get<int>()) + " " +
                   t["comment"].get<std::string>());
      Bytes shared = Hex(t["shared"]);
      auto r = X25519(Hex(t["private"]), Hex(t["public"]));
      const std::string result = t["result"];
      if (result == "valid") {
        ASSERT_NE(shared, zero);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        EXPECT_EQ(ToHex(*r), ToHex(shared));
        ++valid;
      } else {
        ASSERT_EQ(result, "acceptable");
        if (shared == zero) {
          ASSERT_FALSE(r.ok());
          EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
          ++acceptable_rejected;
        } else {
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_EQ(ToHex(*r), ToHex(shared));
          ++acceptable_computed;
        }
      }
    }
  }
  EXPECT_EQ(valid + acceptable_rejected + acceptable_computed, doc["numberOfTests"].get<int>());
  EXPECT_EQ(valid, 264);
  EXPECT_EQ(acceptable_rejected + acceptable_computed, 254);
  EXPECT_EQ(acceptable_rejected, 31);  // the cases flagged ZeroSharedSecret
}

TEST(Box, X25519RejectsWrongSizes) {
  EXPECT_FALSE(X25519(Bytes(31, 1), Bytes(32, 9)).ok());
  EXPECT_FALSE(X25519(Bytes(32, 1), Bytes(33, 9)).ok());
}

}  // namespace
}  // namespace medchain::crypto
