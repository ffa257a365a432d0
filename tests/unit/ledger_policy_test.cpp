// Copyright (c) medchain developers.
// The consent rules as a table: every rule of DESIGN.md "Records, keys and
// consent", checked on the deterministic state machine. Each row would fail
// if its rule broke.
#include <gtest/gtest.h>

#include "medchain/core/sha256.h"
#include "medchain/ledger/apply.h"
#include "test_util.h"

namespace medchain::ledger {
namespace {

using testing::Identity;

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Genesis g;
    g.consortium = "c";
    g.time_ms = 1000;
    g.participants = {admin.Registration(), org_a.Registration(), org_b.Registration()};
    Block b0 = MakeGenesisBlock(g);
    StateDelta d(state);
    ASSERT_TRUE(ApplyGenesis(g, *b0.txs[0], d).ok());
    d.ApplyTo(state);
    leaf = 1;
    // Practitioners, a patient (self-registered), an auditor.
    Expect(Block1({org_a.Tx(TxType::kRegisterParticipant, dr_a.Registration("org-a")),
                   org_b.Tx(TxType::kRegisterParticipant, dr_b.Registration("org-b")),
                   org_b.Tx(TxType::kRegisterParticipant, dr_c.Registration("org-b")),
                   org_b.Tx(TxType::kRegisterParticipant, dr_d.Registration("org-b")),
                   patient.Tx(TxType::kRegisterParticipant, patient.Registration()),
                   admin.Tx(TxType::kRegisterParticipant, auditor.Registration())}),
           {TxCode::kOk, TxCode::kOk, TxCode::kOk, TxCode::kOk, TxCode::kOk, TxCode::kOk});
    Expect(Block1({Put(org_a, "r1", "Observation", {"org-a", "pat"}),
                   Put(org_a, "r2", "Condition", {"org-a", "pat"})}),
           {TxCode::kOk, TxCode::kOk});
  }

  TransactionRef Put(Identity& by, const std::string& id, const std::string& type,
                     std::vector<std::string> recipients, uint32_t version = 1, Hash sup = {}) {
    PutRecord p;
    p.record_id = id;
    p.patient = "pat";
    p.type = type;
    p.version = version;
    p.supersedes_tx = sup;
    p.ciphertext_size = 10;
    p.ciphertext_hash.fill(1);
    p.commitment.fill(2);
    std::sort(recipients.begin(), recipients.end());
    p.recipients = recipients;
    p.keys_hash.fill(3);
    return by.Tx(TxType::kPutRecord, p);
  }

  TransactionRef GrantTx(Identity& by, const std::string& grantee, std::vector<std::string> types,
                         uint64_t expiry, std::vector<KeyRef> keys) {
    Grant g;
    g.patient = "pat";
    g.grantee = grantee;
    g.scope_types = types;
    g.purpose = "treatment";
    g.expiry_ms = expiry;
    g.keys = keys;
    g.keys_hash.fill(4);
    return by.Tx(TxType::kGrant, g);
  }

  TransactionRef ReadTx(Identity& by, const std::string& record, bool glass = false,
                        std::string reason = "") {
    ReadRecord r;
    r.record_id = record;
    r.purpose = "treatment";
    r.break_glass = glass;
    r.reason = std::move(reason);
    return by.Tx(TxType::kReadRecord, r);
  }

  // Applies one block at `time` with every signature checked.
  std::vector<TxResult> Block1(const std::vector<TransactionRef>& txs) {
    std::vector<bool> sig(txs.size());
    for (size_t i = 0; i < txs.size(); ++i) sig[i] = txs[i]->VerifySignature();
    StateDelta d(state);
    BlockContext ctx{++height, time, leaf, ChainParams{}};
    auto out = ApplyTransactions(ctx, txs, sig, d);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    d.ApplyTo(state);
    leaf += txs.size();
    last_first_leaf = ctx.first_leaf;
    return out.ok() ? out->results : std::vector<TxResult>{};
  }

