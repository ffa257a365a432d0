// Copyright (c) medchain developers.
// Bodies of each transaction type, and the sidecar that travels with records
// and grants. Every body has one canonical encoding (docs/format.md): fields
// in the order declared here, lists that are sets sorted and unique, unused
// fields empty. Decode rejects anything else.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "medchain/core/codec.h"
#include "medchain/ledger/transaction.h"

namespace medchain::ledger {

// Bounds on sizes read from the wire.
inline constexpr size_t kMaxIdSize = 128;     // participant, record ids
inline constexpr size_t kMaxTypeSize = 64;    // record types (FHIR resource type)
inline constexpr size_t kMaxTextSize = 1024;  // purposes, reasons, names, URLs
inline constexpr size_t kMaxListSize = 4096;  // recipients, scopes, key refs
inline constexpr size_t kSealedKeySize = 80;  // 32-byte key + crypto_box_SEALBYTES
inline constexpr size_t kMaxParticipantsInGenesis = 1024;

// Ids: 1..128 of [A-Za-z0-9._:@-], not starting with '.' or '-'.
bool IsValidId(std::string_view id);

enum class Role : uint8_t {
  kAdmin = 1,         // consortium administrator (genesis only)
  kOrganisation = 2,  // hospital, clinic, lab, insurer
  kPractitioner = 3,  // belongs to an organisation
  kPatient = 4,       // pseudonymous
  kAuditor = 5,       // reads the audit trail, never records
  kNode = 6,          // a medchaind node: signs blocks and checkpoints
};
std::string_view RoleName(Role role);
std::optional<Role> RoleFromName(std::string_view name);

struct NodeInfo {
  uint64_t raft_id = 0;      // non-zero, unique
  std::string raft_address;  // host:port of the Raft transport
  std::string api_url;       // http://host:port of the node's API
  bool operator==(const NodeInfo&) const = default;
};

struct RegisterParticipant {
  std::string id;
  Role role = Role::kPatient;
  std::string organisation;  // practitioners and nodes: their organisation's id
  PublicKey sign_key{};
  PublicKey box_key{};           // X25519 public key that data keys are wrapped for
  std::string display_name;      // organisations, practitioners; must be empty for patients
  std::optional<NodeInfo> node;  // present exactly when role == kNode

  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
  bool operator==(const RegisterParticipant&) const = default;
};

enum class UpdateOp : uint8_t {
  kRotateKeys = 1,  // new sign_key and box_key
  kSuspend = 2,     // the participant may sign nothing until reinstated
  kReinstate = 3,
  kSetDelegates = 4,  // patients: who may grant and revoke on their behalf
};

struct UpdateParticipant {
  std::string id;
  UpdateOp op = UpdateOp::kRotateKeys;
  PublicKey new_sign_key{};            // kRotateKeys only, else zero
  PublicKey new_box_key{};             // kRotateKeys only, else zero
  std::vector<std::string> delegates;  // kSetDelegates only; sorted, unique
  std::string reason;                  // kSuspend / kReinstate, free text

  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct PutRecord {
  std::string record_id;
  std::string patient;
  std::string type;        // e.g. FHIR resource type "Observation"
  uint32_t version = 1;    // 1 for a new record, n+1 supersedes n
  Hash supersedes_tx{};    // id of the transaction of version-1; zero for v1
  Hash ciphertext_hash{};  // SHA-256 of the sidecar ciphertext
  uint64_t ciphertext_size = 0;
  Hash commitment{};  // SHA-256(kCommitDomain || salt || plaintext); salt is in the ciphertext
  std::vector<std::string> recipients;  // sorted, unique; the data key is wrapped for each
  Hash keys_hash{};                     // SHA-256 of the sidecar's encoded key list

  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct EraseRecord {
  std::string record_id;
  std::string reason;
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct KeyRef {
  std::string record_id;
  uint32_t version = 0;
  auto operator<=>(const KeyRef&) const = default;
};

struct Grant {
  std::string patient;
  std::string grantee;
  std::vector<std::string> scope_types;    // sorted, unique; "*" = every type
  std::vector<std::string> scope_records;  // sorted, unique record ids
  std::string purpose;
  uint64_t expiry_ms = 0;    // block time after which it lapses; required
  std::vector<KeyRef> keys;  // sorted, unique: versions wrapped for the grantee
  Hash keys_hash{};          // SHA-256 of the sidecar's encoded key list

  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
  // Whether a record of `type` with id `record_id` falls in the scope.
  bool Covers(std::string_view record_id, std::string_view type) const;
};

struct RevokeGrant {
  Hash grant_id{};  // id of the kGrant transaction
  std::string reason;
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct ReadRecord {
  std::string record_id;  // either a record id ...
  uint32_t version = 0;   // ... and a version (0 = latest),
  std::string patient;    // ... or a patient and a type: every current record of that type
  std::string type;
  std::string purpose;  // required
  bool break_glass = false;
  std::string reason;  // required for break-glass

  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

// Written by a node about a read request it refused before ordering (bad
// signature, replayed nonce): the claims are as the request stated them.
struct AccessRefused {
  Hash request_hash{};  // SHA-256 of the refused request's bytes
  PublicKey claimed_author{};
  std::string patient;
  std::string record_id;
  std::string reason;
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct ReleaseKey {
  std::string record_id;
  uint32_t version = 0;
  std::string recipient;
  Hash access_tx{};  // the break-glass read this answers
  Hash keys_hash{};
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct Attest {
  Hash digest{};
  std::string note;
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

enum class MembershipOp : uint8_t { kAdd = 1, kRemove = 2, kAssign = 3 };
struct Membership {
  MembershipOp op = MembershipOp::kAdd;
  std::string node_id;    // participant id of the node (role kNode)
  uint8_t raft_role = 0;  // kAdd/kAssign: 0 voter, 1 standby, 2 spare
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct ChainParams {
  bool custodian_may_erase = true;              // besides the patient
  uint64_t max_clock_skew_ms = 10 * 60 * 1000;  // tx timestamp vs block time, informational
  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

struct Genesis {
  std::string consortium;
  uint64_t time_ms = 0;
  ChainParams params;
  std::vector<RegisterParticipant> participants;  // the admin, founding organisations, nodes

  void EncodeTo(Encoder& e) const;
  void DecodeFrom(Decoder& d);
};

// Decodes a body of a known type; `what` names it in errors.
template <class Body>
Result<Body> DecodeBody(ByteView bytes, std::string_view what) {
  Body b;
  Decoder d(bytes, what);
  b.DecodeFrom(d);
  MC_RETURN_IF_ERROR(d.Finish());
  return b;
}
template <class Body>
Bytes EncodeBody(const Body& b) {
  Encoder e;
  b.EncodeTo(e);
  return e.Take();
}

// ---- Sidecar: ciphertext and wrapped keys, stored beside the ledger ----

struct WrappedKey {
  std::string record_id;
  uint32_t version = 0;
  std::string recipient;
  Bytes sealed;  // kSealedKeySize bytes: crypto_box_seal of the 32-byte data key
  bool operator==(const WrappedKey&) const = default;
};

inline constexpr size_t kMaxCiphertextSize = 8 * 1024 * 1024;

struct Sidecar {
  Bytes ciphertext;  // records only: nonce(24) || XChaCha20-Poly1305(data key)
  std::vector<WrappedKey> keys;

  Bytes Encode() const;
  static Result<Sidecar> Decode(ByteView bytes);
  // SHA-256 of the canonical encoding of `keys` alone (what bodies commit to).
  Hash KeysHash() const;
};

// Checks that `sidecar` is exactly what the body of `tx` commits to (hashes,
// recipients, key refs, sizes). Types without a sidecar require none.
Status CheckSidecar(const Transaction& tx, const Sidecar* sidecar);

// Whether transactions of this type carry a sidecar.
bool TypeHasSidecar(TxType type);

}  // namespace medchain::ledger
