// Copyright (c) medchain developers.
#include "medchain/api/json.h"

#include <set>

#include "medchain/core/codec.h"

namespace medchain::api {

using namespace ledger;

namespace {

// Reads fields of a JSON object, keeping the first error (like Decoder).
class Reader {
 public:
  Reader(const Json& j, std::string where) : m_j(j), m_where(std::move(where)) {
    if (!j.is_object()) Fail("", "must be a JSON object");
  }

  void Fail(std::string_view field, std::string_view why) {
    if (!m_status.ok()) return;
    std::string msg = m_where;
    if (!field.empty()) msg += "." + std::string(field);
    msg += ": ";
    msg += why;
    m_status = Status::InvalidArgument(std::move(msg));
  }

  const Json* Field(std::string_view name, bool required) {
    m_known.emplace(name);
    if (!m_status.ok()) return nullptr;
    auto it = m_j.find(name);
    if (it == m_j.end() || it->is_null()) {
      if (required) Fail(name, "required");
      return nullptr;
    }
    return &*it;
  }

  std::string Str(std::string_view name, bool required = true) {
    const Json* f = Field(name, required);
    if (!f) return {};
    if (!f->is_string()) {
      Fail(name, "must be a string");
      return {};
    }
    return f->get<std::string>();
  }

  uint64_t U64(std::string_view name, bool required = true) {
    const Json* f = Field(name, required);
    if (!f) return 0;
    if (!f->is_number_unsigned() && !(f->is_number_integer() && f->get<int64_t>() >= 0)) {
      Fail(name, "must be a non-negative integer");
      return 0;
    }
    return f->get<uint64_t>();
  }

  uint32_t U32(std::string_view name, bool required = true) {
    uint64_t v = U64(name, required);
    if (v > 0xffffffffULL) Fail(name, "out of range");
    return static_cast<uint32_t>(v);
  }

  bool Bool(std::string_view name, bool required = false) {
    const Json* f = Field(name, required);
    if (!f) return false;
    if (!f->is_boolean()) {
      Fail(name, "must be true or false");
      return false;
    }
    return f->get<bool>();
  }

  template <size_t N>
  std::array<uint8_t, N> Fixed(std::string_view name, bool required = true) {
    std::array<uint8_t, N> out{};
    std::string s = Str(name, required);
    if (s.empty()) return out;
    auto b = FromHex(s);
    if (!b || b->size() != N) {
      Fail(name, "must be " + std::to_string(2 * N) + " hex digits");
      return out;
    }
    std::copy(b->begin(), b->end(), out.begin());
    return out;
  }

  Bytes B64(std::string_view name, bool required = true) {
    std::string s = Str(name, required);
    if (s.empty()) return {};
    auto b = FromBase64(s);
    if (!b) {
      Fail(name, "must be standard base64");
      return {};
    }
    return *b;
  }

