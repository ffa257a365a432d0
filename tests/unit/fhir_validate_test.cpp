// Copyright (c) medchain developers.
// FHIR definitions and validation: every official example and every Synthea
// resource is valid; a table of invalid resources is refused with the element
// named; limits hold; the schema from the npm package agrees with HL7's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "fhir_test_util.h"
#include "medchain/fhir/definitions.h"
#include "medchain/fhir/outcome.h"
#include "medchain/fhir/validate.h"

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

std::vector<fs::path> JsonFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// HL7's R4 schema from the shared test data; the other files from the npm
// package (scripts/fhir-definitions.sh).
class FhirValidate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = FindDefinitionsDirectory(kRepoRoot);
    if (!dir) return;
    s_dir = *dir;
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
  static inline fs::path s_dir;
};

TEST_F(FhirValidate, DefinitionsIndexR4) {
  EXPECT_EQ(defs().ResourceTypes().size(), 146u);
  EXPECT_TRUE(defs().IsResourceType("Observation"));
  EXPECT_TRUE(defs().IsResourceType("AuditEvent"));
  EXPECT_FALSE(defs().IsResourceType("Resource"));   // abstract
  EXPECT_FALSE(defs().IsResourceType("HumanName"));  // a data type
  EXPECT_FALSE(defs().IsResourceType("observation"));

  // Required primitives come from the StructureDefinitions (the schema cannot
  // require "status": "_status" may stand in for it).
  const DefinitionInfo* obs = defs().Definition("Observation");
  ASSERT_NE(obs, nullptr);
  EXPECT_EQ(obs->path, "Observation");
  auto has_group = [](const DefinitionInfo* d, std::vector<std::string> group) {
    return std::find(d->required.begin(), d->required.end(), group) != d->required.end();
  };
  EXPECT_TRUE(has_group(obs, {"status"}));
  EXPECT_TRUE(has_group(obs, {"code"}));
  const DefinitionInfo* detail = defs().Definition("AuditEvent_Detail");
  ASSERT_NE(detail, nullptr);
  EXPECT_EQ(detail->path, "AuditEvent.entity.detail");
  EXPECT_TRUE(has_group(detail, {"valueString", "valueBase64Binary"}));
  // Backbone elements map to their paths; a contentReference reuses one.
  EXPECT_EQ(defs().Definition("Bundle_Request")->path, "Bundle.entry.request");
  EXPECT_EQ(defs().Definition("Questionnaire_Item")->path, "Questionnaire.item");
  // profiles-types.json (present in the package) adds data types.
  EXPECT_TRUE(has_group(defs().Definition("Extension"), {"url"}));

  const ElementInfo* gender = defs().Definition("Patient")->Find("gender");
  ASSERT_NE(gender, nullptr);
  EXPECT_EQ(gender->codes, (std::vector<std::string>{"male", "female", "other", "unknown"}));
  const ElementInfo* name = defs().Definition("Patient")->Find("name");
  ASSERT_TRUE(name && name->target);
  EXPECT_TRUE(name->array);
  EXPECT_EQ(name->target->name, "HumanName");
  EXPECT_EQ(defs().Definition("date")->json_type, "string");
  EXPECT_FALSE(defs().Definition("date")->pattern.empty());
  EXPECT_EQ(defs().OperationUrl("Patient-everything"),
            "http://hl7.org/fhir/OperationDefinition/Patient-everything");
}

TEST_F(FhirValidate, EveryOfficialExampleIsValid) {
  size_t n = 0;
  for (const fs::path& file : JsonFiles(kTestData / "fhir/examples")) {
    json r = ReadJson(file);
    if (!r.contains("resourceType")) continue;  // the package's own package.json
    std::vector<Issue> issues = CheckResource(defs(), r);
    EXPECT_TRUE(issues.empty()) << file.filename() << ": " << issues.front().ToString();
    ++n;
  }
  EXPECT_EQ(n, 10u);
}

TEST_F(FhirValidate, EverySyntheaResourceIsValid) {
  size_t resources = 0;
  for (const fs::path& file : JsonFiles(kTestData / "fhir/synthea")) {
    json bundle = ReadJson(file);
    for (const json& entry : bundle["entry"]) {
      std::vector<Issue> issues = CheckResource(defs(), entry["resource"]);
      EXPECT_TRUE(issues.empty()) << file.filename() << " " << entry["fullUrl"] << ": "
                                  << issues.front().ToString();
      ++resources;
    }
    // The bundle as a whole too: every entry is validated as an embedded
    // resource of its own type.
    EXPECT_TRUE(Validate(defs(), bundle).ok()) << file.filename();
  }
  EXPECT_EQ(resources, 3024u);
}

