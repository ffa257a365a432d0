// Copyright (c) medchain developers.
#include "medchain/ledger/apply.h"

#include <algorithm>
#include <map>
#include <set>

#include "codec_util.h"
#include "medchain/access/policy.h"
#include "medchain/core/merkle.h"

namespace medchain::ledger {

std::string_view TxCodeName(TxCode code) {
  switch (code) {
    case TxCode::kOk:
      return "ok";
    case TxCode::kInvalid:
      return "invalid";
    case TxCode::kRefused:
      return "refused";
  }
  return "invalid";
}

Bytes TxResult::Encode() const {
  Encoder e;
  e.U8(1).U8(static_cast<uint8_t>(code)).Str(reason).Bool(break_glass).Varint(records.size());
  for (const auto& r : records) e.Str(r.record_id).U32(r.version);
  return e.Take();
}

Result<TxResult> TxResult::Decode(ByteView bytes) {
  TxResult r;
  Decoder d(bytes, "tx result");
  uint8_t version = d.U8("version");
  if (d.ok() && version != 1) d.Fail("version", "unknown version");
  uint8_t code = d.U8("code");
  if (d.ok() && code > 2) d.Fail("code", "unknown code");
  r.code = static_cast<TxCode>(code);
  r.reason = d.Str("reason", 4 * kMaxTextSize);
  r.break_glass = d.Bool("break_glass");
  uint64_t n = d.Count("records", kMaxListSize);
  r.records.resize(n);
  for (auto& k : r.records) {
    k.record_id = d.Str("records.record_id", kMaxIdSize);
    k.version = d.U32("records.version");
  }
  Status s = d.Finish();
  if (!s.ok()) return Status::Corruption(s.message());
  return r;
}

namespace {

TxResult Invalid(std::string reason) {
  return TxResult{TxCode::kInvalid, std::move(reason), false, {}};
}
TxResult Refused(std::string reason) {
  return TxResult{TxCode::kRefused, std::move(reason), false, {}};
}
TxResult Ok() {
  return TxResult{};
}

access::SubjectRole ToSubjectRole(Role r) {
  switch (r) {
    case Role::kAdmin:
      return access::SubjectRole::kAdmin;
    case Role::kOrganisation:
      return access::SubjectRole::kOrganisation;
    case Role::kPractitioner:
      return access::SubjectRole::kPractitioner;
    case Role::kPatient:
      return access::SubjectRole::kPatient;
    case Role::kAuditor:
      return access::SubjectRole::kAuditor;
    case Role::kNode:
      return access::SubjectRole::kNode;
  }
  return access::SubjectRole::kPatient;
}

access::GrantFacts ToGrantFacts(const GrantState& g) {
  return access::GrantFacts{g.grant.grantee, g.grant.scope_types, g.grant.scope_records,
                            g.grant.expiry_ms, g.revoked};
}

// Applies one block's transactions in order against a delta.
class Applier {
 public:
  Applier(const BlockContext& ctx, StateDelta& delta) : m_ctx(ctx), m_delta(delta), m_view(delta) {}

  Result<TxResult> Apply(const Transaction& tx, bool signature_ok, uint64_t leaf) {
    m_tx = &tx;
    m_leaf = leaf;
    if (tx.type() == TxType::kGenesis)
      return Invalid("a genesis transaction is only valid in block 0");
    if (!signature_ok) return Invalid("the signature does not verify for the author key");
    if (m_view.NonceUsed(tx.author(), tx.nonce())) {
      return Invalid("nonce " + std::to_string(tx.nonce()) + " was already used by this author");
    }
    m_delta.Put(keys::Nonce(tx.author(), tx.nonce()), {});
    MC_ASSIGN_OR_RETURN(m_author, Author(tx.author()));
    // Registrations and updates change participants: forget what was cached.
    if (tx.type() == TxType::kRegisterParticipant || tx.type() == TxType::kUpdateParticipant) {
      m_authors.clear();
    }

    switch (tx.type()) {
      case TxType::kRegisterParticipant:
        return Register();
      case TxType::kReadRecord:
        return Read();
      default:
        break;
    }
    MC_ASSIGN_OR_RETURN(AuthorCheck standing, CheckAuthor(m_view, tx));
    if (!standing.may_act()) return Invalid(standing.reason);
    switch (tx.type()) {
      case TxType::kUpdateParticipant:
        return Update();
      case TxType::kPutRecord:
        return Put();
      case TxType::kEraseRecord:
        return Erase();
      case TxType::kGrant:
        return GrantAccess();
      case TxType::kRevokeGrant:
        return Revoke();
      case TxType::kAccessRefused:
        return AccessRefusedTx();
      case TxType::kReleaseKey:
        return Release();
      case TxType::kAttest:
        return AttestTx();
      case TxType::kMembership:
        return MembershipTx();
      default:
        return Invalid("unknown transaction type");
    }
  }

