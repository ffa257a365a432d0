// Copyright (c) medchain developers.
// medchain demo --node URL --dir DEVDIR: sample data on a dev network, the
// whole story in a few seconds: a practitioner and a patient join, records
// are written encrypted, the patient grants access, reads are audited, and
// the audit trail is checked against the signed log.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/records.h"
#include "medchain/core/merkle.h"

namespace medchain::cli {
namespace {

namespace fs = std::filesystem;

struct DemoArgs {
  std::string node = DefaultNodeUrl();
  std::string dir = "./medchain-dev";
  std::string examples;  // FHIR example resources to use as records
};

const char* const kFallbackRecords[][2] = {
    {"Observation",
     R"({"resourceType":"Observation","status":"final","code":{"text":"Body weight"},"valueQuantity":{"value":72.5,"unit":"kg"}})"},
    {"Condition",
     R"({"resourceType":"Condition","clinicalStatus":{"coding":[{"code":"active"}]},"code":{"text":"Hypertension"}})"},
    {"AllergyIntolerance",
     R"({"resourceType":"AllergyIntolerance","code":{"text":"Cashew nuts"}})"},
};

Result<crypto::KeyMaterial> EnsureKey(const fs::path& path, const std::string& id) {
  if (!fs::exists(path)) {
    auto k = crypto::KeyMaterial::Generate(id, id);
    MC_RETURN_IF_ERROR(
        crypto::WriteKeyFile(path.string(), k, "dev", crypto::KdfParams::Interactive()));
  }
  return crypto::ReadKeyFile(path.string(), "dev");
}

Status Ok(const Result<Json>& r, const char* what) {
  if (!r.ok()) return r.status().Prefixed(what);
  if ((*r)["result"].value("code", "ok") != "ok") {
    return Status::FailedPrecondition(std::string(what) + ": " +
                                      (*r)["result"].value("reason", ""));
  }
  return Status::Ok();
}

Status Register(NodeClient& node, const crypto::KeyMaterial& by, const crypto::KeyMaterial& who,
                const std::string& id, ledger::Role role, const std::string& org,
                const std::string& name) {
  if (node.GetJson("/v1/participants/" + id).ok()) return Status::Ok();  // from an earlier run
  ledger::RegisterParticipant r;
  r.id = id;
  r.role = role;
  r.organisation = org;
  r.sign_key = who.signing.public_key();
  r.box_key = who.encryption.public_key();
  r.display_name = name;
  return Ok(node.Submit(*MakeTx(by, ledger::TxType::kRegisterParticipant, ledger::EncodeBody(r)),
                        nullptr, true),
            "registering");
}

int Run(const DemoArgs& a) {
  fs::path keys = fs::path(a.dir) / "keys";
  std::string org_id;
  for (const auto& e : fs::directory_iterator(keys)) {
    std::string stem = e.path().stem().string();
    if (stem != "admin" && stem.rfind("node-", 0) != 0 && stem.rfind("dr-", 0) != 0 &&
        stem.rfind("pat-", 0) != 0) {
      org_id = stem;
      break;
    }
  }
  if (org_id.empty()) return Fail("no organisation key in " + keys.string(), kExitUsage);
  auto org = crypto::ReadKeyFile((keys / (org_id + ".key")).string(), "dev");
  if (!org.ok()) return Fail(org.status().message(), kExitUsage);
  auto dr = EnsureKey(keys / "dr-demo.key", "dr-demo");
  auto pat = EnsureKey(keys / "pat-demo.key", "pat-demo");
  if (!dr.ok() || !pat.ok()) return Fail("cannot create the demo keys");
  NodeClient node(a.node);
  node.SignAs(*org);  // the organisation writes the records and reads what that needs
  Status s = Register(node, *org, *dr, "dr-demo", ledger::Role::kPractitioner, org_id, "Dr Demo");
  if (s.ok()) s = Register(node, *pat, *pat, "pat-demo", ledger::Role::kPatient, "", "");
  if (!s.ok()) return Fail(s.message());
  std::cout << "participants: " << org_id
            << " (organisation), dr-demo (practitioner), pat-demo (patient)\n";

  // Records: FHIR examples when available, small built-in ones otherwise.
  std::vector<std::pair<std::string, std::string>> records;
  for (const char* name :
       {"Observation-example.json", "Condition-example.json", "AllergyIntolerance-example.json"}) {
    std::ifstream in(fs::path(a.examples) / name);
    if (!in) continue;
    std::stringstream ss;
    ss << in.rdbuf();
    records.emplace_back(std::string(name).substr(0, std::string(name).find('-')), ss.str());
  }
  if (records.empty()) {
    for (const auto& r : kFallbackRecords) records.emplace_back(r[0], r[1]);
  }
  std::vector<std::string> ids;
  for (const auto& [type, body] : records) {
    std::string id = NewRecordId();
    auto out = PutRecord(node, *org, org_id, "pat-demo", type, id, AsBytes(body));
    if (!(s = Ok(out, "writing a record")).ok()) return Fail(s.message());
    ids.push_back(id);
    std::cout << "wrote " << type << " as encrypted record " << id << "\n";
  }
  // The patient grants the practitioner Observations for a week.
  ledger::Grant g;
  g.patient = "pat-demo";
  g.grantee = "dr-demo";
  g.scope_types = {"Observation"};
  g.purpose = "treatment";
  g.expiry_ms = NowMs() + 7ULL * 86400000ULL;
  auto grant = SubmitGrant(node, *pat, "pat-demo", g);
  if (!(s = Ok(grant, "granting")).ok()) return Fail(s.message());
  std::cout << "pat-demo granted dr-demo access to Observations for 7 days (grant "
            << grant->value("id", "").substr(0, 16) << ")\n";

  // The practitioner reads an Observation: committed access event, then decrypts.
  ledger::ReadRecord rr;
  rr.record_id = ids[0];
  rr.purpose = "treatment";
  auto read = node.Read(*MakeTx(*dr, ledger::TxType::kReadRecord, ledger::EncodeBody(rr)));
  if (!read.ok()) return Fail(read.status().message());
  const Json& rec = (*read)["records"][0];
  auto dk = OpenDataKey(*dr, FromBase64(rec.value("wrapped_key", "")).value_or(Bytes{}));
  if (!dk.ok()) return Fail(dk.status().message());
  auto plain = OpenRecord(*dk, FromBase64(rec.value("ciphertext", "")).value_or(Bytes{}), ids[0],
                          rec.value("version", 1U), "pat-demo", nullptr);
  if (!plain.ok()) return Fail(plain.status().message());
  std::cout << "dr-demo read " << ids[0] << " (" << plain->size()
            << " bytes of FHIR JSON, decrypted locally)\n";
  // ... and is refused a Condition (out of scope): recorded too.
  ledger::ReadRecord denied;
  denied.record_id = ids.size() > 1 ? ids[1] : ids[0];
  denied.purpose = "curiosity";
  auto refused = node.Read(*MakeTx(*dr, ledger::TxType::kReadRecord, ledger::EncodeBody(denied)));
  std::cout << "dr-demo reading a Condition: "
            << (refused.ok() ? "allowed?!" : "refused, and recorded") << "\n";

  // The audit trail, each entry proven against the signed log.
  NodeClient patient_node(a.node);  // the trail is the patient's to read
  patient_node.SignAs(*pat);
  auto audit = patient_node.GetJson("/v1/patients/pat-demo/audit?proofs=1");
  if (!audit.ok()) return Fail(audit.status().message());
  size_t proven = 0;
  for (const auto& e : (*audit)["entries"]) {
    const Json& p = e["proof"];
    std::vector<Hash> path;
    for (const auto& h : p["hashes"])
      path.push_back(HashFromHex(h.get<std::string>()).value_or(Hash{}));
    if (merkle::VerifyInclusion(HashFromHex(p.value("leaf_hash", "")).value_or(Hash{}),
                                e.value("leaf_index", 0ULL), p.value("size", 0ULL), path,
                                HashFromHex(p.value("root", "")).value_or(Hash{}))
            .ok()) {
      ++proven;
    }
  }
  std::cout << "audit trail of pat-demo: " << (*audit)["entries"].size() << " entries, " << proven
            << " with verified inclusion proofs\n"
            << "try:  medchain audit --node " << a.node << " --patient pat-demo --proofs\n";
  return proven == (*audit)["entries"].size() ? kExitOk : kExitFail;
}

CommandGroup g_demo("demo", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<DemoArgs>();
  auto* c =
      app.add_subcommand("demo", "Load sample data into a dev network and walk through the story");
  c->add_option("--node", a->node, "node API URL ($MEDCHAIN_NODE)");
  c->add_option("--dir", a->dir, "the dev network folder (its keys/, passphrase dev)");
  c->add_option("--examples", a->examples,
                "folder of FHIR example resources (e.g. ../shared/testdata/fhir/examples)");
  c->callback([a, &rc] { rc = Run(*a); });
});

}  // namespace
}  // namespace medchain::cli