// The schema shipped in the npm package (Medplum's copy, with Medplum's own
// resource types added) accepts the same data, and its extra types are not R4
// resource types here.
TEST_F(FhirValidate, PackageSchemaAgreesOnTheTestData) {
  auto loaded = Definitions::LoadDirectory(s_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Definitions& pkg = **loaded;
  EXPECT_EQ(pkg.ResourceTypes(), defs().ResourceTypes());
  EXPECT_FALSE(pkg.IsResourceType("Project"));  // a Medplum type in that schema
  EXPECT_FALSE(Validate(pkg, {{"resourceType", "Project"}, {"name", "x"}}).ok());
  for (const fs::path& file : JsonFiles(kTestData / "fhir/synthea")) {
    json bundle = ReadJson(file);
    EXPECT_TRUE(Validate(pkg, bundle).ok())
        << file.filename() << ": " << Validate(pkg, bundle).ToString();
  }
  for (const fs::path& file : JsonFiles(kTestData / "fhir/examples")) {
    json r = ReadJson(file);
    if (r.contains("resourceType")) {
      EXPECT_TRUE(Validate(pkg, r).ok()) << file.filename();
    }
  }
  // Its inlined value[x] patterns are applied too.
  json ext = {{"resourceType", "Patient"},
              {"extension", {{{"url", "http://x"}, {"valueDate", "2020-02-30x"}}}}};
  EXPECT_NE(
      Validate(pkg, ext).message().find("Patient.extension[0].valueDate: value does not match"),
      std::string::npos)
      << Validate(pkg, ext).ToString();
}

struct InvalidCase {
  const char* name;
  json resource;
  std::string expression;   // the element the issue must name
  std::string diagnostics;  // a part of its diagnostics
  std::string code;         // its IssueType
  std::string secret = {};  // a value that must not appear in the message
};

json DeepPatient(int levels) {
  json ext = {{"url", "http://example.org/leaf"}, {"valueString", "x"}};
  for (int i = 0; i < levels; ++i) {
    ext = {{"url", "http://example.org/n"}, {"extension", json::array({ext})}};
  }
  return {{"resourceType", "Patient"}, {"extension", json::array({ext})}};
}

TEST_F(FhirValidate, InvalidResourcesAreRefusedNamingTheElement) {
  const json code = {{"text", "weight"}};
  const std::vector<InvalidCase> cases = {
      {"unknown resourceType",
       {{"resourceType", "Spaceship"}},
       "resourceType",
       "'Spaceship' is not an R4 resource type",
       "not-supported"},
      {"no resourceType", {{"id", "a"}}, "resourceType", "missing required element", "required"},
      {"missing required primitive",
       {{"resourceType", "Observation"}, {"code", code}},
       "Observation.status",
       "missing required element",
       "required"},
      {"missing required complex",
       {{"resourceType", "Observation"}, {"status", "final"}},
       "Observation.code",
       "missing required element",
       "required"},
      {"missing nested required",
       {{"resourceType", "Observation"},
        {"status", "final"},
        {"code", code},
        {"component", {{{"valueString", "x"}}}}},
       "Observation.component[0].code",
       "missing required element",
       "required"},
      {"missing required choice",
       {{"resourceType", "AuditEvent"},
        {"type", {{"code", "rest"}}},
        {"agent", {{{"requestor", true}}}},
        {"source", {{"observer", {{"display", "n"}}}}},
        {"recorded", "2020-01-01T00:00:00Z"},
        {"entity", {{{"detail", {{{"type", "t"}}}}}}}},
       "AuditEvent.entity[0].detail[0].value[x]",
       "missing required element",
       "required"},
      {"wrong value type (string for boolean)",
       {{"resourceType", "Patient"}, {"active", "yes"}},
       "Patient.active",
       "wrong JSON type: expected a boolean",
       "structure",
       "yes"},
      {"wrong value type (number for date)",
       {{"resourceType", "Patient"}, {"birthDate", 19740101}},
       "Patient.birthDate",
       "wrong JSON type: expected a string (date)",
       "structure"},
      {"bad date",
       {{"resourceType", "Patient"}, {"birthDate", "1974-13-01"}},
       "Patient.birthDate",
       "value does not match the FHIR type 'date'",
       "value",
       "1974-13-01"},
      {"bad dateTime in a backbone element",
       {{"resourceType", "Patient"}, {"contact", {{{"period", {{"start", "yesterday"}}}}}}},
       "Patient.contact[0].period.start",
       "value does not match the FHIR type 'dateTime'",
       "value",
       "yesterday"},
      {"single value where an array is required",
       {{"resourceType", "Patient"}, {"name", {{"family", "Chalmers"}}}},
       "Patient.name",
       "wrong JSON type: expected an array",
       "structure",
       "Chalmers"},
      {"array where a single value is required",
       {{"resourceType", "Patient"}, {"birthDate", {"1974-12-25"}}},
       "Patient.birthDate",
       "wrong JSON type: expected a string (date)",
       "structure"},
      {"bad enum code",
       {{"resourceType", "Patient"}, {"gender", "robot"}},
       "Patient.gender",
       "code is not one of the allowed values (male, female, other, unknown)",
       "code-invalid",
       "robot"},
      {"unknown element",
       {{"resourceType", "Patient"}, {"favouriteColour", "blue"}},
       "Patient.favouriteColour",
       "unknown element",
       "structure",
       "blue"},
      {"unknown element whose name is not an element name",
       {{"resourceType", "Patient"}, {"John Smith, HIV+", true}},
       "Patient",
       "unknown element (not defined in Patient), name not shown",
       "structure",
       "John"},
      {"bad id (space)",
       {{"resourceType", "Patient"}, {"id", "has space"}},
       "Patient.id",
       "not a valid FHIR id",
       "value",
       "has space"},
      {"bad id (65 characters)",
       {{"resourceType", "Patient"}, {"id", std::string(65, 'a')}},
       "Patient.id",
       "not a valid FHIR id",
       "value"},
      {"empty array",
       {{"resourceType", "Patient"}, {"name", json::array()}},
       "Patient.name",
       "empty array",
       "structure"},
      {"empty object",
       {{"resourceType", "Patient"}, {"maritalStatus", json::object()}},
       "Patient.maritalStatus",
       "empty object",
       "structure"},
      {"integer with a fraction",
       {{"resourceType", "Observation"},
        {"status", "final"},
        {"code", code},
        {"valueInteger", 1.5}},
       "Observation.valueInteger",
       "value does not match the FHIR type 'integer'",
       "value"},
      {"extension without url",
       {{"resourceType", "Patient"}, {"extension", {{{"valueString", "x"}}}}},
       "Patient.extension[0].url",
       "missing required element",
       "required"},
      {"local reference without contained resource",
       {{"resourceType", "Observation"},
        {"status", "final"},
        {"code", code},
        {"subject", {{"reference", "#p1"}}}},
       "Observation.subject.reference",
       "ref-1",
       "invariant"},
      {"contained resource holding contained resources",
       {{"resourceType", "Observation"},
        {"status", "final"},
        {"code", code},
        {"contained",
         {{{"resourceType", "Patient"},
           {"id", "p1"},
           {"contained", {{{"resourceType", "Patient"}, {"id", "p2"}}}}}}},
        {"subject", {{"reference", "#p1"}}}},
       "Observation.contained[0].contained",
       "dom-2",
       "invariant"},
      {"contained resource of an unknown type",
       {{"resourceType", "Observation"},
        {"status", "final"},
        {"code", code},
        {"contained", {{{"resourceType", "Spaceship"}, {"id", "s"}}}}},
       "Observation.contained[0].resourceType",
       "not an R4 resource type",
       "not-supported"},
      {"invalid resource inside a bundle",
       {{"resourceType", "Bundle"},
        {"type", "collection"},
        {"entry", {{{"resource", {{"resourceType", "Observation"}, {"code", code}}}}}}},
       "Bundle.entry[0].resource.status",
       "missing required element",
       "required"},
      {"too deep", DeepPatient(40), "Patient", "nested deeper than 64 levels", "too-costly"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Issue> issues = CheckResource(defs(), c.resource);
    ASSERT_FALSE(issues.empty());
    auto it = std::find_if(issues.begin(), issues.end(),
                           [&](const Issue& i) { return i.expression == c.expression; });
    ASSERT_NE(it, issues.end()) << "first issue: " << issues.front().ToString();
    EXPECT_NE(it->diagnostics.find(c.diagnostics), std::string::npos) << it->ToString();
    EXPECT_EQ(it->code, c.code) << it->ToString();
    EXPECT_EQ(it->severity, "error");
    Status st = Validate(defs(), c.resource);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find(issues.front().expression), std::string::npos) << st.ToString();
    if (!c.secret.empty()) {
      for (const Issue& i : issues) {
        EXPECT_EQ(i.ToString().find(c.secret), std::string::npos)
            << "value leaked: " << i.ToString();
      }
    }
  }
}

TEST_F(FhirValidate, NonObjectsAndSizeLimitsAreRefused) {
  for (const json& value : {json::array(), json("Patient"), json(42), json()}) {
    std::vector<Issue> issues = CheckResource(defs(), value);
    ASSERT_EQ(issues.size(), 1u);
    EXPECT_EQ(issues[0].diagnostics, "resource is not a JSON object");
    EXPECT_TRUE(Validate(defs(), value).IsInvalidArgument());
  }
  ValidationLimits small;
  small.max_bytes = 1000;
  json big = {{"resourceType", "Patient"}, {"name", {{{"text", std::string(2000, 'x')}}}}};
  std::vector<Issue> issues = CheckResource(defs(), big, small);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].ToString(), "Patient: larger than 1000 bytes");
  EXPECT_EQ(issues[0].code, "too-long");
  EXPECT_EQ(Validate(defs(), big, small).code(), Code::kResourceExhausted);
  EXPECT_TRUE(Validate(defs(), big).ok());  // well within the default 8 MiB
  EXPECT_EQ(Validate(defs(), DeepPatient(40)).code(), Code::kResourceExhausted);
  EXPECT_TRUE(Validate(defs(), DeepPatient(20)).ok());  // 20 levels * 2 + 2 < 64
  small.max_issues = 2;
  json many = {{"resourceType", "Patient"},
               {"active", "yes"},
               {"gender", "robot"},
               {"birthDate", "then"},
               {"name", json::array()}};
  EXPECT_EQ(CheckResource(defs(), many).size(), 4u);
  EXPECT_EQ(CheckResource(defs(), many, small).size(), 2u);
  EXPECT_EQ(Validate(defs(), many).message(),
            "Patient.active: wrong JSON type: expected a boolean (and 3 more issues)");
}