 private:
  template <class Body>
  std::optional<Body> Decode(TxResult& bad) {
    auto b = DecodeBody<Body>(m_tx->body(), TxTypeName(m_tx->type()));
    if (!b.ok()) {
      bad = Invalid("malformed body: " + b.status().message());
      return std::nullopt;
    }
    return std::move(*b);
  }

  void PutParticipant(const Participant& p) { m_delta.Put(keys::Participant(p.id), p.Encode()); }

  // The organisation a participant writes records for: itself for an
  // organisation, its organisation for a practitioner, itself otherwise.
  Result<std::string> OrgOf(std::string_view id) {
    MC_ASSIGN_OR_RETURN(auto p, m_view.GetParticipant(id));
    if (!p) return std::string(id);
    if (p->role == Role::kPractitioner) return p->organisation;
    return p->id;
  }

  void AddAudit(std::string_view patient, std::string_view record_id, std::string purpose,
                uint8_t flags, std::string reason) {
    if (patient.empty()) return;
    AuditEntry a;
    a.leaf_index = m_leaf;
    a.tx_id = m_tx->id();
    a.type = m_tx->type();
    a.height = m_ctx.height;
    a.time_ms = m_ctx.time_ms;
    a.actor = m_author ? m_author->id : "key:" + ToHex(m_tx->author());
    a.record_id = std::string(record_id);
    a.purpose = std::move(purpose);
    a.flags = flags;
    a.reason = std::move(reason);
    m_delta.Put(keys::Audit(patient, m_leaf), a.Encode());
  }

  Result<TxResult> Register() {
    TxResult bad;
    auto r = Decode<RegisterParticipant>(bad);
    if (!r) return bad;
    bool self_patient = !m_author && r->role == Role::kPatient && r->sign_key == m_tx->author();
    if (!m_author && !self_patient) {
      return Invalid("the author key belongs to no registered participant");
    }
    if (m_author && m_author->suspended)
      return Invalid("the author " + m_author->id + " is suspended");
    MC_ASSIGN_OR_RETURN(auto existing, m_view.GetParticipant(r->id));
    if (existing) return Invalid("participant id " + r->id + " is already registered");
    if (m_delta.Get(keys::SignKey(r->sign_key))) {
      return Invalid("the signing key is already registered to another participant");
    }
    const Role by = m_author ? m_author->role : Role::kPatient;
    switch (r->role) {
      case Role::kAdmin:
        return Invalid("admins are only created by the genesis");
      case Role::kOrganisation:
      case Role::kAuditor:
        if (by != Role::kAdmin) return Invalid("only the consortium admin registers this role");
        break;
      case Role::kNode:
      case Role::kPractitioner: {
        if (r->role == Role::kNode && by != Role::kAdmin) {
          return Invalid("only the consortium admin registers nodes");
        }
        if (r->role == Role::kPractitioner &&
            (by != Role::kOrganisation || m_author->id != r->organisation)) {
          return Invalid("a practitioner is registered by their own organisation");
        }
        MC_ASSIGN_OR_RETURN(auto org, m_view.GetParticipant(r->organisation));
        if (!org || org->role != Role::kOrganisation) {
          return Invalid("organisation " + r->organisation + " is not registered");
        }
        if (org->suspended) return Invalid("organisation " + r->organisation + " is suspended");
        break;
      }
      case Role::kPatient:
        if (!self_patient && by != Role::kOrganisation) {
          return Invalid("a patient is registered by an organisation or by themselves");
        }
        break;
    }
    Participant p;
    p.id = r->id;
    p.role = r->role;
    p.organisation = r->organisation;
    p.sign_key = r->sign_key;
    p.box_key = r->box_key;
    p.display_name = r->display_name;
    p.node = r->node;
    p.registered_height = m_ctx.height;
    p.registered_tx = m_tx->id();
    PutParticipant(p);
    m_delta.Put(keys::SignKey(p.sign_key), ToBytes(p.id));
    return Ok();
  }