  std::vector<std::string> Strings(std::string_view name) {
    std::vector<std::string> out;
    const Json* f = Field(name, false);
    if (!f) return out;
    if (!f->is_array()) {
      Fail(name, "must be an array of strings");
      return out;
    }
    for (const auto& e : *f) {
      if (!e.is_string()) {
        Fail(name, "must be an array of strings");
        return {};
      }
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  // Accepts `name` without reading it (a field another layer handles).
  void Allow(std::string_view name) { m_known.emplace(name); }

  // Refuses keys no Field() asked for: a misspelt field must not be ignored
  // silently (the canonical form would drop it while the sender meant it).
  void RejectUnknown() {
    if (!m_status.ok() || !m_j.is_object()) return;
    for (const auto& [key, value] : m_j.items()) {
      (void)value;
      if (!m_known.count(key)) {
        Fail(key, "unknown field");
        return;
      }
    }
  }

  const Json& json() const { return m_j; }
  const Status& status() const { return m_status; }
  bool ok() const { return m_status.ok(); }

 private:
  const Json& m_j;
  std::string m_where;
  Status m_status;
  std::set<std::string, std::less<>> m_known;
};

std::vector<std::string> SortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

Json KeyRefsToJson(const std::vector<KeyRef>& keys) {
  Json a = Json::array();
  for (const auto& k : keys) a.push_back({{"record_id", k.record_id}, {"version", k.version}});
  return a;
}

}  // namespace

namespace {

// The deepest nesting of arrays and objects in text, counted without parsing
// (brackets inside strings do not count). Stops counting past limit + 1, so
// a hostile body costs one pass and no memory.
size_t NestingDepth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  if (NestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    return Status::InvalidArgument(std::string(what) + ": JSON nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    // Parse again for the position (exceptions only on this error path). A
    // number that does not fit a double (1e400, 100,000 digits) is an
    // out_of_range error, not a parse_error: both are the client's fault.
    try {
      Json again = Json::parse(text);
      (void)again;
    } catch (const Json::exception& e) {
      return Status::InvalidArgument(std::string(what) + ": not valid JSON (" + e.what() + ")");
    }
    return Status::InvalidArgument(std::string(what) + ": not valid JSON");
  }
  return j;
}

// ---- Registration / genesis ----

Json RegistrationToJson(const RegisterParticipant& r) {
  Json j = {{"id", r.id},
            {"role", RoleName(r.role)},
            {"sign_key", ToHex(r.sign_key)},
            {"box_key", ToHex(r.box_key)}};
  if (!r.organisation.empty()) j["organisation"] = r.organisation;
  if (!r.display_name.empty()) j["display_name"] = r.display_name;
  if (r.node) {
    j["node"] = {{"raft_id", r.node->raft_id},
                 {"raft_address", r.node->raft_address},
                 {"api_url", r.node->api_url}};
  }
  return j;
}

static RegisterParticipant ReadRegistration(Reader& rd) {
  RegisterParticipant r;
  r.id = rd.Str("id");
  std::string role = rd.Str("role");
  if (rd.ok()) {
    auto parsed = RoleFromName(role);
    if (!parsed)
      rd.Fail("role", "unknown role \"" + role + "\"");
    else
      r.role = *parsed;
  }
  r.organisation = rd.Str("organisation", false);
  r.sign_key = rd.Fixed<32>("sign_key");
  r.box_key = rd.Fixed<32>("box_key");
  r.display_name = rd.Str("display_name", false);
  if (const Json* n = rd.Field("node", false)) {
    Reader nr(*n, "node");
    NodeInfo info;
    info.raft_id = nr.U64("raft_id");
    info.raft_address = nr.Str("raft_address");
    info.api_url = nr.Str("api_url");
    nr.RejectUnknown();
    if (!nr.ok()) rd.Fail("node", nr.status().message());
    r.node = info;
  }
  return r;
}

Result<RegisterParticipant> RegistrationFromJson(const Json& j, std::string_view where) {
  Reader rd(j, std::string(where));
  RegisterParticipant r = ReadRegistration(rd);
  rd.RejectUnknown();
  if (!rd.ok()) return rd.status();
  // Round-trip through the codec for its rules.
  return DecodeBody<RegisterParticipant>(EncodeBody(r), where);
}

Json GenesisToJson(const Genesis& g) {
  Json parts = Json::array();
  for (const auto& p : g.participants) parts.push_back(RegistrationToJson(p));
  return {{"format", "medchain-genesis"},
          {"version", 1},
          {"consortium", g.consortium},
          {"time_ms", g.time_ms},
          {"params",
           {{"custodian_may_erase", g.params.custodian_may_erase},
            {"max_clock_skew_ms", g.params.max_clock_skew_ms}}},
          {"participants", parts}};
}

Result<Genesis> GenesisFromJson(const Json& j) {
  Reader rd(j, "genesis");
  if (rd.Str("format") != "medchain-genesis" && rd.ok())
    rd.Fail("format", "must be \"medchain-genesis\"");
  if (rd.U64("version") != 1 && rd.ok()) rd.Fail("version", "unsupported version");
  Genesis g;
  g.consortium = rd.Str("consortium");
  g.time_ms = rd.U64("time_ms");
  if (const Json* p = rd.Field("params", false)) {
    Reader pr(*p, "genesis.params");
    g.params.custodian_may_erase = pr.Bool("custodian_may_erase");
    g.params.max_clock_skew_ms = pr.U64("max_clock_skew_ms", false);
    pr.RejectUnknown();
    if (!pr.ok()) return pr.status();
  }
  const Json* parts = rd.Field("participants", true);
  rd.RejectUnknown();
  if (!rd.ok()) return rd.status();
  if (!parts->is_array()) return Status::InvalidArgument("genesis.participants: must be an array");
  for (size_t i = 0; i < parts->size(); ++i) {
    MC_ASSIGN_OR_RETURN(auto r, RegistrationFromJson((*parts)[i], "genesis.participants[" +
                                                                      std::to_string(i) + "]"));
    g.participants.push_back(std::move(r));
  }
  return DecodeBody<Genesis>(EncodeBody(g), "genesis");
}

// ---- Bodies ----

Json BodyToJson(TxType type, ByteView body) {
  auto decode = [&](auto b) -> std::optional<decltype(b)> {
    auto r = DecodeBody<decltype(b)>(body, "body");
    if (!r.ok()) return std::nullopt;
    return std::move(*r);
  };
  auto raw = [&] { return Json{{"malformed_hex", ToHex(body)}}; };
  switch (type) {
    case TxType::kGenesis: {
      auto g = decode(Genesis{});
      return g ? GenesisToJson(*g) : raw();
    }
    case TxType::kRegisterParticipant: {
      auto r = decode(RegisterParticipant{});
      return r ? RegistrationToJson(*r) : raw();
    }
    case TxType::kUpdateParticipant: {
      auto u = decode(UpdateParticipant{});
      if (!u) return raw();
      static const char* kOps[] = {"", "rotate_keys", "suspend", "reinstate", "set_delegates"};
      Json j = {{"id", u->id}, {"op", kOps[static_cast<int>(u->op)]}};
      if (u->op == UpdateOp::kRotateKeys) {
        j["new_sign_key"] = ToHex(u->new_sign_key);
        j["new_box_key"] = ToHex(u->new_box_key);
      }
      if (u->op == UpdateOp::kSetDelegates) j["delegates"] = u->delegates;
      if (!u->reason.empty()) j["reason"] = u->reason;
      return j;
    }
    case TxType::kPutRecord: {
      auto p = decode(PutRecord{});
      if (!p) return raw();
      return {{"record_id", p->record_id},
              {"patient", p->patient},
              {"type", p->type},
              {"version", p->version},
              {"supersedes_tx", ToHex(p->supersedes_tx)},
              {"ciphertext_hash", ToHex(p->ciphertext_hash)},
              {"ciphertext_size", p->ciphertext_size},
              {"commitment", ToHex(p->commitment)},
              {"recipients", p->recipients},
              {"keys_hash", ToHex(p->keys_hash)}};
    }
    case TxType::kEraseRecord: {
      auto e = decode(EraseRecord{});
      if (!e) return raw();
      return {{"record_id", e->record_id}, {"reason", e->reason}};
    }
    case TxType::kGrant: {
      auto g = decode(Grant{});
      if (!g) return raw();
      return {{"patient", g->patient},          {"grantee", g->grantee},
              {"scope_types", g->scope_types},  {"scope_records", g->scope_records},
              {"purpose", g->purpose},          {"expiry_ms", g->expiry_ms},
              {"keys", KeyRefsToJson(g->keys)}, {"keys_hash", ToHex(g->keys_hash)}};
    }
    case TxType::kRevokeGrant: {
      auto r = decode(RevokeGrant{});
      if (!r) return raw();
      return {{"grant_id", ToHex(r->grant_id)}, {"reason", r->reason}};
    }
    case TxType::kReadRecord: {
      auto r = decode(ReadRecord{});
      if (!r) return raw();
      Json j = {{"purpose", r->purpose}, {"break_glass", r->break_glass}};
      if (!r->record_id.empty()) {
        j["record_id"] = r->record_id;
        j["version"] = r->version;
      } else {
        j["patient"] = r->patient;
        j["type"] = r->type;
      }
      if (!r->reason.empty()) j["reason"] = r->reason;
      return j;
    }
    case TxType::kAccessRefused: {
      auto r = decode(AccessRefused{});
      if (!r) return raw();
      return {{"request_hash", ToHex(r->request_hash)},
              {"claimed_author", ToHex(r->claimed_author)},
              {"patient", r->patient},
              {"record_id", r->record_id},
              {"reason", r->reason}};
    }
    case TxType::kReleaseKey: {
      auto r = decode(ReleaseKey{});
      if (!r) return raw();
      return {{"record_id", r->record_id},
              {"version", r->version},
              {"recipient", r->recipient},
              {"access_tx", ToHex(r->access_tx)},
              {"keys_hash", ToHex(r->keys_hash)}};
    }
    case TxType::kAttest: {
      auto a = decode(Attest{});
      if (!a) return raw();
      return {{"digest", ToHex(a->digest)}, {"note", a->note}};
    }
    case TxType::kMembership: {
      auto m = decode(Membership{});
      if (!m) return raw();
      static const char* kOps[] = {"", "add", "remove", "assign"};
      return {{"op", kOps[static_cast<int>(m->op)]},
              {"node_id", m->node_id},
              {"raft_role", m->raft_role}};
    }
  }
  return raw();
}

Result<Bytes> BodyFromJson(TxType type, const Json& j) {
  Reader rd(j, "body");
  Bytes out;
  switch (type) {
    case TxType::kGenesis:
      return Status::InvalidArgument("genesis transactions cannot be submitted");
    case TxType::kRegisterParticipant:
      out = EncodeBody(ReadRegistration(rd));
      break;
    case TxType::kUpdateParticipant: {
      UpdateParticipant u;
      u.id = rd.Str("id");
      std::string op = rd.Str("op");
      if (op == "rotate_keys")
        u.op = UpdateOp::kRotateKeys;
      else if (op == "suspend")
        u.op = UpdateOp::kSuspend;
      else if (op == "reinstate")
        u.op = UpdateOp::kReinstate;
      else if (op == "set_delegates")
        u.op = UpdateOp::kSetDelegates;
      else
        rd.Fail("op", "one of rotate_keys, suspend, reinstate, set_delegates");
      u.new_sign_key = rd.Fixed<32>("new_sign_key", false);
      u.new_box_key = rd.Fixed<32>("new_box_key", false);
      u.delegates = SortedUnique(rd.Strings("delegates"));
      u.reason = rd.Str("reason", false);
      out = EncodeBody(u);
      break;
    }
    case TxType::kPutRecord: {
      PutRecord p;
      p.record_id = rd.Str("record_id");
      p.patient = rd.Str("patient");
      p.type = rd.Str("type");
      p.version = rd.U32("version");
      p.supersedes_tx = rd.Fixed<32>("supersedes_tx", false);
      p.ciphertext_hash = rd.Fixed<32>("ciphertext_hash");
      p.ciphertext_size = rd.U64("ciphertext_size");
      p.commitment = rd.Fixed<32>("commitment");
      p.recipients = SortedUnique(rd.Strings("recipients"));
      p.keys_hash = rd.Fixed<32>("keys_hash");
      out = EncodeBody(p);
      break;
    }
    case TxType::kEraseRecord: {
      EraseRecord e;
      e.record_id = rd.Str("record_id");
      e.reason = rd.Str("reason", false);
      out = EncodeBody(e);
      break;
    }
    case TxType::kGrant: {
      Grant g;
      g.patient = rd.Str("patient");
      g.grantee = rd.Str("grantee");
      g.scope_types = SortedUnique(rd.Strings("scope_types"));
      g.scope_records = SortedUnique(rd.Strings("scope_records"));
      g.purpose = rd.Str("purpose");
      g.expiry_ms = rd.U64("expiry_ms");
      if (const Json* keys = rd.Field("keys", false)) {
        if (!keys->is_array())
          rd.Fail("keys", "must be an array");
        else {
          for (const auto& k : *keys) {
            Reader kr(k, "body.keys[]");
            KeyRef ref{kr.Str("record_id"), kr.U32("version")};
            kr.RejectUnknown();
            if (!kr.ok()) {
              rd.Fail("keys", kr.status().message());
              break;
            }
            g.keys.push_back(ref);
          }
          std::sort(g.keys.begin(), g.keys.end());
        }
      }
      g.keys_hash = rd.Fixed<32>("keys_hash");
      out = EncodeBody(g);
      break;
    }
    case TxType::kRevokeGrant: {
      RevokeGrant r;
      r.grant_id = rd.Fixed<32>("grant_id");
      r.reason = rd.Str("reason", false);
      out = EncodeBody(r);
      break;
    }
    case TxType::kReadRecord: {
      ReadRecord r;
      r.record_id = rd.Str("record_id", false);
      r.version = rd.U32("version", false);
      r.patient = rd.Str("patient", false);
      r.type = rd.Str("type", false);
      r.purpose = rd.Str("purpose");
      r.break_glass = rd.Bool("break_glass");
      r.reason = rd.Str("reason", false);
      out = EncodeBody(r);
      break;
    }
    case TxType::kAccessRefused: {
      AccessRefused a;
      a.request_hash = rd.Fixed<32>("request_hash");
      a.claimed_author = rd.Fixed<32>("claimed_author");
      a.patient = rd.Str("patient", false);
      a.record_id = rd.Str("record_id", false);
      a.reason = rd.Str("reason");
      out = EncodeBody(a);
      break;
    }
    case TxType::kReleaseKey: {
      ReleaseKey k;
      k.record_id = rd.Str("record_id");
      k.version = rd.U32("version");
      k.recipient = rd.Str("recipient");
      k.access_tx = rd.Fixed<32>("access_tx");
      k.keys_hash = rd.Fixed<32>("keys_hash");
      out = EncodeBody(k);
      break;
    }
    case TxType::kAttest: {
      Attest a;
      a.digest = rd.Fixed<32>("digest");
      a.note = rd.Str("note", false);
      out = EncodeBody(a);
      break;
    }
    case TxType::kMembership: {
      Membership m;
      std::string op = rd.Str("op");
      if (op == "add")
        m.op = MembershipOp::kAdd;
      else if (op == "remove")
        m.op = MembershipOp::kRemove;
      else if (op == "assign")
        m.op = MembershipOp::kAssign;
      else
        rd.Fail("op", "one of add, remove, assign");
      m.node_id = rd.Str("node_id");
      m.raft_role = static_cast<uint8_t>(rd.U32("raft_role", false));
      out = EncodeBody(m);
      break;
    }
  }
  rd.RejectUnknown();
  if (!rd.ok()) return rd.status();
  return out;
}

// ---- Transactions ----

Json TxToJson(const Transaction& tx) {
  return {{"id", ToHex(tx.id())},
          {"type", TxTypeName(tx.type())},
          {"author", ToHex(tx.author())},
          {"nonce", tx.nonce()},
          {"timestamp_ms", tx.timestamp_ms()},
          {"body", BodyToJson(tx.type(), tx.body())},
          {"signature", ToHex(tx.signature())}};
}

Result<TransactionRef> TxFromJson(const Json& j) {
  Reader rd(j, "transaction");
  UnsignedTx u;
  std::string type = rd.Str("type");
  if (rd.ok()) {
    auto t = TxTypeFromName(type);
    if (!t)
      rd.Fail("type", "unknown transaction type \"" + type + "\"");
    else
      u.type = *t;
  }
  u.author = rd.Fixed<32>("author");
  u.nonce = rd.U64("nonce");
  u.timestamp_ms = rd.U64("timestamp_ms", false);
  auto sig = rd.Fixed<64>("signature");
  const Json* body = rd.Field("body", true);
  rd.Field("id", false);
  rd.Allow("sidecar");  // a submission's sidecar, read by the API
  // What GET /v1/transactions/{id} adds: that form can be read back.
  for (const char* extra : {"height", "index", "leaf_index", "result"}) rd.Allow(extra);
  rd.RejectUnknown();
  if (!rd.ok()) return rd.status();
  MC_ASSIGN_OR_RETURN(u.body, BodyFromJson(u.type, *body));
  // Through the strict decoder, so JSON submissions obey the same limits.
  TransactionRef built = Transaction::FromParts(u, sig);
  MC_ASSIGN_OR_RETURN(TransactionRef tx, Transaction::Decode(built->bytes()));
  if (const Json* id = rd.Field("id", false)) {
    if (!id->is_string() || id->get<std::string>() != ToHex(tx->id())) {
      return Status::InvalidArgument("transaction.id: does not match the canonical encoding");
    }
  }
  return tx;
}

Json ResultToJson(const TxResult& r) {
  Json j = {{"code", TxCodeName(r.code)}};
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (r.break_glass) j["break_glass"] = true;
  if (!r.records.empty()) j["records"] = KeyRefsToJson(r.records);
  return j;
}

Json HeaderToJson(const BlockHeader& h, const Hash& hash) {
  return {{"hash", ToHex(hash)},
          {"height", h.height},
          {"prev_hash", ToHex(h.prev_hash)},
          {"timestamp_ms", h.timestamp_ms},
          {"proposer", ToHex(h.proposer)},
          {"term", h.term},
          {"tx_count", h.tx_count},
          {"tx_root", ToHex(h.tx_root)},
          {"log_size", h.log_size},
          {"log_root", ToHex(h.log_root)}};
}

// ---- State ----

Json ParticipantToJson(const Participant& p) {
  RegisterParticipant r{p.id,      p.role,         p.organisation, p.sign_key,
                        p.box_key, p.display_name, p.node};
  Json j = RegistrationToJson(r);
  j["suspended"] = p.suspended;
  if (!p.delegates.empty()) j["delegates"] = p.delegates;
  j["registered_height"] = p.registered_height;
  return j;
}

Json RecordHeadToJson(const RecordHead& r) {
  Json j = {{"record_id", r.record_id}, {"patient", r.patient},        {"type", r.type},
            {"custodian", r.custodian}, {"version", r.latest_version}, {"erased", r.erased}};
  if (r.erased) {
    j["erasure"] = {{"tx", ToHex(r.erase_tx)},
                    {"height", r.erased_height},
                    {"time_ms", r.erased_time_ms},
                    {"by", r.erased_by},
                    {"reason", r.erase_reason}};
  }
  return j;
}

Json RecordVersionToJson(const RecordVersion& v) {
  return {{"record_id", v.record_id},
          {"version", v.version},
          {"author", v.author},
          {"tx", ToHex(v.tx_id)},
          {"supersedes_tx", ToHex(v.supersedes_tx)},
          {"ciphertext_hash", ToHex(v.ciphertext_hash)},
          {"ciphertext_size", v.ciphertext_size},
          {"commitment", ToHex(v.commitment)},
          {"recipients", v.recipients},
          {"height", v.height},
          {"time_ms", v.time_ms},
          {"leaf_index", v.leaf_index}};
}

Json GrantToJson(const GrantState& g, uint64_t now_ms) {
  std::string status = g.revoked ? "revoked" : (now_ms >= g.grant.expiry_ms ? "expired" : "active");
  Json j = {{"grant_id", ToHex(g.id)},
            {"patient", g.grant.patient},
            {"grantee", g.grant.grantee},
            {"scope_types", g.grant.scope_types},
            {"scope_records", g.grant.scope_records},
            {"purpose", g.grant.purpose},
            {"expiry_ms", g.grant.expiry_ms},
            {"granted_by", g.granted_by},
            {"height", g.height},
            {"time_ms", g.time_ms},
            {"status", status}};
  if (g.revoked) {
    j["revocation"] = {
        {"tx", ToHex(g.revoke_tx)}, {"time_ms", g.revoked_time_ms}, {"by", g.revoked_by}};
  }
  return j;
}

Json AuditToJson(const AuditEntry& a) {
  static const char* kEvents[] = {"write", "erase",   "grant",      "revoke",
                                  "read",  "refused", "key_release"};
  std::string event;
  switch (a.type) {
    case TxType::kPutRecord:
      event = kEvents[0];
      break;
    case TxType::kEraseRecord:
      event = kEvents[1];
      break;
    case TxType::kGrant:
      event = kEvents[2];
      break;
    case TxType::kRevokeGrant:
      event = kEvents[3];
      break;
    case TxType::kReadRecord:
      event = (a.flags & kAuditRefused) ? kEvents[5] : kEvents[4];
      break;
    case TxType::kAccessRefused:
      event = kEvents[5];
      break;
    case TxType::kReleaseKey:
      event = kEvents[6];
      break;
    default:
      event = std::string(TxTypeName(a.type));
  }
  Json j = {{"event", event},
            {"tx", ToHex(a.tx_id)},
            {"type", TxTypeName(a.type)},
            {"height", a.height},
            {"time_ms", a.time_ms},
            {"leaf_index", a.leaf_index},
            {"actor", a.actor},
            {"refused", (a.flags & kAuditRefused) != 0},
            {"break_glass", (a.flags & kAuditBreakGlass) != 0}};
  if (!a.record_id.empty()) j["record_id"] = a.record_id;
  if (!a.purpose.empty()) j["purpose"] = a.purpose;
  if (!a.reason.empty()) j["detail"] = a.reason;
  return j;
}

}  // namespace medchain::api