// Patterns of long values are matched without recursion per character: with
// libstdc++'s backtracking executor a 50,000-character string already
// overflows an 8 MiB stack (release build); these are 4x that.
TEST_F(FhirValidate, LongValuesAreMatchedWithoutDeepRecursion) {
  constexpr size_t kLong = 200000;
  // R4's schema gives base64Binary no pattern; a 1 MiB attachment is fine.
  std::string b64;
  for (int i = 0; i < (1 << 20) / 4; ++i) b64 += "QUJD";
  json binary = {{"resourceType", "Binary"}, {"contentType", "text/plain"}, {"data", b64}};
  EXPECT_TRUE(Validate(defs(), binary).ok()) << Validate(defs(), binary).ToString();
  // uri: ^\S*$
  json doc = {{"resourceType", "Binary"},
              {"contentType", "text/plain"},
              {"securityContext", {{"reference", "https://x/" + std::string(kLong, 'u')}}}};
  EXPECT_TRUE(Validate(defs(), doc).ok());
  json patient = {{"resourceType", "Patient"}, {"name", {{{"text", std::string(kLong, 'a')}}}}};
  EXPECT_TRUE(Validate(defs(), patient).ok());
  patient["name"][0]["text"] = std::string(kLong, 'a') + "\v";  // \v is not allowed in strings
  EXPECT_EQ(Validate(defs(), patient).message(),
            "Patient.name[0].text: value does not match the FHIR type 'string'");
  json link = {{"resourceType", "Patient"},
               {"photo", {{{"url", std::string(kLong, 'u') + " x"}}}}};  // url: ^\S*$
  EXPECT_EQ(Validate(defs(), link).message(),
            "Patient.photo[0].url: value does not match the FHIR type 'url'");
}