  Result<TxResult> Update() {
    TxResult bad;
    auto u = Decode<UpdateParticipant>(bad);
    if (!u) return bad;
    MC_ASSIGN_OR_RETURN(auto target, m_view.GetParticipant(u->id));
    if (!target) return Invalid("participant " + u->id + " is not registered");
    const Participant& a = *m_author;
    const bool is_self = a.id == target->id;
    const bool is_admin = a.role == Role::kAdmin;
    const bool is_own_org = a.role == Role::kOrganisation &&
                            (target->role == Role::kPractitioner || target->role == Role::kNode) &&
                            target->organisation == a.id;
    switch (u->op) {
      case UpdateOp::kRotateKeys: {
        bool allowed = is_self || is_own_org || (is_admin && target->role != Role::kPatient);
        if (!allowed) return Invalid(a.id + " may not rotate the keys of " + target->id);
        if (m_delta.Get(keys::SignKey(u->new_sign_key))) {
          return Invalid("the new signing key is already registered");
        }
        m_delta.Delete(keys::SignKey(target->sign_key));
        m_delta.Put(keys::SignKey(u->new_sign_key), ToBytes(target->id));
        if (u->new_box_key != target->box_key) target->previous_box_keys.push_back(target->box_key);
        target->sign_key = u->new_sign_key;
        target->box_key = u->new_box_key;
        break;
      }
      case UpdateOp::kSuspend:
      case UpdateOp::kReinstate: {
        if (!(is_admin || is_own_org) || is_self) {
          return Invalid(a.id + " may not suspend or reinstate " + target->id);
        }
        if (target->role == Role::kAdmin) return Invalid("the admin cannot be suspended");
        bool suspend = u->op == UpdateOp::kSuspend;
        if (target->suspended == suspend) {
          return Invalid(target->id + (suspend ? " is already suspended" : " is not suspended"));
        }
        target->suspended = suspend;
        break;
      }
      case UpdateOp::kSetDelegates: {
        if (target->role != Role::kPatient || !is_self) {
          return Invalid("only a patient names their own delegates");
        }
        for (const auto& d : u->delegates) {
          MC_ASSIGN_OR_RETURN(auto dp, m_view.GetParticipant(d));
          if (!dp) return Invalid("delegate " + d + " is not registered");
          if (d == target->id) return Invalid("a patient cannot be their own delegate");
        }
        target->delegates = u->delegates;
        break;
      }
    }
    PutParticipant(*target);
    return Ok();
  }

  // Whether the author may act for the patient (the patient or a named delegate).
  Result<bool> ActsForPatient(const std::string& patient_id, Participant* patient_out) {
    MC_ASSIGN_OR_RETURN(auto patient, m_view.GetParticipant(patient_id));
    if (!patient || patient->role != Role::kPatient) return false;
    if (patient_out) *patient_out = *patient;
    if (m_author->id == patient->id) return true;
    return std::find(patient->delegates.begin(), patient->delegates.end(), m_author->id) !=
           patient->delegates.end();
  }

