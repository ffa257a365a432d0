// Copyright (c) medchain developers.
// The ledger state: what the transactions so far have established
// (participants, records, grants, used nonces, audit index), as typed values
// over a sorted key-value view. The state machine reads a StateReader and
// writes a StateDelta; the store commits a delta with its block in one atomic
// batch, so state and chain never disagree.
//
// Keys (docs/format.md, "State keys"); ids never contain '\0':
//   p/<id>                        Participant
//   k/<sign key 32>               participant id that key currently belongs to
//   n/<author 32><nonce u64>      used nonce (empty value)
//   r/<record id>                 RecordHead
//   v/<record id>\0<version u32>  RecordVersion
//   R/<patient>\0<record id>      index: a patient's records
//   g/<grant id 32>               GrantState
//   G/<patient>\0<grant id 32>    index: a patient's grants
//   a/<patient>\0<leaf u64>       AuditEntry: a patient's audit trail
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "medchain/ledger/bodies.h"

namespace medchain::ledger {

class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual std::optional<Bytes> Get(std::string_view key) const = 0;
  // Calls fn(key, value) for keys starting with `prefix`, in byte order,
  // until fn returns false.
  virtual void Scan(std::string_view prefix,
                    const std::function<bool(std::string_view, ByteView)>& fn) const = 0;
};

// An in-memory sorted map; the state of unit tests and of offline tools.
class MemoryState : public StateReader {
 public:
  std::optional<Bytes> Get(std::string_view key) const override;
  void Scan(std::string_view prefix,
            const std::function<bool(std::string_view, ByteView)>& fn) const override;
  void Put(std::string key, Bytes value) { m_map[std::move(key)] = std::move(value); }
  void Erase(const std::string& key) { m_map.erase(key); }
  size_t size() const { return m_map.size(); }

 private:
  std::map<std::string, Bytes, std::less<>> m_map;
};

// Writes layered over a base reader; reads see the writes. Not thread-safe.
// REQUIRES: `base` must remain live while the delta is used.
class StateDelta : public StateReader {
 public:
  explicit StateDelta(const StateReader& base) : m_base(base) {}
  std::optional<Bytes> Get(std::string_view key) const override;
  void Scan(std::string_view prefix,
            const std::function<bool(std::string_view, ByteView)>& fn) const override;
  void Put(std::string key, Bytes value) { m_writes[std::move(key)] = std::move(value); }
  void Delete(std::string key) { m_writes[std::move(key)] = std::nullopt; }

  // nullopt value = delete.
  const std::map<std::string, std::optional<Bytes>, std::less<>>& writes() const {
    return m_writes;
  }
  // Applies the writes to a MemoryState.
  void ApplyTo(MemoryState& state) const;

 private:
  const StateReader& m_base;
  std::map<std::string, std::optional<Bytes>, std::less<>> m_writes;
};

// ---- Typed state values ----

struct Participant {
  std::string id;
  Role role = Role::kPatient;
  std::string organisation;
  PublicKey sign_key{};
  PublicKey box_key{};
  std::string display_name;
  std::optional<NodeInfo> node;
  bool suspended = false;
  std::vector<std::string> delegates;
  std::vector<PublicKey> previous_box_keys;  // oldest first
  uint64_t registered_height = 0;
  Hash registered_tx{};

  Bytes Encode() const;
  static Result<Participant> Decode(ByteView bytes);
};

struct RecordHead {
  std::string record_id;
  std::string patient;
  std::string type;
  std::string custodian;
  uint32_t latest_version = 0;
  bool erased = false;
  Hash erase_tx{};
  uint64_t erased_height = 0;
  uint64_t erased_time_ms = 0;
  std::string erased_by;
  std::string erase_reason;

  Bytes Encode() const;
  static Result<RecordHead> Decode(ByteView bytes);
};

struct RecordVersion {
  std::string record_id;
  uint32_t version = 0;
  std::string author;  // participant id of the writer (the custodian)
  Hash tx_id{};
  Hash supersedes_tx{};
  Hash ciphertext_hash{};
  uint64_t ciphertext_size = 0;
  Hash commitment{};
  Hash keys_hash{};
  std::vector<std::string> recipients;
  uint64_t height = 0;
  uint64_t time_ms = 0;
  uint64_t leaf_index = 0;

  Bytes Encode() const;
  static Result<RecordVersion> Decode(ByteView bytes);
};

struct GrantState {
  Hash id{};  // the kGrant transaction id
  Grant grant;
  std::string granted_by;  // the patient or a delegate
  uint64_t height = 0;
  uint64_t time_ms = 0;
  bool revoked = false;
  Hash revoke_tx{};
  uint64_t revoked_time_ms = 0;
  std::string revoked_by;

  Bytes Encode() const;
  static Result<GrantState> Decode(ByteView bytes);
  bool ActiveAt(uint64_t block_time_ms) const {
    return !revoked && block_time_ms < grant.expiry_ms;
  }
};

enum AuditFlags : uint8_t {
  kAuditRefused = 1,     // the read (or write) was refused
  kAuditBreakGlass = 2,  // emergency access without a grant
};

struct AuditEntry {
  uint64_t leaf_index = 0;
  Hash tx_id{};
  TxType type = TxType::kReadRecord;
  uint64_t height = 0;
  uint64_t time_ms = 0;
  std::string actor;  // participant id, or hex key when unknown
  std::string record_id;
  std::string purpose;  // reads: purpose; grants: purpose; erasure: reason
  uint8_t flags = 0;
  std::string reason;  // refusals and break-glass

  Bytes Encode() const;
  static Result<AuditEntry> Decode(ByteView bytes);
};

// Key builders (see the table at the top of this file).
namespace keys {
std::string Participant(std::string_view id);
std::string SignKey(const PublicKey& key);
std::string Nonce(const PublicKey& author, uint64_t nonce);
std::string RecordHead(std::string_view record_id);
std::string RecordVersion(std::string_view record_id, uint32_t version);
std::string RecordVersionPrefix(std::string_view record_id);
std::string PatientRecord(std::string_view patient, std::string_view record_id);
std::string PatientRecordPrefix(std::string_view patient);
std::string Grant(const Hash& grant_id);
std::string PatientGrant(std::string_view patient, const Hash& grant_id);
std::string PatientGrantPrefix(std::string_view patient);
std::string Audit(std::string_view patient, uint64_t leaf_index);
std::string AuditPrefix(std::string_view patient);
}  // namespace keys

// Typed reads over any StateReader. Corrupt values are reported as Corruption.
class StateView {
 public:
  explicit StateView(const StateReader& reader) : m_reader(reader) {}

  Result<std::optional<Participant>> GetParticipant(std::string_view id) const;
  Result<std::optional<Participant>> GetParticipantByKey(const PublicKey& sign_key) const;
  bool NonceUsed(const PublicKey& author, uint64_t nonce) const;
  Result<std::optional<RecordHead>> GetRecord(std::string_view record_id) const;
  Result<std::optional<RecordVersion>> GetRecordVersion(std::string_view record_id,
                                                        uint32_t version) const;
  Result<std::optional<GrantState>> GetGrant(const Hash& grant_id) const;
  Result<std::vector<std::string>> PatientRecordIds(std::string_view patient) const;
  Result<std::vector<GrantState>> PatientGrants(std::string_view patient) const;
  Result<std::vector<AuditEntry>> PatientAudit(std::string_view patient) const;

  const StateReader& reader() const { return m_reader; }

 private:
  const StateReader& m_reader;
};

}  // namespace medchain::ledger