TEST_F(FhirValidate, ValidationIsThreadSafe) {
  std::vector<json> resources;
  for (const fs::path& file : JsonFiles(kTestData / "fhir/synthea")) {
    json bundle = ReadJson(file);
    for (json& entry : bundle["entry"]) resources.push_back(std::move(entry["resource"]));
    if (resources.size() > 600) break;
  }
  // Every fourth one broken, so both outcomes are exercised concurrently.
  for (size_t i = 0; i < resources.size(); i += 4) resources[i]["id"] = "not valid!";
  std::vector<std::string> expected;
  for (const json& r : resources) expected.push_back(Validate(defs(), r).ToString());
  std::vector<std::thread> threads;
  std::vector<size_t> mismatches(4, 0);
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < resources.size() + t; ++i) {
        size_t k = i % resources.size();
        if (Validate(defs(), resources[k]).ToString() != expected[k]) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<size_t>(4, 0));
  EXPECT_NE(expected[0].find(".id: not a valid FHIR id"), std::string::npos) << expected[0];
}

TEST_F(FhirValidate, OperationOutcomesAreValidR4) {
  json obs = {{"resourceType", "Observation"}, {"code", {{"text", "x"}}}, {"foo", 1}};
  std::vector<Issue> issues = CheckResource(defs(), obs);
  ASSERT_EQ(issues.size(), 2u);
  json outcome = OperationOutcome(issues);
  EXPECT_TRUE(Validate(defs(), outcome).ok()) << Validate(defs(), outcome).ToString();
  EXPECT_EQ(outcome["issue"][0]["expression"][0], issues[0].expression);
  EXPECT_EQ(outcome["issue"][1]["code"], issues[1].code);

  json from_status = OperationOutcome(Validate(defs(), obs));
  EXPECT_TRUE(Validate(defs(), from_status).ok());
  EXPECT_EQ(from_status["issue"][0]["code"], "invalid");
  EXPECT_EQ(from_status["issue"][0]["expression"][0], "Observation.foo");
  EXPECT_EQ(from_status["issue"][0]["diagnostics"],
            "unknown element (not defined in Observation) (and 1 more issue)");

  json simple = OperationOutcome("error", "not-found", "Patient/123 does not exist");
  EXPECT_TRUE(Validate(defs(), simple).ok());
  EXPECT_FALSE(simple["issue"][0].contains("expression"));
  EXPECT_TRUE(Validate(defs(), OperationOutcome(std::vector<Issue>{})).ok());
  EXPECT_EQ(OperationOutcome(Status::PermissionDenied("no grant"))["issue"][0]["code"],
            "forbidden");
  EXPECT_EQ(IssueTypeFor(Code::kNotFound), "not-found");
  EXPECT_EQ(IssueTypeFor(Code::kResourceExhausted), "too-costly");
}

