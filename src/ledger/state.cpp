// Copyright (c) medchain developers.
#include "medchain/ledger/state.h"

#include "codec_util.h"

namespace medchain::ledger {

using detail::ReadId;
using detail::ReadIdSet;
using detail::ReadOptionalId;
using detail::ReadText;
using detail::WriteStrings;

// ---- MemoryState ----

std::optional<Bytes> MemoryState::Get(std::string_view key) const {
  auto it = m_map.find(key);
  if (it == m_map.end()) return std::nullopt;
  return it->second;
}

void MemoryState::Scan(std::string_view prefix,
                       const std::function<bool(std::string_view, ByteView)>& fn) const {
  for (auto it = m_map.lower_bound(prefix); it != m_map.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!fn(it->first, it->second)) break;
  }
}

// ---- StateDelta ----

std::optional<Bytes> StateDelta::Get(std::string_view key) const {
  auto it = m_writes.find(key);
  if (it != m_writes.end()) return it->second;
  return m_base.Get(key);
}

void StateDelta::Scan(std::string_view prefix,
                      const std::function<bool(std::string_view, ByteView)>& fn) const {
  // Merge the base's keys with the writes, in order; writes win.
  std::vector<std::pair<std::string, Bytes>> base;
  m_base.Scan(prefix, [&](std::string_view k, ByteView v) {
    base.emplace_back(std::string(k), ToBytes(v));
    return true;
  });
  auto w = m_writes.lower_bound(prefix);
  auto w_in = [&] {
    return w != m_writes.end() && w->first.compare(0, prefix.size(), prefix) == 0;
  };
  size_t b = 0;
  while (b < base.size() || w_in()) {
    bool take_write = w_in() && (b >= base.size() || w->first <= base[b].first);
    if (take_write) {
      if (b < base.size() && w->first == base[b].first) ++b;
      if (w->second && !fn(w->first, *w->second)) return;
      ++w;
    } else {
      if (!fn(base[b].first, base[b].second)) return;
      ++b;
    }
  }
}

void StateDelta::ApplyTo(MemoryState& state) const {
  for (const auto& [k, v] : m_writes) {
    if (v)
      state.Put(k, *v);
    else
      state.Erase(k);
  }
}

// ---- Keys ----

