// Copyright (c) medchain developers.
#include "cli/records.h"

#include <sodium.h>

#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"
#include "medchain/crypto/aead.h"

namespace medchain::cli {

namespace {
constexpr std::string_view kCommitDomain = "medchain/commit/v1\n";

Bytes Aad(const std::string& record_id, uint32_t version, const std::string& patient) {
  Encoder e;
  e.U8(1).Str(record_id).U32(version).Str(patient);
  return e.Take();
}

Hash Commitment(ByteView salt, ByteView content) {
  Sha256 h;
  h.Update(kCommitDomain).Update(salt).Update(content);
  return h.Finish();
}
}  // namespace

std::string NewRecordId() {
  uint8_t r[16];
  randombytes_buf(r, sizeof r);
  return "rec-" + ToHex(ByteView(r, sizeof r));
}

Result<SealedRecord> SealRecord(const std::string& record_id, const std::string& patient,
                                const std::string& type, uint32_t version,
                                const Hash& supersedes_tx, ByteView content,
                                const std::map<std::string, crypto::BoxPublicKey>& recipients) {
  crypto::AeadKey data_key = crypto::AeadKey::Generate();
  Bytes plain(32 + content.size());
  randombytes_buf(plain.data(), 32);
  std::copy(content.begin(), content.end(), plain.begin() + 32);
  Hash commitment = Commitment(ByteView(plain).first(32), content);
  auto ct = crypto::SealWithRandomNonce(data_key, Aad(record_id, version, patient), plain);
  SecureZero(plain);
  if (!ct.ok()) return ct.status();
  SealedRecord s;
  s.sidecar.ciphertext = std::move(*ct);
  for (const auto& [id, box] : recipients) {  // std::map: sorted by id
    MC_ASSIGN_OR_RETURN(Bytes sealed, crypto::Seal(box, data_key.bytes()));
    s.sidecar.keys.push_back(ledger::WrappedKey{record_id, version, id, std::move(sealed)});
    s.body.recipients.push_back(id);
  }
  s.body.record_id = record_id;
  s.body.patient = patient;
  s.body.type = type;
  s.body.version = version;
  s.body.supersedes_tx = supersedes_tx;
  s.body.ciphertext_hash = Sha256Digest(s.sidecar.ciphertext);
  s.body.ciphertext_size = s.sidecar.ciphertext.size();
  s.body.commitment = commitment;
  s.body.keys_hash = s.sidecar.KeysHash();
  return s;
}

Result<Bytes> OpenDataKey(const crypto::KeyMaterial& key, ByteView wrapped) {
  auto k = key.OpenSealed(wrapped);
  if (!k.ok())
    return Status::Unauthenticated("the wrapped data key does not open with this key file");
  return k;
}

Result<Bytes> OpenRecord(ByteView data_key, ByteView ciphertext, const std::string& record_id,
                         uint32_t version, const std::string& patient,
                         const Hash* expect_commitment) {
  MC_ASSIGN_OR_RETURN(auto key, crypto::AeadKey::FromBytes(data_key));
  auto plain = crypto::OpenWithNonce(key, Aad(record_id, version, patient), ciphertext);
  if (!plain.ok())
    return Status::Unauthenticated("the ciphertext does not decrypt for this record version");
  if (plain->size() < 32) return Status::Corruption("the plaintext lacks its salt");
  ByteView salt = ByteView(*plain).first(32);
  ByteView content = ByteView(*plain).subspan(32);
  if (expect_commitment && Commitment(salt, content) != *expect_commitment) {
    SecureZero(*plain);
    return Status::Corruption("the plaintext does not match the ledger's commitment");
  }
  Bytes out(content.begin(), content.end());
  SecureZero(*plain);
  return out;
}

Result<crypto::BoxPublicKey> FetchBoxKey(NodeClient& node, const std::string& participant) {
  MC_ASSIGN_OR_RETURN(Json p, node.GetJson("/v1/participants/" + participant));
  auto key = HashFromHex(p.value("box_key", ""));
  if (!key) return Status::Corruption("participant " + participant + " has no valid box key");
  crypto::BoxPublicKey out;
  std::copy(key->begin(), key->end(), out.begin());
  return out;
}

Result<std::string> ParticipantIdOf(NodeClient& node, const crypto::KeyMaterial& key) {
  if (!key.participant_id.empty()) return key.participant_id;
  MC_ASSIGN_OR_RETURN(Json p,
                      node.GetJson("/v1/participants?key=" + ToHex(key.signing.public_key())));
  return p.value("id", "");
}

Result<std::map<std::string, crypto::BoxPublicKey>> RequiredRecipients(
    NodeClient& node, const std::string& patient, const std::string& record_id,
    const std::string& type, const std::string& writer, const std::string& custodian) {
  std::map<std::string, crypto::BoxPublicKey> out;
  std::vector<std::string> ids = {patient, writer, custodian};
  MC_ASSIGN_OR_RETURN(Json pj, node.GetJson("/v1/participants/" + patient));
  if (pj.contains("delegates")) {
    for (const auto& d : pj["delegates"]) ids.push_back(d.get<std::string>());
  }
  MC_ASSIGN_OR_RETURN(Json grants, node.GetJson("/v1/patients/" + patient + "/grants"));
  for (const auto& g : grants["grants"]) {
    if (g.value("status", "") != "active") continue;
    bool covers = false;
    for (const auto& t : g["scope_types"]) covers |= t == "*" || t == type;
    for (const auto& r : g["scope_records"]) covers |= r == record_id;
    if (covers) ids.push_back(g.value("grantee", ""));
  }
  for (const auto& id : ids) {
    if (out.count(id)) continue;
    MC_ASSIGN_OR_RETURN(auto key, FetchBoxKey(node, id));
    out.emplace(id, key);
  }
  return out;
}

Result<Json> PutRecord(NodeClient& node, const crypto::KeyMaterial& key, const std::string& writer,
                       const std::string& patient, const std::string& type,
                       const std::string& record_id, ByteView content) {
  node.SignAs(key);  // what the writer reads to build the record, it reads as itself
  for (int attempt = 0;; ++attempt) {
    uint32_t version = 1;
    Hash supersedes{};
    std::string custodian = writer;
    auto existing = node.GetJson("/v1/records/" + record_id);
    if (existing.ok()) {
      if ((*existing).value("erased", false)) {
        return Status::FailedPrecondition("record " + record_id + " was erased");
      }
      if ((*existing).value("patient", "") != patient) {
        return Status::InvalidArgument("record " + record_id + " belongs to another patient");
      }
      version = (*existing).value("version", 0U) + 1;
      custodian = (*existing).value("custodian", writer);
      const auto& hist = (*existing)["history"];
      if (hist.empty()) return Status::Corruption("record without history");
      auto prev = HashFromHex(hist.back().value("tx", ""));
      if (!prev) return Status::Corruption("bad history");
      supersedes = *prev;
    } else if (existing.status().code() != Code::kNotFound &&
               existing.status().code() != Code::kPermissionDenied) {
      // 403 is also the node's answer for "no such record" (it says nothing
      // about records the writer may not see): write version 1, and the
      // ledger refuses it if the id is taken.
      return existing.status();
    }
    MC_ASSIGN_OR_RETURN(auto recipients,
                        RequiredRecipients(node, patient, record_id, type, writer, custodian));
    MC_ASSIGN_OR_RETURN(auto sealed, SealRecord(record_id, patient, type, version, supersedes,
                                                content, recipients));
    auto tx = MakeTx(key, ledger::TxType::kPutRecord, ledger::EncodeBody(sealed.body));
    MC_ASSIGN_OR_RETURN(Json out, node.Submit(*tx, &sealed.sidecar, true));
    const Json& r = out["result"];
    bool raced = r.value("code", "") != "ok" && attempt == 0 &&
                 (r.value("reason", "").find("not wrapped for") != std::string::npos ||
                  r.value("reason", "").find("is at version") != std::string::npos);
    if (!raced) return out;  // a grant or version appeared meanwhile: build again
  }
}

Result<Json> SubmitGrant(NodeClient& node, const crypto::KeyMaterial& key, const std::string& me,
                         ledger::Grant g) {
  node.SignAs(key);  // the patient's (or delegate's) own records and keys
  MC_ASSIGN_OR_RETURN(auto grantee_box, FetchBoxKey(node, g.grantee));
  MC_ASSIGN_OR_RETURN(Json recs, node.GetJson("/v1/patients/" + g.patient + "/records"));
  ledger::Sidecar sc;
  for (const auto& r : recs["records"]) {
    if (r.value("erased", false)) continue;
    std::string id = r.value("record_id", "");
    if (!g.Covers(id, r.value("type", ""))) continue;
    uint32_t latest = r.value("version", 0U);
    for (uint32_t v = 1; v <= latest; ++v) {
      // My wrapped key (I am the patient or a delegate), re-wrapped for the grantee.
      MC_ASSIGN_OR_RETURN(Json k, node.GetJson("/v1/records/" + id + "/keys/" + me +
                                               "?version=" + std::to_string(v)));
      auto wrapped = FromBase64(k.value("wrapped_key", ""));
      if (!wrapped) return Status::Corruption("malformed wrapped key");
      MC_ASSIGN_OR_RETURN(Bytes data_key, OpenDataKey(key, *wrapped));
      auto sealed = crypto::Seal(grantee_box, data_key);
      SecureZero(data_key);
      if (!sealed.ok()) return sealed.status();
      g.keys.push_back(ledger::KeyRef{id, v});
      sc.keys.push_back(ledger::WrappedKey{id, v, g.grantee, std::move(*sealed)});
    }
  }
  // Keys must be listed sorted by (record, version); keep the sidecar in step.
  std::vector<size_t> order(g.keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return g.keys[x] < g.keys[y]; });
  ledger::Grant sorted = g;
  ledger::Sidecar sorted_sc;
  sorted.keys.clear();
  for (size_t i : order) {
    sorted.keys.push_back(g.keys[i]);
    sorted_sc.keys.push_back(sc.keys[i]);
  }
  sorted.keys_hash = sorted_sc.KeysHash();
  // Through the codec's rules before it is signed.
  MC_RETURN_IF_ERROR(
      ledger::DecodeBody<ledger::Grant>(ledger::EncodeBody(sorted), "grant").status());
  return node.Submit(*MakeTx(key, ledger::TxType::kGrant, ledger::EncodeBody(sorted)), &sorted_sc,
                     true);
}

}  // namespace medchain::cli