  void Expect(const std::vector<TxResult>& got, const std::vector<TxCode>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].code, want[i]) << "tx " << i << ": " << got[i].reason;
    }
  }

  std::vector<AuditEntry> Audit() { return *StateView(state).PatientAudit("pat"); }

  Hash TxIdOfVersion(const std::string& id, uint32_t v) {
    return (*StateView(state).GetRecordVersion(id, v))->tx_id;
  }

  MemoryState state;
  uint64_t height = 0, time = 10000, leaf = 0, last_first_leaf = 0;
  Identity admin{"admin", Role::kAdmin};
  Identity org_a{"org-a", Role::kOrganisation};
  Identity org_b{"org-b", Role::kOrganisation};
  Identity dr_a{"dr-a", Role::kPractitioner};
  Identity dr_b{"dr-b", Role::kPractitioner};
  Identity dr_c{"dr-c", Role::kPractitioner};
  Identity dr_d{"dr-d", Role::kPractitioner};
  Identity patient{"pat", Role::kPatient};
  Identity auditor{"aud", Role::kAuditor};
};

TEST_F(PolicyTest, ReadPolicyTable) {
  // Grants: dr-b Observations (long), dr-c everything but expiring at 20000,
  // dr-d Observations then revoked.
  auto grant_d = GrantTx(patient, "dr-d", {"Observation"}, 1000000, {{"r1", 1}});
  Expect(Block1({GrantTx(patient, "dr-b", {"Observation"}, 1000000, {{"r1", 1}}),
                 GrantTx(patient, "dr-c", {"*"}, 20000, {{"r1", 1}, {"r2", 1}}), grant_d}),
         {TxCode::kOk, TxCode::kOk, TxCode::kOk});
  RevokeGrant rv{grant_d->id(), "changed my mind"};
  Expect(Block1({patient.Tx(TxType::kRevokeGrant, rv)}), {TxCode::kOk});
  time = 30000;  // dr-c's grant has lapsed by block time

  Identity stranger{"nobody", Role::kPractitioner};
  auto replayed = ReadTx(patient, "r1");
  struct Row {
    const char* name;
    TransactionRef tx;
    TxCode want;
    bool break_glass;
    const char* reason_piece;
  };
  std::vector<Row> rows = {
      {"patient reads", replayed, TxCode::kOk, false, ""},
      {"custodian reads", ReadTx(org_a, "r1"), TxCode::kOk, false, ""},
      {"grantee in scope reads", ReadTx(dr_b, "r1"), TxCode::kOk, false, ""},
      {"grantee out of scope", ReadTx(dr_b, "r2"), TxCode::kRefused, false, "scope"},
      {"expired grant", ReadTx(dr_c, "r1"), TxCode::kRefused, false, "expired"},
      {"revoked grant", ReadTx(dr_d, "r1"), TxCode::kRefused, false, "revoked"},
      {"no grant at all", ReadTx(dr_a, "r1"), TxCode::kRefused, false, "no active grant"},
      {"unknown key", ReadTx(stranger, "r1"), TxCode::kRefused, false, "no registered participant"},
      {"auditor is not a reader", ReadTx(auditor, "r1"), TxCode::kRefused, false,
       "no active grant"},
      {"break-glass by a practitioner", ReadTx(dr_a, "r2", true, "cardiac arrest"), TxCode::kOk,
       true, ""},
      {"break-glass by a patient", ReadTx(patient, "r2", true, "curious"), TxCode::kRefused, false,
       "practitioner"},
      {"break-glass without a reason", ReadTx(dr_a, "r2", true, ""), TxCode::kRefused, false,
       "reason"},
  };
  std::vector<TransactionRef> txs;
  for (const auto& r : rows) txs.push_back(r.tx);
  // The replay: the same signed request again, later in the block.
  txs.push_back(replayed);
  // A forged request: patient's key claimed, another key's signature.
  UnsignedTx f;
  f.type = TxType::kReadRecord;
  f.author = patient.sign.public_key();
  f.nonce = 777;
  ReadRecord fr;
  fr.record_id = "r1";
  fr.purpose = "x";
  f.body = EncodeBody(fr);
  txs.push_back(Transaction::FromParts(f, dr_a.sign.Sign(f.SigningMessage())));
  auto results = Block1(txs);
  ASSERT_EQ(results.size(), rows.size() + 2);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(results[i].code, rows[i].want) << rows[i].name << ": " << results[i].reason;
    EXPECT_EQ(results[i].break_glass, rows[i].break_glass) << rows[i].name;
    EXPECT_NE(results[i].reason.find(rows[i].reason_piece), std::string::npos)
        << rows[i].name << ": " << results[i].reason;
    if (rows[i].want == TxCode::kOk) {
      ASSERT_EQ(results[i].records.size(), 1u) << rows[i].name;
    } else {
      EXPECT_TRUE(results[i].records.empty()) << rows[i].name;
    }
  }
  EXPECT_EQ(results[rows.size()].code, TxCode::kInvalid);  // replay
  EXPECT_NE(results[rows.size()].reason.find("nonce"), std::string::npos);
  EXPECT_EQ(results[rows.size() + 1].code, TxCode::kInvalid);  // forged
  EXPECT_NE(results[rows.size() + 1].reason.find("signature"), std::string::npos);

  // Every read, granted or refused, is in the patient's audit trail with its
  // flags; the break-glass one is flagged.
  auto audit = Audit();
  size_t reads = 0, refused = 0, glass = 0;
  for (const auto& a : audit) {
    if (a.leaf_index < last_first_leaf) continue;
    ++reads;
    refused += (a.flags & kAuditRefused) != 0;
    glass += (a.flags & kAuditBreakGlass) != 0 && !(a.flags & kAuditRefused);
  }
  EXPECT_EQ(reads, rows.size());  // the replay and the forgery never became access events
  size_t want_refused = 0;
  for (const auto& r : rows) want_refused += r.want != TxCode::kOk;
  EXPECT_EQ(refused, want_refused);
  EXPECT_EQ(glass, 1u);
}

