// Copyright (c) medchain developers.
// Search: the FHIRPath subset, date ranges, query parsing against the R4
// SearchParameters, matching on Synthea resources, and the searchset Bundle.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fhir_test_util.h"
#include "medchain/fhir/bundle.h"
#include "medchain/fhir/datetime.h"
#include "medchain/fhir/fhirpath.h"
#include "medchain/fhir/search.h"
#include "medchain/fhir/validate.h"

namespace medchain::fhir {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Params = std::vector<std::pair<std::string, std::string>>;

const fs::path kTestData = MEDCHAIN_TESTDATA;
const fs::path kRepoRoot = fs::path(__FILE__).parent_path().parent_path().parent_path();

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

TEST(FhirPathSubset, CompilesTheFormsOfSearchParameters) {
  struct Case {
    const char* text;
    const char* type;
    size_t steps;
  } ok[] = {
      {"Observation.subject", "Observation", 1},
      {"Observation.subject.where(resolve() is Patient)", "Observation", 2},
      {"(Composition.relatesTo.target as Reference)", "Composition", 2},
      {"Observation.value.as(Quantity)", "Observation", 1},
      {"ActivityDefinition.relatedArtifact.where(type='composed-of').resource",
       "ActivityDefinition", 3},
      {"Bundle.entry[0].resource", "Bundle", 3},
      {"Resource.id", "Resource", 1},
  };
  for (const Case& c : ok) {
    Result<FhirPath> p = CompileFhirPath(c.text);
    ASSERT_TRUE(p.ok()) << c.text << ": " << p.status().ToString();
    EXPECT_EQ(p->type, c.type);
    EXPECT_EQ(p->steps.size(), c.steps) << c.text;
    EXPECT_EQ(p->text, c.text);
  }
  Result<FhirPath> as = CompileFhirPath("(Composition.relatesTo.target as Reference)");
  EXPECT_EQ(as->steps[1].name, "target");
  EXPECT_EQ(as->steps[1].as_type, "Reference");
  for (const char* bad : {"Observation.code.exists()", "Patient.name.given.first()",
                          "observation.subject", "Observation.where(", "Observation..x",
                          "Observation.subject.where(resolve() as Patient)"}) {
    EXPECT_FALSE(CompileFhirPath(bad).ok()) << bad;
  }
  Result<std::vector<FhirPath>> union_paths = CompileFhirPathsFor(
      "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | "
      "CareTeam.subject.where(resolve() is Patient)",
      "CarePlan");
  ASSERT_TRUE(union_paths.ok());
  ASSERT_EQ(union_paths->size(), 1u);
  EXPECT_EQ((*union_paths)[0].text, "CarePlan.subject.where(resolve() is Patient)");
  // "CarePlan" must not match the "CarePlanX" member.
  EXPECT_TRUE(CompileFhirPathsFor("CarePlanX.subject", "CarePlan")->empty());
}

TEST(FhirPathSubset, EvaluatesOnJson) {
  json comp = {{"resourceType", "Composition"},
               {"relatesTo",
                {{{"code", "replaces"}, {"targetReference", {{"reference", "Composition/1"}}}},
                 {{"code", "appends"}, {"targetIdentifier", {{"value", "x"}}}}}},
               {"subject", {{"reference", "Group/1"}}}};
  auto eval = [&](const char* text, const TypeResolver& r = {}) {
    std::vector<std::string> out;
    for (const json* n : EvaluateFhirPath(*CompileFhirPath(text), comp, r))
      out.push_back(n->dump());
    return out;
  };
  EXPECT_EQ(eval("(Composition.relatesTo.target as Reference)"),
            std::vector<std::string>{R"({"reference":"Composition/1"})"});
  EXPECT_EQ(eval("Composition.relatesTo.where(code='appends').code"),
            std::vector<std::string>{R"("appends")"});
  EXPECT_EQ(eval("Composition.relatesTo[1].code"), std::vector<std::string>{R"("appends")"});
  EXPECT_TRUE(eval("Composition.subject.where(resolve() is Patient)").empty());
  EXPECT_EQ(eval("Composition.subject.where(resolve() is Group)").size(), 1u);
  TypeResolver says_patient = [](std::string_view) {
    return std::optional<std::string>("Patient");
  };
  EXPECT_EQ(eval("Composition.subject.where(resolve() is Patient)", says_patient).size(), 1u);
  EXPECT_TRUE(eval("Observation.subject").empty());  // another type
  EXPECT_EQ(eval("Resource.subject").size(), 1u);    // any type
}

TEST(FhirDateTime, RangesAtTheirPrecision) {
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatInstant(-1), "1969-12-31T23:59:59.999Z");
  for (int64_t t : {int64_t{0}, int64_t{-1}, int64_t{951782400000}, int64_t{1700000000123},
                    int64_t{4102444799999}}) {
    auto r = ParseFhirDateTime(FormatInstant(t));
    ASSERT_TRUE(r) << t;
    EXPECT_EQ(r->begin_ms, t);
    EXPECT_EQ(r->end_ms, t + 1);
  }
  const int64_t y2024 = 1704067200000;  // 2024-01-01T00:00:00Z
  const int64_t day = 86400000;
  auto range = [](const char* s) { return ParseFhirDateTime(s).value_or(TimeRange{-1, -1}); };
  EXPECT_EQ(range("2024").begin_ms, y2024);
  EXPECT_EQ(range("2024").end_ms, y2024 + 366 * day);  // a leap year
  EXPECT_EQ(range("2024-02").begin_ms, y2024 + 31 * day);
  EXPECT_EQ(range("2024-02").end_ms, y2024 + 60 * day);
  EXPECT_EQ(range("2024-12").end_ms, y2024 + 366 * day);
  EXPECT_EQ(range("2024-02-29").end_ms - range("2024-02-29").begin_ms, day);
  EXPECT_EQ(range("2024-01-01T10:00:00+01:00").begin_ms, y2024 + 9 * 3600000);
  EXPECT_EQ(range("2024-01-01T10:00:00+01:00").end_ms, y2024 + 9 * 3600000 + 1000);
  EXPECT_EQ(range("2024-01-01T00:00:00.25Z").begin_ms, y2024 + 250);
  EXPECT_EQ(range("2024-01-01T00:00Z").end_ms, y2024 + 60000);
  EXPECT_EQ(range("2024-01-01T00:00:00-05:30").begin_ms, y2024 + 5 * 3600000 + 30 * 60000);
  for (const char* bad :
       {"2023-02-29", "2024-13", "2024-1", "24", "2024-01-01T25:00:00Z", "2024-01-01T10:00:00+1",
        "2024-01-01 10:00", "0000", "2024-01-01T10", "2024-01-01T00:00:00.Z", "2024-01-01Z"}) {
    EXPECT_FALSE(ParseFhirDateTime(bad)) << bad;
  }
}