  Result<TxResult> Put() {
    TxResult bad;
    auto p = Decode<PutRecord>(bad);
    if (!p) return bad;
    const Participant& a = *m_author;
    if (a.role != Role::kOrganisation && a.role != Role::kPractitioner &&
        a.role != Role::kPatient) {
      return Invalid("role " + std::string(RoleName(a.role)) + " may not write records");
    }
    if (a.role == Role::kPatient && a.id != p->patient) {
      return Invalid("a patient writes records only for themselves");
    }
    MC_ASSIGN_OR_RETURN(auto patient, m_view.GetParticipant(p->patient));
    if (!patient || patient->role != Role::kPatient) {
      return Invalid("patient " + p->patient + " is not registered");
    }
    MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(p->record_id));
    std::string custodian = a.id;
    if (p->version == 1) {
      if (head)
        return Invalid("record " + p->record_id + " already exists; write version " +
                       std::to_string(head->latest_version + 1));
    } else {
      if (!head) return Invalid("record " + p->record_id + " does not exist; start at version 1");
      if (head->erased) return Invalid("record " + p->record_id + " was erased");
      if (head->latest_version + 1 != p->version) {
        return Invalid("record " + p->record_id + " is at version " +
                       std::to_string(head->latest_version) + "; the next is " +
                       std::to_string(head->latest_version + 1));
      }
      if (head->patient != p->patient) return Invalid("a new version cannot change the patient");
      if (head->type != p->type) return Invalid("a new version cannot change the record type");
      MC_ASSIGN_OR_RETURN(auto prev, m_view.GetRecordVersion(p->record_id, head->latest_version));
      if (!prev) return Status::Corruption("record " + p->record_id + " lacks its latest version");
      if (prev->tx_id != p->supersedes_tx) {
        return Invalid("supersedes_tx is not the transaction of version " +
                       std::to_string(head->latest_version));
      }
      MC_ASSIGN_OR_RETURN(std::string author_org, OrgOf(a.id));
      MC_ASSIGN_OR_RETURN(std::string custodian_org, OrgOf(head->custodian));
      if (author_org != custodian_org) {
        return Invalid("only the custodian " + head->custodian +
                       " (or its organisation) may write new versions");
      }
      custodian = head->custodian;
    }
    // The data key must be wrapped for the patient, the writer, the custodian,
    // the patient's delegates and every active grantee whose grant covers the
    // record.
    std::set<std::string> required = {p->patient, a.id, custodian};
    // The patient's delegates act for the patient: they need the key too.
    for (const auto& d : patient->delegates) required.insert(d);
    MC_ASSIGN_OR_RETURN(auto grants, m_view.PatientGrants(p->patient));
    for (const auto& g : grants) {
      if (g.ActiveAt(m_ctx.time_ms) && g.grant.Covers(p->record_id, p->type)) {
        MC_ASSIGN_OR_RETURN(auto grantee, m_view.GetParticipant(g.grant.grantee));
        if (grantee && !grantee->suspended) required.insert(g.grant.grantee);
      }
    }
    for (const auto& r : required) {
      if (!std::binary_search(p->recipients.begin(), p->recipients.end(), r)) {
        return Invalid("the data key is not wrapped for " + r +
                       " (patient, custodian and every active grantee in scope need it)");
      }
    }
    for (const auto& r : p->recipients) {
      MC_ASSIGN_OR_RETURN(auto rp, m_view.GetParticipant(r));
      if (!rp) return Invalid("recipient " + r + " is not registered");
    }
    RecordHead h = head.value_or(RecordHead{});
    h.record_id = p->record_id;
    h.patient = p->patient;
    h.type = p->type;
    h.custodian = custodian;
    h.latest_version = p->version;
    m_delta.Put(keys::RecordHead(h.record_id), h.Encode());
    RecordVersion v;
    v.record_id = p->record_id;
    v.version = p->version;
    v.author = a.id;
    v.tx_id = m_tx->id();
    v.supersedes_tx = p->supersedes_tx;
    v.ciphertext_hash = p->ciphertext_hash;
    v.ciphertext_size = p->ciphertext_size;
    v.commitment = p->commitment;
    v.keys_hash = p->keys_hash;
    v.recipients = p->recipients;
    v.height = m_ctx.height;
    v.time_ms = m_ctx.time_ms;
    v.leaf_index = m_leaf;
    m_delta.Put(keys::RecordVersion(v.record_id, v.version), v.Encode());
    if (p->version == 1) m_delta.Put(keys::PatientRecord(p->patient, p->record_id), {});
    AddAudit(p->patient, p->record_id, "write v" + std::to_string(p->version) + " " + p->type, 0,
             "");
    return Ok();
  }

