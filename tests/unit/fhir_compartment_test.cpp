// Copyright (c) medchain developers.
// The Patient compartment: the definition is read as published, every one of
// its parameters is evaluable, and every Synthea resource of a compartment
// type is tied to its bundle's patient (and only to it), before and after
// reference resolution.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "fhir_test_util.h"
#include "medchain/fhir/bundle.h"
#include "medchain/fhir/compartment.h"

namespace medchain::fhir {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kTestData = MEDCHAIN_TESTDATA;
const fs::path kRepoRoot = fs::path(__FILE__).parent_path().parent_path().parent_path();

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

class FhirCompartment : public ::testing::Test {
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
  static inline std::shared_ptr<const Definitions> s_defs;
};

TEST_F(FhirCompartment, TypesAndParametersComeFromTheDefinition) {
  const std::vector<std::string>& types = defs().PatientCompartmentTypes();
  EXPECT_EQ(types.size(), 67u);
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  for (const char* t :
       {"Patient", "Observation", "Encounter", "Condition", "Claim", "ExplanationOfBenefit",
        "Immunization", "AuditEvent", "Provenance", "Consent", "CareTeam"}) {
    EXPECT_TRUE(InPatientCompartment(defs(), t)) << t;
  }
  for (const char* t : {"Organization", "Practitioner", "Medication", "Location", "Bundle"}) {
    EXPECT_FALSE(InPatientCompartment(defs(), t)) << t;
  }
  EXPECT_EQ(*defs().PatientCompartmentParams("Observation"),
            (std::vector<std::string>{"subject", "performer"}));
  EXPECT_EQ(*defs().PatientCompartmentParams("Patient"), (std::vector<std::string>{"link"}));
  // Every parameter of every compartment type is a reference search parameter
  // whose expression this module evaluates.
  size_t params = 0;
  for (const std::string& type : types) {
    for (const std::string& param : *defs().PatientCompartmentParams(type)) {
      const SearchParameter* sp = defs().FindSearchParameter(type, param);
      ASSERT_NE(sp, nullptr) << type << "." << param;
      EXPECT_EQ(sp->type, "reference") << type << "." << param;
      EXPECT_TRUE(sp->supported) << type << "." << param << ": " << sp->expression;
      ++params;
    }
  }
  EXPECT_EQ(params, 102u);  // as counted in compartmentdefinition-patient.json
  EXPECT_EQ(defs().FindSearchParameter("Condition", "patient")->expression,
            "Condition.subject.where(resolve() is Patient)");
}

TEST_F(FhirCompartment, LinksNameTheParameterAndElement) {
  json obs = ReadJson(kTestData / "fhir/examples/Observation-example.json");
  std::vector<CompartmentLink> links = PatientCompartmentLinks(defs(), obs);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].param, "subject");
  EXPECT_EQ(links[0].expression, "Observation.subject");
  EXPECT_EQ(links[0].reference, "Patient/example");

  // A performer that is a Patient ties too; a Group subject does not.
  obs["performer"] = {{{"reference", "Practitioner/f005"}}, {{"reference", "Patient/other"}}};
  obs["subject"] = {{"reference", "Group/g1"}};
  links = PatientCompartmentLinks(defs(), obs);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].param, "performer");
  EXPECT_EQ(links[0].reference, "Patient/other");

  // Reference.type, or a resolver, says what a urn:uuid: is.
  obs["subject"] = {{"reference", "urn:uuid:aa"}, {"type", "Patient"}};
  obs.erase("performer");
  EXPECT_EQ(PatientReferences(defs(), obs), (std::vector<std::string>{"urn:uuid:aa"}));
  obs["subject"] = {{"reference", "urn:uuid:aa"}};
  EXPECT_TRUE(PatientReferences(defs(), obs).empty());
  TypeResolver resolver = [](std::string_view ref) -> std::optional<std::string> {
    if (ref == "urn:uuid:aa") return "Patient";
    return std::nullopt;
  };
  EXPECT_EQ(PatientReferences(defs(), obs, resolver), (std::vector<std::string>{"urn:uuid:aa"}));

  // where(resolve() is Patient): Condition.subject may be a Group.
  json condition = ReadJson(kTestData / "fhir/examples/Condition-example.json");
  EXPECT_EQ(PatientReferences(defs(), condition), (std::vector<std::string>{"Patient/example"}));
  condition["subject"] = {{"reference", "Group/g"}};
  EXPECT_TRUE(PatientReferences(defs(), condition).empty());

  // Patient.link ties a patient to another patient's compartment.
  json patient = ReadJson(kTestData / "fhir/examples/Patient-example.json");
  EXPECT_TRUE(PatientCompartmentLinks(defs(), patient).empty());
  patient["link"] = {{{"other", {{"reference", "Patient/pat2"}}}, {"type", "seealso"}}};
  EXPECT_EQ(PatientReferences(defs(), patient), (std::vector<std::string>{"Patient/pat2"}));
  // Not in the compartment at all.
  EXPECT_TRUE(PatientCompartmentLinks(defs(), {{"resourceType", "Organization"}}).empty());
}

TEST_F(FhirCompartment, EverySyntheaResourceBelongsToItsPatient) {
  std::map<std::string, size_t> members;
  std::map<std::string, size_t> outside;
  for (const auto& file : fs::directory_iterator(kTestData / "fhir/synthea")) {
    SCOPED_TRACE(file.path().filename().string());
    Bundle bundle = *ParseBundle(ReadJson(file.path()));
    // Before resolution: urn:uuid: references, typed through the bundle.
    std::string patient_url;
    for (const BundleEntry& e : bundle.entries) {
      if (e.resource["resourceType"] == "Patient") {
        ASSERT_TRUE(patient_url.empty()) << "one patient per bundle";
        patient_url = e.full_url;
      }
    }
    ASSERT_FALSE(patient_url.empty());
    TypeResolver resolve = BundleTypeResolver(bundle);
    std::vector<std::vector<std::string>> before;
    for (const BundleEntry& e : bundle.entries) {
      before.push_back(PatientReferences(defs(), e.resource, resolve));
    }
    Result<ReferenceMap> map = ResolveBundleReferences(
        defs(), bundle, [n = 0](std::string_view, const BundleEntry&) mutable {
          return "r" + std::to_string(++n);
        });
    ASSERT_TRUE(map.ok());
    const std::string patient_ref = map->forward.at(patient_url);
    for (size_t i = 0; i < bundle.entries.size(); ++i) {
      const json& r = bundle.entries[i].resource;
      const std::string type = r["resourceType"];
      // After resolution the text alone says it ("Patient/r1").
      std::vector<std::string> after = PatientReferences(defs(), r);
      if (type == "Patient") {
        EXPECT_TRUE(after.empty());  // in its own compartment by identity, not by a link
        ++members[type];
      } else if (InPatientCompartment(defs(), type)) {
        EXPECT_EQ(after, std::vector<std::string>{patient_ref}) << type << " " << r["id"];
        EXPECT_EQ(before[i], std::vector<std::string>{patient_url}) << type;
        ++members[type];
      } else {
        EXPECT_TRUE(after.empty()) << type;
        ++outside[type];
      }
    }
  }
  EXPECT_EQ(members["Observation"], 1849u);
  EXPECT_EQ(members["Patient"], 8u);
  EXPECT_EQ(members["CareTeam"], 6u);
  EXPECT_EQ(outside, (std::map<std::string, size_t>{{"Organization", 15}, {"Practitioner", 15}}));
}

}  // namespace
}  // namespace medchain::fhir