class FhirSearch : public ::testing::Test {
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

TEST_F(FhirSearch, ReferenceParametersOfR4Compile) {
  size_t reference = 0;
  size_t supported = 0;
  std::vector<std::string> unsupported;
  for (const std::string& type : defs().ResourceTypes()) {
    for (const SearchParameter* sp : defs().SearchParametersOf(type)) {
      if (sp->type != "reference") continue;
      ++reference;
      if (sp->supported) {
        ++supported;
      } else {
        unsupported.push_back(type + "." + sp->code);
      }
    }
  }
  // Every reference search parameter of every type (Bundle's "composition"
  // and "message" are paths into Bundle.entry[0].resource and compile too).
  EXPECT_TRUE(unsupported.empty()) << unsupported.front();
  EXPECT_EQ(reference, 517u);
  EXPECT_EQ(supported, reference);
}

TEST_F(FhirSearch, ParsesSupportedParameters) {
  Result<SearchQuery> q = ParseSearch(defs(), "Observation",
                                      {{"patient", "123"},
                                       {"_id", "a,b"},
                                       {"_count", "10"},
                                       {"_lastUpdated", "ge2020-01-01"},
                                       {"_lastUpdated", "lt2021"},
                                       {"code", "http://loinc.org|29463-7"},
                                       {"_sort", "date"},
                                       {"subject.name", "peter"},
                                       {"_format", "json"}});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->type, "Observation");
  ASSERT_EQ(q->references.size(), 1u);
  EXPECT_EQ(q->references[0].code, "patient");
  EXPECT_EQ(q->references[0].values, std::vector<std::string>{"Patient/123"});  // one target
  EXPECT_EQ(q->ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q->count, 10u);
  ASSERT_EQ(q->last_updated.size(), 2u);
  EXPECT_EQ(q->last_updated[0].prefix, "ge");
  EXPECT_EQ(q->ignored, (std::vector<std::string>{"code", "_sort", "subject.name", "_format"}));
  EXPECT_EQ(CanonicalQueryString(*q),
            "_id=a%2Cb&patient=Patient%2F123&_lastUpdated=ge2020-01-01&_lastUpdated=lt2021&"
            "_count=10");