  Result<TxResult> Erase() {
    TxResult bad;
    auto e = Decode<EraseRecord>(bad);
    if (!e) return bad;
    MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(e->record_id));
    if (!head) return Invalid("record " + e->record_id + " does not exist");
    if (head->erased) return Invalid("record " + e->record_id + " is already erased");
    MC_ASSIGN_OR_RETURN(bool for_patient, ActsForPatient(head->patient, nullptr));
    bool allowed = for_patient;
    if (!allowed && m_ctx.params.custodian_may_erase) {
      MC_ASSIGN_OR_RETURN(std::string author_org, OrgOf(m_author->id));
      MC_ASSIGN_OR_RETURN(std::string custodian_org, OrgOf(head->custodian));
      allowed = author_org == custodian_org && m_author->role != Role::kPatient;
    }
    if (!allowed) return Invalid(m_author->id + " may not erase record " + e->record_id);
    head->erased = true;
    head->erase_tx = m_tx->id();
    head->erased_height = m_ctx.height;
    head->erased_time_ms = m_ctx.time_ms;
    head->erased_by = m_author->id;
    head->erase_reason = e->reason;
    m_delta.Put(keys::RecordHead(head->record_id), head->Encode());
    AddAudit(head->patient, head->record_id, e->reason, 0, "erased");
    return Ok();
  }

