// Copyright (c) medchain developers.
#include "medchain/ledger/transaction.h"

#include <array>
#include <optional>

#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"
#include "medchain/crypto/ed25519.h"

namespace medchain::ledger {

namespace {
struct TypeName {
  TxType type;
  std::string_view name;
};
constexpr std::array<TypeName, 12> kTypeNames = {{
    {TxType::kGenesis, "genesis"},
    {TxType::kRegisterParticipant, "register_participant"},
    {TxType::kUpdateParticipant, "update_participant"},
    {TxType::kPutRecord, "put_record"},
    {TxType::kEraseRecord, "erase_record"},
    {TxType::kGrant, "grant"},
    {TxType::kRevokeGrant, "revoke_grant"},
    {TxType::kReadRecord, "read_record"},
    {TxType::kAccessRefused, "access_refused"},
    {TxType::kReleaseKey, "release_key"},
    {TxType::kAttest, "attest"},
    {TxType::kMembership, "membership"},
}};
}  // namespace

std::string_view TxTypeName(TxType type) {
  for (const auto& t : kTypeNames) {
    if (t.type == type) return t.name;
  }
  return "unknown";
}

std::optional<TxType> TxTypeFromName(std::string_view name) {
  for (const auto& t : kTypeNames) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

bool IsKnownTxType(uint16_t type) {
  for (const auto& t : kTypeNames) {
    if (static_cast<uint16_t>(t.type) == type) return true;
  }
  return false;
}

Bytes UnsignedTx::Encode() const {
  Encoder e(64 + body.size());
  e.U8(kTxVersion).U16(static_cast<uint16_t>(type)).Fixed(author).U64(nonce).U64(timestamp_ms);
  e.Var(body);
  return e.Take();
}

Bytes UnsignedTx::SigningMessage() const {
  Encoder e;
  e.Fixed(AsBytes(kTxSigningDomain)).Fixed(Encode());
  return e.Take();
}

TransactionRef Transaction::FromParts(const UnsignedTx& tx, const SignatureBytes& sig) {
  std::shared_ptr<Transaction> t(new Transaction());
  t->m_type = tx.type;
  t->m_author = tx.author;
  t->m_nonce = tx.nonce;
  t->m_timestamp_ms = tx.timestamp_ms;
  t->m_body = tx.body;
  t->m_signature = sig;
  t->m_bytes = tx.Encode();
  t->m_unsigned_size = t->m_bytes.size();
  t->m_id = Sha256Digest(t->m_bytes);
  t->m_bytes.insert(t->m_bytes.end(), sig.begin(), sig.end());
  return t;
}

Result<TransactionRef> Transaction::Decode(ByteView bytes) {
  if (bytes.size() > kMaxTxSize) {
    return Status::InvalidArgument("transaction: " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit of " + std::to_string(kMaxTxSize));
  }
  std::shared_ptr<Transaction> t(new Transaction());
  Decoder d(bytes, "transaction");
  uint8_t version = d.U8("version");
  if (d.ok() && version != kTxVersion) {
    d.Fail("version", "unknown version " + std::to_string(version) + " (this node knows 1)");
  }
  uint16_t type = d.U16("type");
  if (d.ok() && !IsKnownTxType(type)) {
    d.Fail("type", "unknown transaction type " + std::to_string(type));
  }
  t->m_type = static_cast<TxType>(type);
  d.Fixed("author", t->m_author);
  t->m_nonce = d.U64("nonce");
  t->m_timestamp_ms = d.U64("timestamp_ms");
  t->m_body = d.Var("body", kMaxBodySize);
  t->m_unsigned_size = d.position();
  d.Fixed("signature", t->m_signature);
  MC_RETURN_IF_ERROR(d.Finish());
  t->m_bytes = ToBytes(bytes);
  t->m_id = Sha256Digest(ByteView(t->m_bytes).first(t->m_unsigned_size));
  return TransactionRef(std::move(t));
}

Bytes Transaction::SigningMessage() const {
  Encoder e(kTxSigningDomain.size() + m_unsigned_size);
  e.Fixed(AsBytes(kTxSigningDomain)).Fixed(ByteView(m_bytes).first(m_unsigned_size));
  return e.Take();
}

TransactionRef SignTx(const UnsignedTx& tx, const crypto::SigningKey& key) {
  crypto::Signature sig = key.Sign(tx.SigningMessage());
  return Transaction::FromParts(tx, sig);
}

bool Transaction::VerifySignature() const {
  if (m_type == TxType::kGenesis) return false;
  return crypto::Verify(m_author, SigningMessage(), m_signature);
}

}  // namespace medchain::ledger
