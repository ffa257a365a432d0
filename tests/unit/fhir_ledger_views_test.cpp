// Copyright (c) medchain developers.
// The ledger as FHIR: generated AuditEvent, Provenance, Consent and
// CapabilityStatement resources are valid R4 (by this module's validator),
// carry the transaction id and proof link, and are found by the searches the
// facade offers for them.
#include <gtest/gtest.h>

#include <filesystem>

#include "fhir_test_util.h"
#include "medchain/fhir/ledger_views.h"
#include "medchain/fhir/search.h"
#include "medchain/fhir/validate.h"

namespace medchain::fhir {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kTestData = MEDCHAIN_TESTDATA;
const fs::path kRepoRoot = fs::path(__FILE__).parent_path().parent_path().parent_path();
const std::string kTx(64, 'a');
const std::string kTx2 = std::string(63, 'b') + "c";

class FhirLedgerViews : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = FindDefinitionsDirectory(kRepoRoot);
    if (!dir) return;
    DefinitionPaths paths = DefinitionPaths::FromDirectory(*dir);
    paths.schema = kTestData / "fhir/schema/fhir.schema.json";
    auto loaded = Definitions::Load(paths);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    s_defs = *loaded;
  }
  static void TearDownTestSuite() { s_defs.reset(); }
  void SetUp() override {
    MEDCHAIN_NEED_FHIR_DEFINITIONS(s_defs);
  }
  const Definitions& defs() const { return *s_defs; }

  void ExpectValid(const json& resource) {
    std::vector<Issue> issues = CheckResource(defs(), resource);
    EXPECT_TRUE(issues.empty()) << issues.front().ToString() << "\n" << resource.dump(1);
  }
  bool Found(const char* type, const char* param, const std::string& value, const json& r) {
    Result<SearchQuery> q = ParseSearch(defs(), type, {{param, value}});
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return q.ok() && Matches(*q, r);
  }

  ViewContext ctx_{"/v1/proofs/inclusion", "node-1", "General Hospital"};
  static inline std::shared_ptr<const Definitions> s_defs;
};

const json* DetailOf(const json& event, const std::string& type) {
  for (const json& entity : event["entity"]) {
    if (!entity.contains("detail")) continue;
    for (const json& d : entity["detail"]) {
      if (d["type"] == type) return &d;
    }
  }
  return nullptr;
}

const json* SubExtension(const json& resource, const std::string& url) {
  for (const json& ext : resource["extension"]) {
    if (ext["url"] != kLedgerExtensionUrl) continue;
    for (const json& sub : ext["extension"]) {
      if (sub["url"] == url) return &sub;
    }
  }
  return nullptr;
}

AccessEventView Read() {
  AccessEventView v;
  v.tx_id = kTx;
  v.height = 12;
  v.leaf_index = 345;
  v.time_ms = 1700000000123;
  v.requester_id = "dr-who";
  v.requester_role = "practitioner";
  v.patient_id = "p1";
  v.record_id = "r1";
  v.record_type = "Observation";
  v.purpose = "TREAT";
  v.granted = true;
  return v;
}