  Result<TxResult> GrantAccess() {
    TxResult bad;
    auto g = Decode<Grant>(bad);
    if (!g) return bad;
    MC_ASSIGN_OR_RETURN(bool for_patient, ActsForPatient(g->patient, nullptr));
    if (!for_patient) {
      return Invalid("only patient " + g->patient + " or a delegate they named may grant access");
    }
    MC_ASSIGN_OR_RETURN(auto grantee, m_view.GetParticipant(g->grantee));
    if (!grantee) return Invalid("grantee " + g->grantee + " is not registered");
    if (grantee->suspended) return Invalid("grantee " + g->grantee + " is suspended");
    if (g->expiry_ms <= m_ctx.time_ms)
      return Invalid("the grant's expiry is not after the block time");
    // The grant must carry the grantee's wrapped key for every current version
    // of every record in scope, and nothing else.
    std::set<KeyRef> needed;
    MC_ASSIGN_OR_RETURN(auto ids, m_view.PatientRecordIds(g->patient));
    for (const auto& id : ids) {
      MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(id));
      if (!head) return Status::Corruption("patient index names missing record " + id);
      if (head->erased || !g->Covers(head->record_id, head->type)) continue;
      for (uint32_t v = 1; v <= head->latest_version; ++v) needed.insert(KeyRef{id, v});
    }
    std::set<KeyRef> given(g->keys.begin(), g->keys.end());
    for (const auto& k : needed) {
      if (!given.count(k)) {
        return Invalid("the grant lacks the wrapped key of record " + k.record_id + " v" +
                       std::to_string(k.version) + ", which is in its scope");
      }
    }
    for (const auto& k : given) {
      if (!needed.count(k)) {
        return Invalid("the grant carries a key for " + k.record_id + " v" +
                       std::to_string(k.version) + ", which is not a current record in its scope");
      }
    }
    GrantState s;
    s.id = m_tx->id();
    s.grant = *g;
    s.granted_by = m_author->id;
    s.height = m_ctx.height;
    s.time_ms = m_ctx.time_ms;
    m_delta.Put(keys::Grant(s.id), s.Encode());
    m_delta.Put(keys::PatientGrant(g->patient, s.id), {});
    AddAudit(g->patient, "", g->purpose, 0, "granted to " + g->grantee);
    return Ok();
  }

  Result<TxResult> Revoke() {
    TxResult bad;
    auto r = Decode<RevokeGrant>(bad);
    if (!r) return bad;
    MC_ASSIGN_OR_RETURN(auto g, m_view.GetGrant(r->grant_id));
    if (!g) return Invalid("grant " + ToHex(r->grant_id) + " does not exist");
    MC_ASSIGN_OR_RETURN(bool for_patient, ActsForPatient(g->grant.patient, nullptr));
    if (!for_patient) return Invalid("only the patient or a delegate may revoke a grant");
    if (g->revoked) return Invalid("the grant is already revoked");
    g->revoked = true;
    g->revoke_tx = m_tx->id();
    g->revoked_time_ms = m_ctx.time_ms;
    g->revoked_by = m_author->id;
    m_delta.Put(keys::Grant(g->id), g->Encode());
    AddAudit(g->grant.patient, "", r->reason, 0, "revoked grant to " + g->grant.grantee);
    return Ok();
  }

  Result<TxResult> Read() {
    TxResult bad;
    auto r = Decode<ReadRecord>(bad);
    if (!r) return bad;
    // Find what is asked for, to know whose audit trail records the request.
    std::vector<RecordHead> heads;
    std::string patient = r->patient;
    if (!r->record_id.empty()) {
      MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(r->record_id));
      if (!head) return Refused("no record " + r->record_id);
      patient = head->patient;
      heads.push_back(std::move(*head));
    } else {
      MC_ASSIGN_OR_RETURN(auto ids, m_view.PatientRecordIds(r->patient));
      for (const auto& id : ids) {
        MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(id));
        if (head && head->type == r->type && !head->erased) heads.push_back(std::move(*head));
      }
    }
    auto refuse = [&](std::string why) {
      AddAudit(patient, r->record_id, r->purpose,
               kAuditRefused | (r->break_glass ? kAuditBreakGlass : 0), why);
      return Refused(std::move(why));
    };
    if (!m_author) return refuse("the requester's key belongs to no registered participant");
    access::Subject subject{m_author->id, ToSubjectRole(m_author->role), m_author->suspended,
                            m_author->organisation, false};
    if (m_author->role == Role::kPractitioner) {
      MC_ASSIGN_OR_RETURN(auto org, m_view.GetParticipant(m_author->organisation));
      subject.organisation_active = org && org->role == Role::kOrganisation && !org->suspended;
    }
    if (!r->record_id.empty() && heads[0].erased) {
      const RecordHead& h = heads[0];
      return refuse("record " + h.record_id + " was erased at height " +
                    std::to_string(h.erased_height) + " (time " + std::to_string(h.erased_time_ms) +
                    " ms) by " + h.erased_by);
    }
    if (heads.empty())
      return refuse("patient " + r->patient + " has no current record of type " + r->type);
    std::vector<access::GrantFacts> grants;
    MC_ASSIGN_OR_RETURN(auto states, m_view.PatientGrants(patient));
    for (const auto& g : states) grants.push_back(ToGrantFacts(g));
    access::ReadRequest req{r->break_glass, r->reason, r->purpose};
    TxResult result;
    std::string first_refusal;
    for (const auto& h : heads) {
      access::RecordFacts facts{h.record_id, h.type, h.patient, h.custodian, h.erased};
      access::Decision d = access::DecideRead(subject, facts, grants, req, m_ctx.time_ms);
      if (!d.allowed) {
        if (first_refusal.empty()) first_refusal = d.reason;
        continue;
      }
      uint32_t version = h.latest_version;
      if (!r->record_id.empty() && r->version != 0) {
        if (r->version > h.latest_version) {
          return refuse("record " + h.record_id + " has no version " + std::to_string(r->version));
        }
        version = r->version;
      }
      result.records.push_back(KeyRef{h.record_id, version});
      result.break_glass = d.basis == access::Basis::kBreakGlass;
    }
    if (result.records.empty()) return refuse(first_refusal);
    std::string note = r->record_id.empty() ? "type " + r->type + ": " +
                                                  std::to_string(result.records.size()) + " records"
                                            : "";
    if (result.break_glass) {
      m_delta.Put("B/" + std::string(AsString(m_tx->id())), ToBytes(m_author->id));
      note = "break-glass: " + r->reason + (note.empty() ? "" : "; " + note);
    }
    AddAudit(patient, r->record_id, r->purpose, result.break_glass ? kAuditBreakGlass : 0, note);
    return result;
  }

  Result<TxResult> AccessRefusedTx() {
    TxResult bad;
    auto r = Decode<AccessRefused>(bad);
    if (!r) return bad;
    if (m_author->role != Role::kNode) return Invalid("only nodes record refused requests");
    MC_ASSIGN_OR_RETURN(auto claimed, m_view.GetParticipantByKey(r->claimed_author));
    std::string patient = r->patient;
    if (!r->record_id.empty()) {
      MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(r->record_id));
      if (head) patient = head->patient;
    }
    AuditEntry a;
    a.leaf_index = m_leaf;
    a.tx_id = m_tx->id();
    a.type = TxType::kAccessRefused;
    a.height = m_ctx.height;
    a.time_ms = m_ctx.time_ms;
    a.actor = claimed ? claimed->id : "key:" + ToHex(r->claimed_author);
    a.record_id = r->record_id;
    a.flags = kAuditRefused;
    a.reason = r->reason + " (refused by node " + m_author->id + ")";
    if (!patient.empty()) m_delta.Put(keys::Audit(patient, m_leaf), a.Encode());
    return Ok();
  }

  Result<TxResult> Release() {
    TxResult bad;
    auto k = Decode<ReleaseKey>(bad);
    if (!k) return bad;
    MC_ASSIGN_OR_RETURN(auto head, m_view.GetRecord(k->record_id));
    if (!head) return Invalid("record " + k->record_id + " does not exist");
    if (head->erased) return Invalid("record " + k->record_id + " was erased");
    if (k->version > head->latest_version) return Invalid("no such version");
    MC_ASSIGN_OR_RETURN(std::string author_org, OrgOf(m_author->id));
    MC_ASSIGN_OR_RETURN(std::string custodian_org, OrgOf(head->custodian));
    bool allowed = m_author->id == head->patient ||
                   (m_author->role != Role::kPatient && author_org == custodian_org);
    if (!allowed) return Invalid("only the patient or the custodian releases a data key");
    auto access = m_delta.Get("B/" + std::string(AsString(k->access_tx)));
    if (!access || AsString(*access) != k->recipient) {
      return Invalid("no break-glass access by " + k->recipient + " is recorded under that id");
    }
    AddAudit(head->patient, k->record_id, "", 0, "data key released to " + k->recipient);
    return Ok();
  }

  Result<TxResult> AttestTx() {
    TxResult bad;
    auto a = Decode<Attest>(bad);
    if (!a) return bad;
    return Ok();
  }

  Result<TxResult> MembershipTx() {
    TxResult bad;
    auto m = Decode<Membership>(bad);
    if (!m) return bad;
    if (m_author->role != Role::kAdmin)
      return Invalid("only the consortium admin changes membership");
    MC_ASSIGN_OR_RETURN(auto node, m_view.GetParticipant(m->node_id));
    if (!node || node->role != Role::kNode)
      return Invalid(m->node_id + " is not a registered node");
    return Ok();
  }

  // The author of each transaction, cached for the block (one author often
  // signs many transactions of a block).
  Result<std::optional<Participant>> Author(const PublicKey& key) {
    auto it = m_authors.find(key);
    if (it != m_authors.end()) return it->second;
    MC_ASSIGN_OR_RETURN(auto p, m_view.GetParticipantByKey(key));
    m_authors.emplace(key, p);
    return p;
  }

  std::map<PublicKey, std::optional<Participant>> m_authors;
  const BlockContext& m_ctx;
  StateDelta& m_delta;
  StateView m_view;
  const Transaction* m_tx = nullptr;
  uint64_t m_leaf = 0;
  std::optional<Participant> m_author;
};

}  // namespace

