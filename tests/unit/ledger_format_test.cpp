// Copyright (c) medchain developers.
// The canonical encodings of docs/format.md, checked byte for byte against
// vectors written out field by field from the specification.
#include <gtest/gtest.h>

#include "medchain/core/sha256.h"
#include "medchain/crypto/ed25519.h"
#include "medchain/ledger/block.h"
#include "medchain/ledger/bodies.h"

namespace medchain::ledger {
namespace {

Bytes Hex(std::string_view h) {
  auto b = FromHex(h);
  EXPECT_TRUE(b.has_value()) << h;
  return b.value_or(Bytes{});
}
std::string Rep(std::string_view byte_hex, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += byte_hex;
  return s;
}

// RFC 8032 section 7.1, TEST 1.
constexpr std::string_view kSeed1 =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view kPub1 =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

crypto::SigningKey Key1() {
  return std::move(crypto::SigningKey::FromSeed(Hex(kSeed1))).value();
}

// docs/format.md, vector "attest transaction".
const std::string kAttestUnsignedHex = std::string("01")     // version
                                       + "0028"              // type 40 = attest
                                       + std::string(kPub1)  // author
                                       + "0000000000000007"  // nonce 7
                                       + "0000018bcfe56800"  // timestamp 1700000000000
                                       + "23"                // body length 35
                                       + Rep("11", 32)       // digest
                                       + "02" + "6869";      // note "hi"

UnsignedTx AttestTx() {
  UnsignedTx u;
  u.type = TxType::kAttest;
  std::copy_n(Hex(kPub1).begin(), 32, u.author.begin());
  u.nonce = 7;
  u.timestamp_ms = 1700000000000ULL;
  Attest a;
  a.digest.fill(0x11);
  a.note = "hi";
  u.body = EncodeBody(a);
  return u;
}

TEST(TxFormat, AttestVectorByteForByte) {
  UnsignedTx u = AttestTx();
  EXPECT_EQ(ToHex(u.Encode()), kAttestUnsignedHex);
  TransactionRef tx = SignTx(u, Key1());
  // Wire form = unsigned part || signature; id = SHA-256(unsigned part).
  EXPECT_EQ(ToHex(tx->bytes()), kAttestUnsignedHex + ToHex(tx->signature()));
  EXPECT_EQ(tx->id(), Sha256Digest(Hex(kAttestUnsignedHex)));
  // The signature covers the domain string then the unsigned part.
  Bytes msg = ToBytes(std::string_view("medchain/tx/v1\n"));
  Bytes unsigned_part = Hex(kAttestUnsignedHex);
  msg.insert(msg.end(), unsigned_part.begin(), unsigned_part.end());
  EXPECT_TRUE(crypto::Verify(tx->author(), msg, tx->signature()));
  EXPECT_TRUE(tx->VerifySignature());
}

TEST(TxFormat, DecodeRoundTripsAndRejectsNonCanonicalForms) {
  TransactionRef tx = SignTx(AttestTx(), Key1());
  auto back = Transaction::Decode(tx->bytes());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)->bytes(), tx->bytes());
  EXPECT_EQ((*back)->id(), tx->id());

  struct Case {
    const char* name;
    Bytes bytes;
    const char* expect;  // a piece of the error message
  };
  Bytes good = tx->bytes();
  std::vector<Case> cases;
  Bytes trailing = good;
  trailing.push_back(0);
  cases.push_back({"trailing byte", trailing, "trailing"});
  Bytes version = good;
  version[0] = 2;
  cases.push_back({"unknown version", version, "unknown version 2"});
  Bytes type = good;
  type[1] = 0x7f;
  cases.push_back({"unknown type", type, "unknown transaction type"});
  Bytes truncated(good.begin(), good.end() - 1);
  cases.push_back({"truncated signature", truncated, "truncated"});
  // Body length 35 written as a two-byte varint (0xa3 0x00).
  Bytes overlong(good.begin(), good.begin() + 51);
  overlong.push_back(0xa3);
  overlong.push_back(0x00);
  overlong.insert(overlong.end(), good.begin() + 52, good.end());
  cases.push_back({"overlong length", overlong, "non-canonical varint"});
  // A body longer than the limit.
  Bytes oversize(good.begin(), good.begin() + 51);
  Encoder e;
  e.Varint(kMaxBodySize + 1);
  oversize.insert(oversize.end(), e.buffer().begin(), e.buffer().end());
  cases.push_back({"oversize body", oversize, "exceeds limit"});
  for (const auto& c : cases) {
    auto r = Transaction::Decode(c.bytes);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.name << ": " << r.status().message();
  }
}

TEST(TxFormat, SignatureCoversEveryField) {
  TransactionRef tx = SignTx(AttestTx(), Key1());
  ASSERT_TRUE(tx->VerifySignature());
  const size_t signed_bytes = tx->bytes().size() - 64;
  size_t checked = 0;  // flips that still decode, so the signature alone must catch them
  for (size_t i = 0; i < tx->bytes().size(); ++i) {
    Bytes b = tx->bytes();
    b[i] ^= 0x01;
    auto r = Transaction::Decode(b);
    if (!r.ok()) continue;  // the flip made it malformed: also refused
    ++checked;
    EXPECT_FALSE((*r)->VerifySignature()) << "byte " << i;
  }
  // The author key, nonce and timestamp (32 + 8 + 8 bytes) take any value,
  // and so does every signature byte: at least those flips reach the check,
  // so this test cannot pass by every flip failing to decode.
  EXPECT_GE(checked, 48u + 64u) << "of " << signed_bytes << " signed bytes";
}

