// Copyright (c) medchain developers.
#include "medchain/ledger/bodies.h"

#include <algorithm>

#include "codec_util.h"
#include "medchain/core/sha256.h"

namespace medchain::ledger {

using detail::IsZero;
using detail::ReadId;
using detail::ReadIdSet;
using detail::ReadOptionalId;
using detail::ReadText;
using detail::WriteStrings;

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdSize) return false;
  if (id[0] == '.' || id[0] == '-') return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kOrganisation:
      return "organisation";
    case Role::kPractitioner:
      return "practitioner";
    case Role::kPatient:
      return "patient";
    case Role::kAuditor:
      return "auditor";
    case Role::kNode:
      return "node";
  }
  return "unknown";
}

std::optional<Role> RoleFromName(std::string_view name) {
  for (Role r : {Role::kAdmin, Role::kOrganisation, Role::kPractitioner, Role::kPatient,
                 Role::kAuditor, Role::kNode}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

static Role ReadRole(Decoder& d, std::string_view field) {
  uint8_t r = d.U8(field);
  if (d.ok() && (r < 1 || r > 6)) d.Fail(field, "unknown role " + std::to_string(r));
  return static_cast<Role>(r);
}

// ---- RegisterParticipant ----

void RegisterParticipant::EncodeTo(Encoder& e) const {
  e.Str(id).U8(static_cast<uint8_t>(role)).Str(organisation).Fixed(sign_key).Fixed(box_key);
  e.Str(display_name).Bool(node.has_value());
  if (node) e.U64(node->raft_id).Str(node->raft_address).Str(node->api_url);
}

void RegisterParticipant::DecodeFrom(Decoder& d) {
  id = ReadId(d, "id");
  role = ReadRole(d, "role");
  organisation = ReadOptionalId(d, "organisation");
  d.Fixed("sign_key", sign_key);
  d.Fixed("box_key", box_key);
  display_name = ReadText(d, "display_name");
  bool has_node = d.Bool("node");
  if (has_node) {
    NodeInfo n;
    n.raft_id = d.U64("node.raft_id");
    n.raft_address = ReadText(d, "node.raft_address");
    n.api_url = ReadText(d, "node.api_url");
    node = std::move(n);
  }
  if (!d.ok()) return;
  bool needs_org = role == Role::kPractitioner || role == Role::kNode;
  if (needs_org && organisation.empty()) d.Fail("organisation", "required for this role");
  if (!needs_org && !organisation.empty()) d.Fail("organisation", "must be empty for this role");
  if (role == Role::kPatient && !display_name.empty()) {
    d.Fail("display_name", "patients are pseudonymous: no name on the ledger");
  }
  if ((role == Role::kNode) != has_node) d.Fail("node", "present exactly for role node");
  if (node && node->raft_id == 0) d.Fail("node.raft_id", "must not be zero");
}

// ---- UpdateParticipant ----

void UpdateParticipant::EncodeTo(Encoder& e) const {
  e.Str(id).U8(static_cast<uint8_t>(op)).Fixed(new_sign_key).Fixed(new_box_key);
  WriteStrings(e, delegates);
  e.Str(reason);
}

void UpdateParticipant::DecodeFrom(Decoder& d) {
  id = ReadId(d, "id");
  uint8_t o = d.U8("op");
  if (d.ok() && (o < 1 || o > 4)) d.Fail("op", "unknown update operation " + std::to_string(o));
  op = static_cast<UpdateOp>(o);
  d.Fixed("new_sign_key", new_sign_key);
  d.Fixed("new_box_key", new_box_key);
  delegates = ReadIdSet(d, "delegates");
  reason = ReadText(d, "reason");
  if (!d.ok()) return;
  bool rotate = op == UpdateOp::kRotateKeys;
  if (rotate == (IsZero(new_sign_key) || IsZero(new_box_key))) {
    if (rotate)
      d.Fail("new_sign_key", "key rotation needs both new keys");
    else
      d.Fail("new_sign_key", "keys must be zero unless rotating");
  }
  if (op != UpdateOp::kSetDelegates && !delegates.empty()) {
    d.Fail("delegates", "only for set_delegates");
  }
}

// ---- PutRecord ----

void PutRecord::EncodeTo(Encoder& e) const {
  e.Str(record_id).Str(patient).Str(type).U32(version).Fixed(supersedes_tx);
  e.Fixed(ciphertext_hash).U64(ciphertext_size).Fixed(commitment);
  WriteStrings(e, recipients);
  e.Fixed(keys_hash);
}

void PutRecord::DecodeFrom(Decoder& d) {
  record_id = ReadId(d, "record_id");
  patient = ReadId(d, "patient");
  type = d.Str("type", kMaxTypeSize);
  if (d.ok() && !IsValidId(type)) d.Fail("type", "not a valid type name");
  version = d.U32("version");
  supersedes_tx = d.FixedHash("supersedes_tx");
  ciphertext_hash = d.FixedHash("ciphertext_hash");
  ciphertext_size = d.U64("ciphertext_size");
  commitment = d.FixedHash("commitment");
  recipients = ReadIdSet(d, "recipients");
  keys_hash = d.FixedHash("keys_hash");
  if (!d.ok()) return;
  if (version == 0) d.Fail("version", "versions start at 1");
  if ((version == 1) != IsZero(supersedes_tx)) {
    d.Fail("supersedes_tx", "zero exactly for version 1");
  }
  if (ciphertext_size > kMaxCiphertextSize) d.Fail("ciphertext_size", "exceeds the limit");
  if (recipients.empty()) d.Fail("recipients", "the data key must be wrapped for someone");
}

// ---- EraseRecord ----

void EraseRecord::EncodeTo(Encoder& e) const {
  e.Str(record_id).Str(reason);
}
void EraseRecord::DecodeFrom(Decoder& d) {
  record_id = ReadId(d, "record_id");
  reason = ReadText(d, "reason");
}

// ---- Grant ----

void Grant::EncodeTo(Encoder& e) const {
  e.Str(patient).Str(grantee);
  WriteStrings(e, scope_types);
  WriteStrings(e, scope_records);
  e.Str(purpose).U64(expiry_ms);
  e.Varint(keys.size());
  for (const auto& k : keys) e.Str(k.record_id).U32(k.version);
  e.Fixed(keys_hash);
}

void Grant::DecodeFrom(Decoder& d) {
  patient = ReadId(d, "patient");
  grantee = ReadId(d, "grantee");
  uint64_t nt = d.Count("scope_types", kMaxListSize);
  for (uint64_t i = 0; i < nt && d.ok(); ++i) {
    std::string t = d.Str("scope_types", kMaxTypeSize);
    if (d.ok() && t != "*" && !IsValidId(t)) d.Fail("scope_types", "not a valid type: " + t);
    if (d.ok() && !scope_types.empty() && !(scope_types.back() < t)) {
      d.Fail("scope_types", "must be sorted and unique");
    }
    scope_types.push_back(std::move(t));
  }
  scope_records = ReadIdSet(d, "scope_records");
  purpose = ReadText(d, "purpose");
  expiry_ms = d.U64("expiry_ms");
  uint64_t nk = d.Count("keys", kMaxListSize);
  for (uint64_t i = 0; i < nk && d.ok(); ++i) {
    KeyRef k;
    k.record_id = ReadId(d, "keys.record_id");
    k.version = d.U32("keys.version");
    if (d.ok() && k.version == 0) d.Fail("keys.version", "versions start at 1");
    if (d.ok() && !keys.empty() && !(keys.back() < k)) d.Fail("keys", "must be sorted and unique");
    keys.push_back(std::move(k));
  }
  keys_hash = d.FixedHash("keys_hash");
  if (!d.ok()) return;
  if (scope_types.empty() && scope_records.empty()) d.Fail("scope", "a grant needs a scope");
  if (purpose.empty()) d.Fail("purpose", "a grant needs a purpose");
  if (expiry_ms == 0) d.Fail("expiry_ms", "a grant needs an expiry");
  if (patient == grantee) d.Fail("grantee", "a patient does not need a grant to their own records");
}

bool Grant::Covers(std::string_view record_id, std::string_view type) const {
  auto has = [](const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  return has(scope_types, "*") || has(scope_types, type) || has(scope_records, record_id);
}

// ---- RevokeGrant ----

void RevokeGrant::EncodeTo(Encoder& e) const {
  e.Fixed(grant_id).Str(reason);
}
void RevokeGrant::DecodeFrom(Decoder& d) {
  grant_id = d.FixedHash("grant_id");
  reason = ReadText(d, "reason");
}

// ---- ReadRecord ----

void ReadRecord::EncodeTo(Encoder& e) const {
  e.Str(record_id).U32(version).Str(patient).Str(type).Str(purpose).Bool(break_glass).Str(reason);
}

void ReadRecord::DecodeFrom(Decoder& d) {
  record_id = ReadOptionalId(d, "record_id");
  version = d.U32("version");
  patient = ReadOptionalId(d, "patient");
  type = d.Str("type", kMaxTypeSize);
  if (d.ok() && !type.empty() && !IsValidId(type)) d.Fail("type", "not a valid type name");
  purpose = ReadText(d, "purpose");
  break_glass = d.Bool("break_glass");
  reason = ReadText(d, "reason");
  if (!d.ok()) return;
  bool by_id = !record_id.empty();
  bool by_type = !patient.empty() && !type.empty();
  if (by_id == by_type || (by_id && (!patient.empty() || !type.empty()))) {
    d.Fail("record_id", "name either a record id or a patient and a type");
  }
  if (!by_id && version != 0) d.Fail("version", "only with a record id");
  if (!break_glass && !reason.empty()) d.Fail("reason", "only for break-glass");
}

// ---- AccessRefused ----

void AccessRefused::EncodeTo(Encoder& e) const {
  e.Fixed(request_hash).Fixed(claimed_author).Str(patient).Str(record_id).Str(reason);
}
void AccessRefused::DecodeFrom(Decoder& d) {
  request_hash = d.FixedHash("request_hash");
  d.Fixed("claimed_author", claimed_author);
  patient = ReadOptionalId(d, "patient");
  record_id = ReadOptionalId(d, "record_id");
  reason = ReadText(d, "reason");
  if (d.ok() && reason.empty()) d.Fail("reason", "required");
}

// ---- ReleaseKey ----

void ReleaseKey::EncodeTo(Encoder& e) const {
  e.Str(record_id).U32(version).Str(recipient).Fixed(access_tx).Fixed(keys_hash);
}
void ReleaseKey::DecodeFrom(Decoder& d) {
  record_id = ReadId(d, "record_id");
  version = d.U32("version");
  recipient = ReadId(d, "recipient");
  access_tx = d.FixedHash("access_tx");
  keys_hash = d.FixedHash("keys_hash");
  if (d.ok() && version == 0) d.Fail("version", "versions start at 1");
}

// ---- Attest ----

void Attest::EncodeTo(Encoder& e) const {
  e.Fixed(digest).Str(note);
}
void Attest::DecodeFrom(Decoder& d) {
  digest = d.FixedHash("digest");
  note = ReadText(d, "note");
}

// ---- Membership ----

void Membership::EncodeTo(Encoder& e) const {
  e.U8(static_cast<uint8_t>(op)).Str(node_id).U8(raft_role);
}
void Membership::DecodeFrom(Decoder& d) {
  uint8_t o = d.U8("op");
  if (d.ok() && (o < 1 || o > 3)) d.Fail("op", "unknown membership operation");
  op = static_cast<MembershipOp>(o);
  node_id = ReadId(d, "node_id");
  raft_role = d.U8("raft_role");
  if (d.ok() && raft_role > 2) d.Fail("raft_role", "0 voter, 1 standby, 2 spare");
  if (d.ok() && op == MembershipOp::kRemove && raft_role != 0) d.Fail("raft_role", "must be 0");
}

// ---- Genesis ----

void ChainParams::EncodeTo(Encoder& e) const {
  e.Bool(custodian_may_erase).U64(max_clock_skew_ms);
}
void ChainParams::DecodeFrom(Decoder& d) {
  custodian_may_erase = d.Bool("params.custodian_may_erase");
  max_clock_skew_ms = d.U64("params.max_clock_skew_ms");
}

void Genesis::EncodeTo(Encoder& e) const {
  e.Str(consortium).U64(time_ms);
  params.EncodeTo(e);
  e.Varint(participants.size());
  for (const auto& p : participants) p.EncodeTo(e);
}

void Genesis::DecodeFrom(Decoder& d) {
  consortium = ReadText(d, "consortium");
  time_ms = d.U64("time_ms");
  params.DecodeFrom(d);
  uint64_t n = d.Count("participants", kMaxParticipantsInGenesis);
  participants.resize(n);
  for (auto& p : participants) {
    if (!d.ok()) break;
    p.DecodeFrom(d);
  }
  if (!d.ok()) return;
  if (consortium.empty()) d.Fail("consortium", "required");
  size_t admins = 0;
  for (const auto& p : participants) admins += p.role == Role::kAdmin;
  if (admins == 0) d.Fail("participants", "genesis needs an admin");
}

// ---- Sidecar ----

static void EncodeKeys(Encoder& e, const std::vector<WrappedKey>& keys) {
  e.Varint(keys.size());
  for (const auto& k : keys) e.Str(k.record_id).U32(k.version).Str(k.recipient).Var(k.sealed);
}

Bytes Sidecar::Encode() const {
  Encoder e(ciphertext.size() + keys.size() * (kSealedKeySize + 48) + 16);
  e.U8(1).Var(ciphertext);
  EncodeKeys(e, keys);
  return e.Take();
}

Result<Sidecar> Sidecar::Decode(ByteView bytes) {
  Sidecar s;
  Decoder d(bytes, "sidecar");
  uint8_t version = d.U8("version");
  if (d.ok() && version != 1) d.Fail("version", "unknown version " + std::to_string(version));
  s.ciphertext = d.Var("ciphertext", kMaxCiphertextSize);
  uint64_t n = d.Count("keys", kMaxListSize);
  s.keys.resize(n);
  for (auto& k : s.keys) {
    if (!d.ok()) break;
    k.record_id = ReadId(d, "keys.record_id");
    k.version = d.U32("keys.version");
    k.recipient = ReadId(d, "keys.recipient");
    k.sealed = d.Var("keys.sealed", kSealedKeySize);
    if (d.ok() && k.sealed.size() != kSealedKeySize) {
      d.Fail("keys.sealed", "must be " + std::to_string(kSealedKeySize) + " bytes");
    }
  }
  MC_RETURN_IF_ERROR(d.Finish());
  return s;
}

Hash Sidecar::KeysHash() const {
  Encoder e;
  EncodeKeys(e, keys);
  return Sha256Digest(e.buffer());
}

bool TypeHasSidecar(TxType type) {
  return type == TxType::kPutRecord || type == TxType::kGrant || type == TxType::kReleaseKey;
}

Status CheckSidecar(const Transaction& tx, const Sidecar* sidecar) {
  if (!TypeHasSidecar(tx.type())) {
    if (sidecar != nullptr) {
      return Status::InvalidArgument(std::string(TxTypeName(tx.type())) +
                                     " transactions carry no sidecar");
    }
    return Status::Ok();
  }
  if (sidecar == nullptr) {
    return Status::InvalidArgument(std::string(TxTypeName(tx.type())) +
                                   " transactions need a sidecar (ciphertext and wrapped keys)");
  }
  const Sidecar& s = *sidecar;
  auto fail = [](std::string msg) { return Status::InvalidArgument("sidecar: " + msg); };
  Hash keys_hash = s.KeysHash();
  if (tx.type() == TxType::kPutRecord) {
    MC_ASSIGN_OR_RETURN(PutRecord put, DecodeBody<PutRecord>(tx.body(), "put_record"));
    if (s.ciphertext.size() != put.ciphertext_size)
      return fail("ciphertext size differs from the body");
    if (Sha256Digest(s.ciphertext) != put.ciphertext_hash)
      return fail("ciphertext hash differs from the body");
    if (keys_hash != put.keys_hash) return fail("wrapped-keys hash differs from the body");
    if (s.keys.size() != put.recipients.size()) return fail("one wrapped key per recipient needed");
    for (size_t i = 0; i < s.keys.size(); ++i) {
      const WrappedKey& k = s.keys[i];
      if (k.recipient != put.recipients[i] || k.record_id != put.record_id ||
          k.version != put.version) {
        return fail("wrapped key " + std::to_string(i) + " does not match recipient " +
                    put.recipients[i] + " of " + put.record_id + " v" +
                    std::to_string(put.version));
      }
    }
    return Status::Ok();
  }
  if (!s.ciphertext.empty()) return fail("only records carry a ciphertext");
  if (tx.type() == TxType::kGrant) {
    MC_ASSIGN_OR_RETURN(Grant g, DecodeBody<Grant>(tx.body(), "grant"));
    if (keys_hash != g.keys_hash) return fail("wrapped-keys hash differs from the body");
    if (s.keys.size() != g.keys.size()) return fail("one wrapped key per listed record version");
    for (size_t i = 0; i < s.keys.size(); ++i) {
      const WrappedKey& k = s.keys[i];
      if (k.recipient != g.grantee || k.record_id != g.keys[i].record_id ||
          k.version != g.keys[i].version) {
        return fail("wrapped key " + std::to_string(i) + " does not match the grant's key list");
      }
    }
    return Status::Ok();
  }
  // kReleaseKey
  MC_ASSIGN_OR_RETURN(ReleaseKey r, DecodeBody<ReleaseKey>(tx.body(), "release_key"));
  if (keys_hash != r.keys_hash) return fail("wrapped-keys hash differs from the body");
  if (s.keys.size() != 1 || s.keys[0].recipient != r.recipient ||
      s.keys[0].record_id != r.record_id || s.keys[0].version != r.version) {
    return fail("a key release carries exactly the one key it names");
  }
  return Status::Ok();
}

}  // namespace medchain::ledger