TEST_F(PolicyTest, SuspendedRequesterIsRefused) {
  Expect(Block1({GrantTx(patient, "dr-b", {"Observation"}, 1000000, {{"r1", 1}})}), {TxCode::kOk});
  UpdateParticipant s;
  s.id = "dr-b";
  s.op = UpdateOp::kSuspend;
  Expect(Block1({org_b.Tx(TxType::kUpdateParticipant, s)}), {TxCode::kOk});
  auto r = Block1({ReadTx(dr_b, "r1")});
  EXPECT_EQ(r[0].code, TxCode::kRefused);
  EXPECT_NE(r[0].reason.find("suspended"), std::string::npos) << r[0].reason;
  EXPECT_TRUE(Audit().back().flags & kAuditRefused);
  // Another organisation cannot reinstate dr-b; its own can.
  UpdateParticipant re;
  re.id = "dr-b";
  re.op = UpdateOp::kReinstate;
  Expect(
      Block1({org_a.Tx(TxType::kUpdateParticipant, re), org_b.Tx(TxType::kUpdateParticipant, re)}),
      {TxCode::kInvalid, TxCode::kOk});
  EXPECT_EQ(Block1({ReadTx(dr_b, "r1")})[0].code, TxCode::kOk);
}

TEST_F(PolicyTest, WhoMaySignWhat) {
  Identity p2{"pat2", Role::kPatient};
  Identity o3{"org-c", Role::kOrganisation};
  auto results = Block1({
      org_b.Tx(TxType::kRegisterParticipant,
               dr_a.Registration("org-a")),                          // other org's practitioner
      org_a.Tx(TxType::kRegisterParticipant, o3.Registration()),     // org registering an org
      patient.Tx(TxType::kRegisterParticipant, p2.Registration()),   // patient registering another
      GrantTx(dr_b, "dr-a", {"Observation"}, 1000000, {{"r1", 1}}),  // grant by a non-patient
      Put(dr_b, "r1", "Observation", {"dr-b", "org-a", "pat"}, 2,
          TxIdOfVersion("r1", 1)),          // other org's new version
      Put(patient, "r9", "Note", {"pat"}),  // patient's own note: allowed
  });
  Expect(results, {TxCode::kInvalid, TxCode::kInvalid, TxCode::kInvalid, TxCode::kInvalid,
                   TxCode::kInvalid, TxCode::kOk});
  EXPECT_NE(results[3].reason.find("only patient"), std::string::npos) << results[3].reason;
  EXPECT_NE(results[4].reason.find("custodian"), std::string::npos) << results[4].reason;
  // An erase by a stranger is refused; by the patient it goes through.
  EraseRecord e{"r1", "gdpr"};
  Expect(Block1({dr_b.Tx(TxType::kEraseRecord, e), patient.Tx(TxType::kEraseRecord, e)}),
         {TxCode::kInvalid, TxCode::kOk});
  auto read = Block1({ReadTx(patient, "r1")});
  EXPECT_EQ(read[0].code, TxCode::kRefused);
  EXPECT_NE(read[0].reason.find("erased at height"), std::string::npos) << read[0].reason;
  EXPECT_NE(read[0].reason.find("by pat"), std::string::npos) << read[0].reason;
}