// docs/format.md, vector "block header".
TEST(BlockFormat, HeaderVectorByteForByte) {
  BlockHeader h;
  h.height = 1;
  h.prev_hash.fill(0xaa);
  h.timestamp_ms = 1700000000000ULL;
  std::copy_n(Hex(kPub1).begin(), 32, h.proposer.begin());
  h.term = 2;
  h.tx_count = 3;
  h.tx_root.fill(0xbb);
  h.log_size = 4;
  h.log_root.fill(0xcc);
  std::string expect = std::string("01") + "0000000000000001" + Rep("aa", 32) + "0000018bcfe56800" +
                       std::string(kPub1) + "0000000000000002" + "00000003" + Rep("bb", 32) +
                       "0000000000000004" + Rep("cc", 32);
  EXPECT_EQ(ToHex(h.Encode()), expect);
  EXPECT_EQ(h.ComputeHash(), Sha256Digest(Hex(expect)));
  auto back = BlockHeader::Decode(Hex(expect));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  Bytes bad = Hex(expect + "00");
  EXPECT_FALSE(BlockHeader::Decode(bad).ok());
}

// docs/format.md, vector "put_record body".
TEST(BodyFormat, PutRecordVectorAndRules) {
  PutRecord p;
  p.record_id = "r1";
  p.patient = "pat";
  p.type = "Observation";
  p.version = 1;
  p.ciphertext_hash.fill(0x01);
  p.ciphertext_size = 100;
  p.commitment.fill(0x02);
  p.recipients = {"org", "pat"};
  p.keys_hash.fill(0x03);
  std::string expect = std::string("02") + "7231" + "03" + "706174" + "0b" +
                       "4f62736572766174696f6e" + "00000001" + Rep("00", 32) + Rep("01", 32) +
                       "0000000000000064" + Rep("02", 32) + "02" + "03" + "6f7267" + "03" +
                       "706174" + Rep("03", 32);
  EXPECT_EQ(ToHex(EncodeBody(p)), expect);
  EXPECT_TRUE(DecodeBody<PutRecord>(Hex(expect), "put").ok());

  // Recipients out of order: not canonical.
  PutRecord unsorted = p;
  unsorted.recipients = {"pat", "org"};
  auto r = DecodeBody<PutRecord>(EncodeBody(unsorted), "put");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sorted"), std::string::npos);
  // Version 1 must not supersede anything.
  PutRecord sup = p;
  sup.supersedes_tx.fill(0x09);
  EXPECT_FALSE(DecodeBody<PutRecord>(EncodeBody(sup), "put").ok());
  // Ids are restricted.
  PutRecord badid = p;
  badid.record_id = "has space";
  EXPECT_FALSE(DecodeBody<PutRecord>(EncodeBody(badid), "put").ok());
}

TEST(BodyFormat, PatientsArePseudonymous) {
  RegisterParticipant r;
  r.id = "patient-1";
  r.role = Role::kPatient;
  r.display_name = "Peter Chalmers";
  auto d = DecodeBody<RegisterParticipant>(EncodeBody(r), "register");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("pseudonymous"), std::string::npos);
}

TEST(BodyFormat, ReadRequestNamesOneTarget) {
  ReadRecord r;
  r.purpose = "treatment";
  EXPECT_FALSE(DecodeBody<ReadRecord>(EncodeBody(r), "read").ok());  // nothing named
  r.record_id = "r1";
  EXPECT_TRUE(DecodeBody<ReadRecord>(EncodeBody(r), "read").ok());
  r.patient = "p";
  r.type = "Observation";
  EXPECT_FALSE(DecodeBody<ReadRecord>(EncodeBody(r), "read").ok());  // both named
}

TEST(SidecarFormat, RoundTripAndBinding) {
  Sidecar s;
  s.ciphertext = Bytes(40, 0x42);
  s.keys.push_back(WrappedKey{"r1", 1, "org", Bytes(kSealedKeySize, 0x01)});
  s.keys.push_back(WrappedKey{"r1", 1, "pat", Bytes(kSealedKeySize, 0x02)});
  auto back = Sidecar::Decode(s.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->keys, s.keys);

  PutRecord p;
  p.record_id = "r1";
  p.patient = "pat";
  p.type = "Observation";
  p.ciphertext_hash = Sha256Digest(s.ciphertext);
  p.ciphertext_size = s.ciphertext.size();
  p.recipients = {"org", "pat"};
  p.keys_hash = s.KeysHash();
  UnsignedTx u;
  u.type = TxType::kPutRecord;
  u.body = EncodeBody(p);
  auto tx = Transaction::FromParts(u, SignatureBytes{});
  EXPECT_TRUE(CheckSidecar(*tx, &s).ok());
  Sidecar tampered = s;
  tampered.ciphertext[0] ^= 1;
  EXPECT_FALSE(CheckSidecar(*tx, &tampered).ok());
  Sidecar swapped = s;
  std::swap(swapped.keys[0].sealed, swapped.keys[1].sealed);
  EXPECT_FALSE(CheckSidecar(*tx, &swapped).ok());
  EXPECT_FALSE(CheckSidecar(*tx, nullptr).ok());
}

}  // namespace
}  // namespace medchain::ledger
