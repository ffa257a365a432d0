// Copyright (c) medchain developers.
// Transactions: the signed envelope every ledger change travels in.
//
// Wire form (docs/format.md, "Transaction"):
//
//   u8      version        = 1
//   u16     type           TxType
//   fixed32 author         Ed25519 public key of the signer
//   u64     nonce          unique per author (a replay is refused)
//   u64     timestamp_ms   author's clock, informational (block time rules)
//   bytes   body           type-specific canonical encoding, <= kMaxBodySize
//   fixed64 signature      Ed25519 over kTxSigningDomain || all bytes above
//
// The transaction id is SHA-256 of the unsigned part (all fields but the
// signature), so it is known before signing and cannot be changed by
// re-signing. The Merkle log leaf is the whole encoding, signature included.
//
// Transactions are immutable once built: decode once, hash once, share as
// std::shared_ptr<const Transaction> (after bitcoin's CTransaction).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain::crypto {
class SigningKey;
}

namespace medchain::ledger {

using PublicKey = std::array<uint8_t, 32>;
using SignatureBytes = std::array<uint8_t, 64>;

inline constexpr uint8_t kTxVersion = 1;
inline constexpr size_t kMaxBodySize = 64 * 1024;
inline constexpr std::string_view kTxSigningDomain = "medchain/tx/v1\n";

enum class TxType : uint16_t {
  kGenesis = 0,              // only in block 0, unsigned
  kRegisterParticipant = 1,  // organisation, practitioner, patient, auditor, node
  kUpdateParticipant = 2,    // rotate keys, suspend, reinstate, set delegates
  kPutRecord = 10,           // a new record or a new version of one
  kEraseRecord = 11,         // crypto-shredding of every version of a record
  kGrant = 20,               // patient grants a grantee a scope
  kRevokeGrant = 21,
  kReadRecord = 30,     // signed read request: commits an access event
  kAccessRefused = 31,  // a node records a read it refused before ordering
  kReleaseKey = 32,     // custodian wraps a data key after break-glass
  kAttest = 40,         // a signed statement anchoring a hash (notarisation)
  kMembership = 50,     // cluster membership change, recorded on the ledger
};

// Name used in JSON and logs, e.g. "put_record"; "unknown" for other values.
std::string_view TxTypeName(TxType type);
// Inverse of TxTypeName.
std::optional<TxType> TxTypeFromName(std::string_view name);
// True for the values listed in TxType.
bool IsKnownTxType(uint16_t type);

class Transaction;
using TransactionRef = std::shared_ptr<const Transaction>;

// The fields of a transaction before signing.
struct UnsignedTx {
  TxType type = TxType::kAttest;
  PublicKey author{};
  uint64_t nonce = 0;
  uint64_t timestamp_ms = 0;
  Bytes body;

  // Canonical encoding of the unsigned part.
  Bytes Encode() const;
  // kTxSigningDomain || Encode(): the message the author signs.
  Bytes SigningMessage() const;
};

class Transaction {
 public:
  // Builds from already-signed parts. Does not check the signature.
  static TransactionRef FromParts(const UnsignedTx& tx, const SignatureBytes& sig);

  // Strict decode of the wire form (size limits, version, known type, no
  // trailing bytes). Does not check the signature: see VerifySignature.
  static Result<TransactionRef> Decode(ByteView bytes);

  TxType type() const { return m_type; }
  const PublicKey& author() const { return m_author; }
  uint64_t nonce() const { return m_nonce; }
  uint64_t timestamp_ms() const { return m_timestamp_ms; }
  ByteView body() const { return m_body; }
  const SignatureBytes& signature() const { return m_signature; }

  // SHA-256 of the unsigned encoding.
  const Hash& id() const { return m_id; }
  // The full wire form, the Merkle leaf input.
  const Bytes& bytes() const { return m_bytes; }
  // kTxSigningDomain || unsigned encoding.
  Bytes SigningMessage() const;

  // Ed25519 check of the signature over SigningMessage() (genesis: never valid).
  bool VerifySignature() const;

 private:
  Transaction() = default;
  TxType m_type = TxType::kAttest;
  PublicKey m_author{};
  uint64_t m_nonce = 0;
  uint64_t m_timestamp_ms = 0;
  Bytes m_body;
  SignatureBytes m_signature{};
  size_t m_unsigned_size = 0;
  Hash m_id{};
  Bytes m_bytes;
};

// Signs `tx` with `key` (tx.author must be key.public_key()).
TransactionRef SignTx(const UnsignedTx& tx, const crypto::SigningKey& key);

// Upper bound of a transaction's wire size.
inline constexpr size_t kMaxTxSize = kMaxBodySize + 256;

}  // namespace medchain::ledger