TEST(FhirJson, ParseJsonEnforcesLimitsBeforeParsing) {
  ValidationLimits limits;
  // 200,000 levels would overflow a recursive parser's stack.
  std::string deep(200000, '[');
  deep += std::string(200000, ']');
  Result<json> r = ParseJson(deep, limits);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(r.status().message(), "JSON nested deeper than 64 levels");
  // Brackets inside strings do not count.
  std::string in_string = "{\"a\":\"" + std::string(100, '[') + "\\\"[[\"}";
  ASSERT_TRUE(ParseJson(in_string, limits).ok());
  EXPECT_EQ(ParseJson(in_string, limits)->at("a").get<std::string>().size(), 103u);
  limits.max_bytes = 10;
  EXPECT_EQ(ParseJson("{\"resourceType\":\"Patient\"}", limits).status().message(),
            "JSON text larger than 10 bytes");
  Result<json> bad = ParseJson("{\"birthDate\": \"1974-12-25\",", {});
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_EQ(bad.status().message().find("1974"), std::string::npos) << bad.status().ToString();
}

TEST(FhirJson, IdFormat) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("example-1.2"));
  EXPECT_TRUE(IsValidId(std::string(64, 'Z')));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(std::string(65, 'Z')));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("a_b"));
  EXPECT_FALSE(IsValidId("é"));
}

TEST(FhirDefinitionsLoad, BadFilesAreRefusedNamingTheFile) {
  fs::path dir = fs::temp_directory_path() / ("mc_fhir_defs_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  DefinitionPaths paths;
  paths.schema = dir / "missing.json";
  paths.profiles_resources = dir / "p.json";
  paths.search_parameters = dir / "s.json";
  paths.compartment_patient = dir / "c.json";
  Result<std::shared_ptr<const Definitions>> r = Definitions::Load(paths);
  EXPECT_EQ(r.status().code(), Code::kIOError);
  EXPECT_NE(r.status().message().find("missing.json"), std::string::npos);

  { std::ofstream(dir / "bad.json") << "{\"definitions\": "; }
  paths.schema = dir / "bad.json";
  r = Definitions::Load(paths);
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("bad.json: not valid JSON"), std::string::npos)
      << r.status().ToString();

  { std::ofstream(dir / "schema.json") << "{\"definitions\": {}}"; }
  { std::ofstream(dir / "p.json") << "{\"resourceType\": \"Bundle\", \"entry\": [{\"a\": 1}"; }
  paths.schema = dir / "schema.json";
  r = Definitions::Load(paths);
  EXPECT_NE(r.status().message().find("p.json: not valid JSON"), std::string::npos)
      << r.status().ToString();

  { std::ofstream(dir / "p.json") << "{\"resourceType\": \"Patient\"}"; }
  paths.schema = dir / "schema.json";
  r = Definitions::Load(paths);
  EXPECT_NE(r.status().message().find("p.json: not a Bundle with entries"), std::string::npos)
      << r.status().ToString();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace medchain::fhir