Result<AuthorCheck> CheckAuthor(const StateView& view, const Transaction& tx) {
  AuthorCheck c;
  MC_ASSIGN_OR_RETURN(c.author, view.GetParticipantByKey(tx.author()));
  if (!c.author) {
    if (tx.type() == TxType::kRegisterParticipant) {
      auto r = DecodeBody<RegisterParticipant>(tx.body(), "register_participant");
      if (r.ok() && r->role == Role::kPatient && r->sign_key == tx.author()) {
        c.standing = AuthorStanding::kSelfRegistration;
        return c;
      }
    }
    c.standing = AuthorStanding::kUnregistered;
    c.reason = "the author key belongs to no registered participant";
    return c;
  }
  const Participant& a = *c.author;
  if (a.suspended) {
    c.standing = AuthorStanding::kSuspended;
    c.reason = "the author " + a.id + " is suspended";
    return c;
  }
  if (a.role == Role::kPractitioner) {
    MC_ASSIGN_OR_RETURN(auto org, view.GetParticipant(a.organisation));
    if (!org || org->role != Role::kOrganisation || org->suspended) {
      c.standing = AuthorStanding::kOrganisationSuspended;
      c.reason = "the author " + a.id + " is a practitioner of organisation " + a.organisation +
                 (org && org->role == Role::kOrganisation ? ", which is suspended"
                                                          : ", which is not registered");
      return c;
    }
  }
  c.standing = AuthorStanding::kActive;
  return c;
}