TEST_F(FhirLedgerViews, AuditEventForGrantedRefusedAndBreakGlassReads) {
  Result<json> granted = AuditEventFor(Read(), ctx_);
  ASSERT_TRUE(granted.ok()) << granted.status().ToString();
  ExpectValid(*granted);
  const json& e = *granted;
  EXPECT_EQ(e["id"], kTx);
  EXPECT_EQ(e["type"]["code"], "rest");
  EXPECT_EQ(e["subtype"][0]["code"], "read");
  EXPECT_EQ(e["action"], "R");
  EXPECT_EQ(e["outcome"], "0");
  EXPECT_FALSE(e.contains("outcomeDesc"));
  EXPECT_EQ(e["recorded"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(e["agent"][0]["requestor"], true);
  EXPECT_EQ(e["agent"][0]["who"]["identifier"]["value"], "dr-who");
  EXPECT_EQ(e["agent"][0]["who"]["type"], "Practitioner");
  EXPECT_EQ(e["source"]["observer"]["identifier"]["value"], "node-1");
  EXPECT_EQ(e["purposeOfEvent"][0]["coding"][0]["code"], "TREAT");
  EXPECT_FALSE(e["meta"].contains("security"));
  ASSERT_NE(DetailOf(e, "tx"), nullptr);
  EXPECT_EQ((*DetailOf(e, "tx"))["valueString"], kTx);
  EXPECT_EQ((*DetailOf(e, "height"))["valueString"], "12");
  EXPECT_EQ((*DetailOf(e, "leaf-index"))["valueString"], "345");
  EXPECT_EQ((*DetailOf(e, "inclusion-proof"))["valueString"], "/v1/proofs/inclusion?tx=" + kTx);
  EXPECT_EQ(e["entity"][1]["what"]["reference"], "Observation/r1");
  // The facade's AuditEvent?patient= finds it, for its patient only.
  EXPECT_TRUE(Found("AuditEvent", "patient", "p1", e));
  EXPECT_FALSE(Found("AuditEvent", "patient", "p2", e));

  AccessEventView refused = Read();
  refused.granted = false;
  refused.refusal_reason = "no active grant covers Observation";
  Result<json> r = AuditEventFor(refused, ctx_);
  ASSERT_TRUE(r.ok());
  ExpectValid(*r);
  EXPECT_EQ((*r)["outcome"], "4");
  EXPECT_EQ((*r)["outcomeDesc"], "no active grant covers Observation");

  AccessEventView glass = Read();
  glass.break_glass = true;
  glass.break_glass_reason = "unconscious patient in the emergency room";
  glass.purpose = "emergency care";
  Result<json> g = AuditEventFor(glass, ctx_);
  ASSERT_TRUE(g.ok());
  ExpectValid(*g);
  EXPECT_EQ((*g)["meta"]["security"][0]["code"], "BTG");
  EXPECT_EQ((*g)["purposeOfEvent"][0]["text"], "emergency care");
  EXPECT_EQ((*g)["purposeOfEvent"][0]["coding"][0]["system"], kPurposeSystem);
  EXPECT_EQ((*g)["purposeOfEvent"][1]["coding"][0]["code"], "ETREAT");
  EXPECT_EQ((*g)["purposeOfEvent"][1]["text"], "unconscious patient in the emergency room");

  AccessEventView free_text = Read();  // not a code (a tab): text only
  free_text.purpose = "care\tcoordination";
  Result<json> f = AuditEventFor(free_text, ctx_);
  ASSERT_TRUE(f.ok());
  ExpectValid(*f);
  EXPECT_FALSE((*f)["purposeOfEvent"][0].contains("coding"));
  EXPECT_EQ((*f)["purposeOfEvent"][0]["text"], "care\tcoordination");

  AccessEventView by_type = Read();  // a read of all Observations of the patient
  by_type.record_id.clear();
  by_type.requester_role = "auditor";
  Result<json> t = AuditEventFor(by_type, ctx_);
  ASSERT_TRUE(t.ok());
  ExpectValid(*t);
  EXPECT_EQ((*t)["entity"][1]["role"]["code"], "24");  // Query
  EXPECT_FALSE((*t)["agent"][0]["who"].contains("type"));

  AccessEventView bad = Read();
  bad.patient_id = "has space";
  EXPECT_EQ(AuditEventFor(bad, ctx_).status().message(),
            "AccessEventView.patient_id: not a valid FHIR id");
  bad = Read();
  bad.tx_id = "";
  EXPECT_EQ(AuditEventFor(bad, ctx_).status().message(),
            "AccessEventView.tx_id: not a valid FHIR id");
}

RecordVersionView Version(uint32_t version, const std::string& tx) {
  RecordVersionView v;
  v.record_id = "r1";
  v.version = version;
  v.supersedes_tx_id = version > 1 ? kTx : "";
  v.patient_id = "p1";
  v.custodian_id = "org-general-hospital";
  v.author_key_hex = std::string(64, 'f');
  v.resource_type = "Observation";
  v.time_ms = 1700000000000 + version;
  v.tx_id = tx;
  v.ciphertext_hash_hex = std::string(64, '0');
  return v;
}

TEST_F(FhirLedgerViews, ProvenanceForVersionsAndErasure) {
  Result<json> v1 = ProvenanceFor(Version(1, kTx), ctx_);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ExpectValid(*v1);
  EXPECT_EQ((*v1)["id"], kTx);
  EXPECT_EQ((*v1)["target"][0]["reference"], "Observation/r1/_history/1");
  EXPECT_EQ((*v1)["activity"]["coding"][0]["code"], "CREATE");
  EXPECT_FALSE(v1->contains("entity"));
  EXPECT_EQ((*v1)["agent"][0]["type"]["coding"][0]["code"], "custodian");
  EXPECT_EQ((*v1)["agent"][0]["who"]["identifier"]["value"], "org-general-hospital");
  EXPECT_EQ((*v1)["agent"][1]["who"]["identifier"]["system"], kAuthorKeySystem);
  ASSERT_NE(SubExtension(*v1, "tx"), nullptr);
  EXPECT_EQ((*SubExtension(*v1, "tx"))["valueString"], kTx);
  EXPECT_EQ((*SubExtension(*v1, "inclusion-proof"))["valueUrl"], "/v1/proofs/inclusion?tx=" + kTx);
  EXPECT_EQ((*SubExtension(*v1, "ciphertext-sha256"))["valueString"], std::string(64, '0'));

  Result<json> v2 = ProvenanceFor(Version(2, kTx2), ctx_);
  ASSERT_TRUE(v2.ok());
  ExpectValid(*v2);
  EXPECT_EQ((*v2)["activity"]["coding"][0]["code"], "UPDATE");
  EXPECT_EQ((*v2)["entity"][0]["role"], "revision");
  EXPECT_EQ((*v2)["entity"][0]["what"]["reference"], "Observation/r1/_history/1");
  EXPECT_EQ((*v2)["entity"][0]["what"]["identifier"]["value"], kTx);
  // Provenance?target=Observation/r1 finds every version.
  EXPECT_TRUE(Found("Provenance", "target", "Observation/r1", *v1));
  EXPECT_TRUE(Found("Provenance", "target", "Observation/r1", *v2));
  EXPECT_FALSE(Found("Provenance", "target", "Observation/r2", *v2));

  RecordVersionView erased = Version(2, kTx2);
  EXPECT_EQ(ErasureProvenanceFor(erased, ctx_).status().code(), Code::kFailedPrecondition);
  erased.erased = true;
  erased.erased_time_ms = 1800000000000;
  erased.erased_by = "p1";
  erased.erased_tx_id = std::string(64, 'e');
  Result<json> gone = ErasureProvenanceFor(erased, ctx_);
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  ExpectValid(*gone);
  EXPECT_EQ((*gone)["activity"]["coding"][0]["code"], "DELETE");
  EXPECT_EQ((*gone)["target"][0]["reference"], "Observation/r1");
  EXPECT_EQ((*gone)["recorded"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ((*SubExtension(*gone, "tx"))["valueString"], std::string(64, 'e'));
  // One erasure per record: the same id from any of its versions.
  RecordVersionView erased_v1 = Version(1, kTx);
  erased_v1.erased = true;
  EXPECT_EQ((*ErasureProvenanceFor(erased_v1, ctx_))["id"], (*gone)["id"]);
  EXPECT_EQ((*gone)["id"].get<std::string>().size(), 64u);
  EXPECT_NE((*gone)["id"], kTx2);
  EXPECT_TRUE(Found("Provenance", "target", "Observation/r1", *gone));

  RecordVersionView no_agent = Version(1, kTx);
  no_agent.custodian_id.clear();
  no_agent.author_key_hex.clear();
  EXPECT_FALSE(ProvenanceFor(no_agent, ctx_).ok());
  RecordVersionView zero = Version(1, kTx);
  zero.version = 0;
  EXPECT_EQ(ProvenanceFor(zero, ctx_).status().message(),
            "RecordVersionView.version: must be >= 1");
}

GrantView Grant(const std::string& status) {
  GrantView g;
  g.grant_id = "g1";
  g.tx_id = kTx;
  g.patient_id = "p1";
  g.grantee_id = "dr-who";
  g.scope_types = {"Observation", "Condition"};
  g.scope_record_ids = {"r1"};
  g.purpose = "TREAT";
  g.created_ms = 1700000000000;
  g.expiry_ms = 1731536000000;
  g.status = status;
  return g;
}

TEST_F(FhirLedgerViews, ConsentForGrantsInEachState) {
  Result<json> active = ConsentFor(Grant("active"), ctx_);
  ASSERT_TRUE(active.ok()) << active.status().ToString();
  ExpectValid(*active);
  const json& c = *active;
  EXPECT_EQ(c["id"], "g1");
  EXPECT_EQ(c["status"], "active");
  EXPECT_EQ(c["scope"]["coding"][0]["code"], "patient-privacy");
  EXPECT_EQ(c["patient"]["reference"], "Patient/p1");
  EXPECT_EQ(c["provision"]["type"], "permit");
  EXPECT_EQ(c["provision"]["period"]["start"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(c["provision"]["period"]["end"], "2024-11-13T22:13:20.000Z");
  EXPECT_EQ(c["provision"]["actor"][0]["reference"]["identifier"]["value"], "dr-who");
  EXPECT_EQ(c["provision"]["purpose"][0]["code"], "TREAT");
  EXPECT_EQ(c["provision"]["class"][1]["code"], "Condition");
  EXPECT_EQ(c["provision"]["data"][0]["reference"]["identifier"]["value"], "r1");
  EXPECT_EQ((*SubExtension(c, "tx"))["valueString"], kTx);
  EXPECT_TRUE(Found("Consent", "patient", "p1", c));
  EXPECT_FALSE(Found("Consent", "patient", "p2", c));

  GrantView revoked = Grant("revoked");
  revoked.revoked_ms = 1710000000000;
  Result<json> r = ConsentFor(revoked, ctx_);
  ASSERT_TRUE(r.ok());
  ExpectValid(*r);
  EXPECT_EQ((*r)["status"], "inactive");
  EXPECT_EQ((*r)["meta"]["lastUpdated"], "2024-03-09T16:00:00.000Z");
  EXPECT_EQ((*r)["extension"][1]["url"], kRevokedExtensionUrl);
  EXPECT_EQ((*r)["extension"][1]["valueDateTime"], "2024-03-09T16:00:00.000Z");

  Result<json> expired = ConsentFor(Grant("expired"), ctx_);
  ASSERT_TRUE(expired.ok());
  ExpectValid(*expired);
  EXPECT_EQ((*expired)["status"], "inactive");
  EXPECT_EQ((*expired)["extension"].size(), 1u);

  GrantView open = Grant("active");  // no expiry, no scope: the whole record set
  open.expiry_ms = 0;
  open.scope_types.clear();
  open.scope_record_ids.clear();
  Result<json> o = ConsentFor(open, ctx_);
  ASSERT_TRUE(o.ok());
  ExpectValid(*o);
  EXPECT_FALSE((*o)["provision"]["period"].contains("end"));
  EXPECT_FALSE((*o)["provision"].contains("class"));

  EXPECT_EQ(ConsentFor(Grant("paused"), ctx_).status().message(),
            "GrantView.status: expected active, revoked or expired");
}

TEST_F(FhirLedgerViews, CapabilityStatementListsTheFacade) {
  json cs = CapabilityStatement(defs(), {"https://node.example/fhir/r4", "0.1.0", 1700000000000});
  ExpectValid(cs);
  EXPECT_EQ(cs["fhirVersion"], "4.0.1");
  EXPECT_EQ(cs["kind"], "instance");
  EXPECT_EQ(cs["implementation"]["url"], "https://node.example/fhir/r4");
  EXPECT_EQ(cs["software"]["version"], "0.1.0");
  const json& rest = cs["rest"][0];
  EXPECT_EQ(rest["mode"], "server");
  EXPECT_EQ(rest["interaction"][0]["code"], "transaction");
  std::map<std::string, json> by_type;
  for (const json& r : rest["resource"]) by_type[r["type"]] = r;
  EXPECT_EQ(by_type.size(), RecordResourceTypes(defs()).size() + 3);
  auto codes = [](const json& r, const char* key, const char* field) {
    std::vector<std::string> out;
    for (const json& x : r[key]) out.push_back(x[field]);
    return out;
  };
  const json& obs = by_type.at("Observation");
  EXPECT_EQ(codes(obs, "interaction", "code"),
            (std::vector<std::string>{"read", "vread", "update", "history-instance", "create",
                                      "search-type"}));
  EXPECT_EQ(codes(obs, "searchParam", "name"),
            (std::vector<std::string>{"_id", "_lastUpdated", "patient"}));
  EXPECT_EQ(obs["searchParam"][2]["definition"],
            "http://hl7.org/fhir/SearchParameter/clinical-patient");
  const json& patient = by_type.at("Patient");
  EXPECT_EQ(patient["operation"][0]["name"], "everything");
  EXPECT_EQ(patient["operation"][0]["definition"],
            "http://hl7.org/fhir/OperationDefinition/Patient-everything");
  EXPECT_EQ(codes(patient, "searchParam", "name"),
            (std::vector<std::string>{"_id", "_lastUpdated"}));
  EXPECT_TRUE(by_type.count("Organization"));  // Synthea's organizations are records too
  EXPECT_FALSE(by_type.count("Bundle"));
  for (const char* view : {"AuditEvent", "Provenance", "Consent"}) {
    EXPECT_EQ(codes(by_type.at(view), "interaction", "code"),
              (std::vector<std::string>{"read", "search-type"}))
        << view;
  }
  EXPECT_EQ(codes(by_type.at("Provenance"), "searchParam", "name"),
            (std::vector<std::string>{"target", "patient"}));
  EXPECT_EQ(codes(by_type.at("AuditEvent"), "searchParam", "name"),
            std::vector<std::string>{"patient"});
}

}  // namespace
}  // namespace medchain::fhir