  auto values = [&](const char* type, const char* name, const char* value) {
    Result<SearchQuery> r = ParseSearch(defs(), type, {{name, value}});
    EXPECT_TRUE(r.ok()) << name << "=" << value << ": " << r.status().ToString();
    return r.ok() && !r->references.empty() ? r->references[0].values : std::vector<std::string>{};
  };
  EXPECT_EQ(values("Observation", "patient", "Patient/123"),
            std::vector<std::string>{"Patient/123"});
  EXPECT_EQ(values("Observation", "patient", "https://ehr.example/fhir/Patient/9"),
            std::vector<std::string>{"Patient/9"});
  EXPECT_EQ(values("Observation", "subject", "123"), std::vector<std::string>{"123"});  // any type
  EXPECT_EQ(values("Observation", "subject:Group", "g1"), std::vector<std::string>{"Group/g1"});
  EXPECT_EQ(values("Provenance", "target", "Observation/o1,Patient/p1"),
            (std::vector<std::string>{"Observation/o1", "Patient/p1"}));
  EXPECT_EQ(values("AuditEvent", "patient", "p1"), std::vector<std::string>{"Patient/p1"});

  EXPECT_EQ(ParseSearch(defs(), "Observation", {{"_count", "5000"}})->count, 1000u);
  EXPECT_EQ(ParseSearch(defs(), "Observation", {})->count, 50u);