Result<TxResult> PreviewTransaction(const StateReader& state, const ChainParams& params,
                                    uint64_t height, uint64_t time_ms, const Transaction& tx) {
  StateDelta scratch(state);
  BlockContext ctx{height, time_ms, 0, params};
  Applier applier(ctx, scratch);
  return applier.Apply(tx, true, 0);
}

Result<BlockOutcome> ApplyTransactions(const BlockContext& ctx,
                                       const std::vector<TransactionRef>& txs,
                                       const std::vector<bool>& signature_ok, StateDelta& delta) {
  BlockOutcome out;
  out.results.reserve(txs.size());
  Applier applier(ctx, delta);
  for (size_t i = 0; i < txs.size(); ++i) {
    bool sig = i < signature_ok.size() && signature_ok[i];
    MC_ASSIGN_OR_RETURN(TxResult r, applier.Apply(*txs[i], sig, ctx.first_leaf + i));
    out.results.push_back(std::move(r));
  }
  return out;
}

Status ApplyGenesis(const Genesis& genesis, const Transaction& genesis_tx, StateDelta& delta) {
  StateView view(delta);
  for (const auto& r : genesis.participants) {
    if (view.GetParticipant(r.id)->has_value()) {
      return Status::InvalidArgument("genesis: participant " + r.id + " listed twice");
    }
    if (delta.Get(keys::SignKey(r.sign_key))) {
      return Status::InvalidArgument("genesis: signing key of " + r.id + " listed twice");
    }
    Participant p;
    p.id = r.id;
    p.role = r.role;
    p.organisation = r.organisation;
    p.sign_key = r.sign_key;
    p.box_key = r.box_key;
    p.display_name = r.display_name;
    p.node = r.node;
    p.registered_tx = genesis_tx.id();
    delta.Put(keys::Participant(p.id), p.Encode());
    delta.Put(keys::SignKey(p.sign_key), ToBytes(p.id));
  }
  return Status::Ok();
}

Block MakeGenesisBlock(const Genesis& genesis) {
  UnsignedTx u;
  u.type = TxType::kGenesis;
  u.timestamp_ms = genesis.time_ms;
  u.body = EncodeBody(genesis);
  Block b;
  b.txs.push_back(Transaction::FromParts(u, SignatureBytes{}));
  b.header.height = 0;
  b.header.timestamp_ms = genesis.time_ms;
  b.header.tx_count = 1;
  b.header.tx_root = ComputeTxRoot(b.txs);
  b.header.log_size = 1;
  b.header.log_root = b.header.tx_root;  // a log of one leaf: the root is that leaf's hash
  return b;
}

Status CheckTransactionShape(const Transaction& tx) {
  auto check = [&](auto body) -> Status {
    using Body = decltype(body);
    auto b = DecodeBody<Body>(tx.body(), TxTypeName(tx.type()));
    return b.status();
  };
  switch (tx.type()) {
    case TxType::kGenesis:
      return Status::InvalidArgument("genesis transactions cannot be submitted");
    case TxType::kRegisterParticipant:
      return check(RegisterParticipant{});
    case TxType::kUpdateParticipant:
      return check(UpdateParticipant{});
    case TxType::kPutRecord:
      return check(PutRecord{});
    case TxType::kEraseRecord:
      return check(EraseRecord{});
    case TxType::kGrant:
      return check(Grant{});
    case TxType::kRevokeGrant:
      return check(RevokeGrant{});
    case TxType::kReadRecord:
      return check(ReadRecord{});
    case TxType::kAccessRefused:
      return check(AccessRefused{});
    case TxType::kReleaseKey:
      return check(ReleaseKey{});
    case TxType::kAttest:
      return check(Attest{});
    case TxType::kMembership:
      return check(Membership{});
  }
  return Status::InvalidArgument("unknown transaction type");
}

}  // namespace medchain::ledger