TEST_F(PolicyTest, KeysFollowGrants) {
  // A grant must carry the grantee's key for every current record in scope.
  Expect(Block1({GrantTx(patient, "dr-b", {"Observation"}, 1000000, {})}), {TxCode::kInvalid});
  Expect(Block1({GrantTx(patient, "dr-b", {"Observation"}, 1000000, {{"r1", 1}, {"r2", 1}})}),
         {TxCode::kInvalid});  // r2 is not in scope
  Expect(Block1({GrantTx(patient, "dr-b", {"Observation"}, 1000000, {{"r1", 1}})}), {TxCode::kOk});
  // Later records in scope must be wrapped for the active grantee...
  auto r = Block1({Put(org_a, "r3", "Observation", {"org-a", "pat"})});
  EXPECT_EQ(r[0].code, TxCode::kInvalid);
  EXPECT_NE(r[0].reason.find("dr-b"), std::string::npos) << r[0].reason;
  Expect(Block1({Put(org_a, "r3", "Observation", {"dr-b", "org-a", "pat"}),
                 Put(org_a, "r4", "Condition", {"org-a", "pat"})}),  // out of scope: no need
         {TxCode::kOk, TxCode::kOk});
  // ... and expiry is judged by block time, not by any clock.
  time = 2000000;
  Expect(Block1({Put(org_a, "r5", "Observation", {"org-a", "pat"})}), {TxCode::kOk});
}

TEST_F(PolicyTest, VersionsFormAProvenanceChain) {
  Hash v1 = TxIdOfVersion("r1", 1);
  Expect(Block1({Put(dr_a, "r1", "Observation", {"dr-a", "org-a", "pat"}, 2, v1)}), {TxCode::kOk});
  Hash v2 = TxIdOfVersion("r1", 2);
  auto r = Block1(
      {Put(org_a, "r1", "Observation", {"org-a", "pat"}, 3, v1),  // supersedes the wrong version
       Put(org_a, "r1", "Observation", {"org-a", "pat"}, 4, v2),  // skips a version
       Put(org_a, "r1", "Condition", {"org-a", "pat"}, 3, v2),    // changes the type
       Put(org_a, "r1", "Observation", {"org-a", "pat"}, 3, v2)});
  Expect(r, {TxCode::kInvalid, TxCode::kInvalid, TxCode::kInvalid, TxCode::kOk});
  auto head = *StateView(state).GetRecord("r1");
  EXPECT_EQ(head->latest_version, 3u);
  EXPECT_EQ(head->custodian, "org-a");
  EXPECT_EQ((*StateView(state).GetRecordVersion("r1", 3))->supersedes_tx, v2);
}

}  // namespace
}  // namespace medchain::ledger