namespace keys {
static std::string BE(uint64_t v, int bytes) {
  std::string s(static_cast<size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}
static std::string Raw(const std::array<uint8_t, 32>& a) {
  return std::string(AsString(a));
}

std::string Participant(std::string_view id) {
  return "p/" + std::string(id);
}
std::string SignKey(const PublicKey& key) {
  return "k/" + Raw(key);
}
std::string Nonce(const PublicKey& author, uint64_t nonce) {
  return "n/" + Raw(author) + BE(nonce, 8);
}
std::string RecordHead(std::string_view record_id) {
  return "r/" + std::string(record_id);
}
std::string RecordVersionPrefix(std::string_view record_id) {
  return "v/" + std::string(record_id) + std::string(1, '\0');
}
std::string RecordVersion(std::string_view record_id, uint32_t version) {
  return RecordVersionPrefix(record_id) + BE(version, 4);
}
std::string PatientRecordPrefix(std::string_view patient) {
  return "R/" + std::string(patient) + std::string(1, '\0');
}
std::string PatientRecord(std::string_view patient, std::string_view record_id) {
  return PatientRecordPrefix(patient) + std::string(record_id);
}
std::string Grant(const Hash& grant_id) {
  return "g/" + Raw(grant_id);
}
std::string PatientGrantPrefix(std::string_view patient) {
  return "G/" + std::string(patient) + std::string(1, '\0');
}
std::string PatientGrant(std::string_view patient, const Hash& grant_id) {
  return PatientGrantPrefix(patient) + Raw(grant_id);
}
std::string AuditPrefix(std::string_view patient) {
  return "a/" + std::string(patient) + std::string(1, '\0');
}
std::string Audit(std::string_view patient, uint64_t leaf_index) {
  return AuditPrefix(patient) + BE(leaf_index, 8);
}
}  // namespace keys

// ---- Typed values ----
// Each begins with a format version byte (1).

template <class T, class F>
static Result<T> DecodeValue(ByteView bytes, std::string_view what, F&& body) {
  T v;
  Decoder d(bytes, what);
  uint8_t version = d.U8("version");
  if (d.ok() && version != 1) d.Fail("version", "unknown version " + std::to_string(version));
  body(d, v);
  Status s = d.Finish();
  if (!s.ok()) return Status::Corruption(s.message());
  return v;
}

Bytes Participant::Encode() const {
  Encoder e;
  e.U8(1);
  RegisterParticipant r{id, role, organisation, sign_key, box_key, display_name, node};
  r.EncodeTo(e);
  e.Bool(suspended);
  WriteStrings(e, delegates);
  e.Varint(previous_box_keys.size());
  for (const auto& k : previous_box_keys) e.Fixed(k);
  e.U64(registered_height).Fixed(registered_tx);
  return e.Take();
}

Result<Participant> Participant::Decode(ByteView bytes) {
  return DecodeValue<Participant>(bytes, "participant", [](Decoder& d, Participant& p) {
    RegisterParticipant r;
    r.DecodeFrom(d);
    p.id = r.id;
    p.role = r.role;
    p.organisation = r.organisation;
    p.sign_key = r.sign_key;
    p.box_key = r.box_key;
    p.display_name = r.display_name;
    p.node = r.node;
    p.suspended = d.Bool("suspended");
    p.delegates = ReadIdSet(d, "delegates");
    uint64_t n = d.Count("previous_box_keys", kMaxListSize);
    p.previous_box_keys.resize(n);
    for (auto& k : p.previous_box_keys) d.Fixed("previous_box_keys", k);
    p.registered_height = d.U64("registered_height");
    p.registered_tx = d.FixedHash("registered_tx");
  });
}

Bytes RecordHead::Encode() const {
  Encoder e;
  e.U8(1).Str(record_id).Str(patient).Str(type).Str(custodian).U32(latest_version);
  e.Bool(erased).Fixed(erase_tx).U64(erased_height).U64(erased_time_ms).Str(erased_by);
  e.Str(erase_reason);
  return e.Take();
}

Result<RecordHead> RecordHead::Decode(ByteView bytes) {
  return DecodeValue<RecordHead>(bytes, "record", [](Decoder& d, RecordHead& r) {
    r.record_id = ReadId(d, "record_id");
    r.patient = ReadId(d, "patient");
    r.type = d.Str("type", kMaxTypeSize);
    r.custodian = ReadId(d, "custodian");
    r.latest_version = d.U32("latest_version");
    r.erased = d.Bool("erased");
    r.erase_tx = d.FixedHash("erase_tx");
    r.erased_height = d.U64("erased_height");
    r.erased_time_ms = d.U64("erased_time_ms");
    r.erased_by = ReadOptionalId(d, "erased_by");
    r.erase_reason = ReadText(d, "erase_reason");
  });
}

Bytes RecordVersion::Encode() const {
  Encoder e;
  e.U8(1).Str(record_id).U32(version).Str(author).Fixed(tx_id).Fixed(supersedes_tx);
  e.Fixed(ciphertext_hash).U64(ciphertext_size).Fixed(commitment).Fixed(keys_hash);
  WriteStrings(e, recipients);
  e.U64(height).U64(time_ms).U64(leaf_index);
  return e.Take();
}

Result<RecordVersion> RecordVersion::Decode(ByteView bytes) {
  return DecodeValue<RecordVersion>(bytes, "record version", [](Decoder& d, RecordVersion& r) {
    r.record_id = ReadId(d, "record_id");
    r.version = d.U32("version");
    r.author = ReadId(d, "author");
    r.tx_id = d.FixedHash("tx_id");
    r.supersedes_tx = d.FixedHash("supersedes_tx");
    r.ciphertext_hash = d.FixedHash("ciphertext_hash");
    r.ciphertext_size = d.U64("ciphertext_size");
    r.commitment = d.FixedHash("commitment");
    r.keys_hash = d.FixedHash("keys_hash");
    r.recipients = ReadIdSet(d, "recipients");
    r.height = d.U64("height");
    r.time_ms = d.U64("time_ms");
    r.leaf_index = d.U64("leaf_index");
  });
}

Bytes GrantState::Encode() const {
  Encoder e;
  e.U8(1).Fixed(id);
  grant.EncodeTo(e);
  e.Str(granted_by).U64(height).U64(time_ms).Bool(revoked).Fixed(revoke_tx);
  e.U64(revoked_time_ms).Str(revoked_by);
  return e.Take();
}

Result<GrantState> GrantState::Decode(ByteView bytes) {
  return DecodeValue<GrantState>(bytes, "grant", [](Decoder& d, GrantState& g) {
    g.id = d.FixedHash("id");
    g.grant.DecodeFrom(d);
    g.granted_by = ReadId(d, "granted_by");
    g.height = d.U64("height");
    g.time_ms = d.U64("time_ms");
    g.revoked = d.Bool("revoked");
    g.revoke_tx = d.FixedHash("revoke_tx");
    g.revoked_time_ms = d.U64("revoked_time_ms");
    g.revoked_by = ReadOptionalId(d, "revoked_by");
  });
}

Bytes AuditEntry::Encode() const {
  Encoder e;
  e.U8(1).U64(leaf_index).Fixed(tx_id).U16(static_cast<uint16_t>(type)).U64(height);
  e.U64(time_ms).Str(actor).Str(record_id).Str(purpose).U8(flags).Str(reason);
  return e.Take();
}

Result<AuditEntry> AuditEntry::Decode(ByteView bytes) {
  return DecodeValue<AuditEntry>(bytes, "audit entry", [](Decoder& d, AuditEntry& a) {
    a.leaf_index = d.U64("leaf_index");
    a.tx_id = d.FixedHash("tx_id");
    a.type = static_cast<TxType>(d.U16("type"));
    a.height = d.U64("height");
    a.time_ms = d.U64("time_ms");
    a.actor = d.Str("actor", kMaxIdSize);
    a.record_id = ReadOptionalId(d, "record_id");
    a.purpose = ReadText(d, "purpose");
    a.flags = d.U8("flags");
    a.reason = ReadText(d, "reason");
  });
}

// ---- StateView ----

template <class T>
static Result<std::optional<T>> GetTyped(const StateReader& r, const std::string& key) {
  auto raw = r.Get(key);
  if (!raw) return std::optional<T>();
  auto v = T::Decode(*raw);
  if (!v.ok()) return v.status();
  return std::optional<T>(std::move(*v));
}

Result<std::optional<Participant>> StateView::GetParticipant(std::string_view id) const {
  return GetTyped<Participant>(m_reader, keys::Participant(id));
}

Result<std::optional<Participant>> StateView::GetParticipantByKey(const PublicKey& key) const {
  auto id = m_reader.Get(keys::SignKey(key));
  if (!id) return std::optional<Participant>();
  auto p = GetParticipant(AsString(*id));
  if (!p.ok()) return p.status();
  if (!p->has_value()) {
    return Status::Corruption("key index names participant " + std::string(AsString(*id)) +
                              " which does not exist");
  }
  return p;
}

bool StateView::NonceUsed(const PublicKey& author, uint64_t nonce) const {
  return m_reader.Get(keys::Nonce(author, nonce)).has_value();
}

Result<std::optional<RecordHead>> StateView::GetRecord(std::string_view record_id) const {
  return GetTyped<RecordHead>(m_reader, keys::RecordHead(record_id));
}

Result<std::optional<RecordVersion>> StateView::GetRecordVersion(std::string_view record_id,
                                                                 uint32_t version) const {
  return GetTyped<RecordVersion>(m_reader, keys::RecordVersion(record_id, version));
}

Result<std::optional<GrantState>> StateView::GetGrant(const Hash& grant_id) const {
  return GetTyped<GrantState>(m_reader, keys::Grant(grant_id));
}

Result<std::vector<std::string>> StateView::PatientRecordIds(std::string_view patient) const {
  std::vector<std::string> out;
  std::string prefix = keys::PatientRecordPrefix(patient);
  m_reader.Scan(prefix, [&](std::string_view k, ByteView) {
    out.emplace_back(k.substr(prefix.size()));
    return true;
  });
  return out;
}

Result<std::vector<GrantState>> StateView::PatientGrants(std::string_view patient) const {
  std::vector<GrantState> out;
  std::string prefix = keys::PatientGrantPrefix(patient);
  Status status;
  m_reader.Scan(prefix, [&](std::string_view k, ByteView) {
    std::string_view raw = k.substr(prefix.size());
    Hash id{};
    if (raw.size() != id.size()) {
      status = Status::Corruption("malformed grant index key");
      return false;
    }
    std::copy(raw.begin(), raw.end(), id.begin());
    auto g = GetGrant(id);
    if (!g.ok() || !g->has_value()) {
      status = g.ok() ? Status::Corruption("grant index names a missing grant") : g.status();
      return false;
    }
    out.push_back(std::move(**g));
    return true;
  });
  if (!status.ok()) return status;
  return out;
}

Result<std::vector<AuditEntry>> StateView::PatientAudit(std::string_view patient) const {
  std::vector<AuditEntry> out;
  Status status;
  m_reader.Scan(keys::AuditPrefix(patient), [&](std::string_view, ByteView v) {
    auto a = AuditEntry::Decode(v);
    if (!a.ok()) {
      status = a.status();
      return false;
    }
    out.push_back(std::move(*a));
    return true;
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace medchain::ledger