  auto error = [&](const char* type, const char* name, const char* value) {
    Result<SearchQuery> r = ParseSearch(defs(), type, {{name, value}});
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(error("Spaceship", "patient", "1"), "search: not an R4 resource type");
  EXPECT_EQ(error("Observation", "_count", "-1"), "_count: expected a non-negative integer");
  EXPECT_EQ(error("Observation", "_count", "10x"), "_count: expected a non-negative integer");
  EXPECT_EQ(error("Observation", "_id", "a b"), "_id: not a valid FHIR id");
  EXPECT_EQ(error("Observation", "_lastUpdated", "ap2020"),
            "_lastUpdated: prefix ap is not supported");
  EXPECT_EQ(error("Observation", "_lastUpdated", "ge2020-13"),
            "_lastUpdated: not a FHIR date/dateTime");
  EXPECT_EQ(error("Observation", "patient:missing", "true"),
            "patient: modifier :missing is not supported");
  EXPECT_EQ(error("Observation", "patient:<b>x y</b>", "1"), "patient: modifier is not supported");
  EXPECT_EQ(error("Observation", "subject:Medication", "m1"),
            "subject: Medication is not a target type");
  EXPECT_EQ(error("Observation", "patient", "not a ref"),
            "patient: expected [Type/]id or an absolute reference");
  EXPECT_EQ(error("Observation", "subject:Group", "Patient/1"),
            "subject: value is not a Group reference");
}

TEST_F(FhirSearch, MatchesSyntheaResourcesAndBuildsASearchset) {
  fs::path file;
  for (const auto& e : fs::directory_iterator(kTestData / "fhir/synthea")) {
    if (e.path().filename().string().rfind("Clemente", 0) == 0) file = e.path();
  }
  Bundle bundle = *ParseBundle(ReadJson(file));
  ASSERT_TRUE(ResolveBundleReferences(defs(), bundle,
                                      [n = 0](std::string_view, const BundleEntry&) mutable {
                                        return "c" + std::to_string(++n);
                                      })
                  .ok());
  std::string patient_id;
  size_t observations = 0;
  for (BundleEntry& e : bundle.entries) {
    if (e.resource["resourceType"] == "Patient") patient_id = e.resource["id"];
    if (e.resource["resourceType"] == "Observation") ++observations;
    e.resource["meta"] = {{"lastUpdated", "2020-06-15T12:00:00Z"}};
  }
  ASSERT_GT(observations, 0u);

  auto count = [&](const char* type, Params params) {
    Result<SearchQuery> q = ParseSearch(defs(), type, params);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    size_t n = 0;
    for (const BundleEntry& e : bundle.entries) n += Matches(*q, e.resource) ? 1 : 0;
    return n;
  };
  EXPECT_EQ(count("Observation", {{"patient", patient_id}}), observations);
  EXPECT_EQ(count("Observation", {{"subject", "Patient/" + patient_id}}), observations);
  EXPECT_EQ(count("Observation", {{"subject", patient_id}}), observations);  // bare id
  EXPECT_EQ(count("Observation", {{"patient", "someone-else"}}), 0u);
  EXPECT_EQ(count("Observation", {{"patient", "someone-else," + patient_id}}), observations);
  EXPECT_EQ(count("Observation", {{"patient", patient_id}, {"subject", "someone-else"}}), 0u);
  EXPECT_EQ(count("Patient", {{"_id", patient_id}}), 1u);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "2020-06"}}), observations);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "gt2020-06-15T12:00:00Z"}}), 0u);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "ge2020-06-15T12:00:00Z"}}), observations);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "lt2020-06-15T12:00:00Z"}}), 0u);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "le2020-06-15"}}), observations);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "ne2020"}}), 0u);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "sa2020-06-14"}}), observations);
  EXPECT_EQ(count("Observation", {{"_lastUpdated", "eb2020-06-14"}}), 0u);
  // Encounter's `patient` is subject.where(resolve() is Patient).
  EXPECT_GT(count("Encounter", {{"patient", patient_id}}), 0u);
  EXPECT_EQ(count("Encounter", {{"patient", patient_id}}), count("Encounter", {}));

  Result<SearchQuery> q =
      ParseSearch(defs(), "Observation", {{"patient", patient_id}, {"_count", "3"}});
  std::vector<SearchMatch> matches;
  for (const BundleEntry& e : bundle.entries) {
    if (matches.size() < q->count && Matches(*q, e.resource)) {
      matches.push_back(
          {"https://node.example/fhir/r4/Observation/" + e.resource["id"].get<std::string>(),
           e.resource});
    }
  }
  json set =
      SearchsetBundle(matches, observations,
                      "https://node.example/fhir/r4/Observation?" + CanonicalQueryString(*q));
  EXPECT_TRUE(Validate(defs(), set).ok()) << Validate(defs(), set).ToString();
  EXPECT_EQ(set["type"], "searchset");
  EXPECT_EQ(set["total"], observations);
  ASSERT_EQ(set["entry"].size(), 3u);
  EXPECT_EQ(set["entry"][0]["search"]["mode"], "match");
  EXPECT_EQ(set["entry"][0]["resource"]["resourceType"], "Observation");
  EXPECT_EQ(set["link"][0]["relation"], "self");
  Result<Bundle> reparsed = ParseBundle(set);
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(reparsed->entries[2].full_url, matches[2].full_url);
}

}  // namespace
}  // namespace medchain::fhir
