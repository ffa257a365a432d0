// Copyright (c) medchain developers.
// Bundles: the four accepted types parse and others are refused; reference
// resolution of every Synthea bundle leaves no urn:uuid: reference, points
// every reference at an entry of the right type, agrees with a naive count,
// and round-trips (semantically, and exactly through the inverse mapping).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "fhir_test_util.h"
#include "medchain/fhir/bundle.h"
#include "medchain/fhir/references.h"
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

std::vector<fs::path> SyntheaFiles() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kTestData / "fhir/synthea")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The simple reference for the schema-directed walk: every string under a
// key named "reference", anywhere.
void NaiveReferences(const json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "reference" && it->is_string()) out.push_back(it->get<std::string>());
      NaiveReferences(*it, out);
    }
  } else if (node.is_array()) {
    for (const json& item : node) NaiveReferences(item, out);
  }
}

// New ids "n1", "n2", ... in call order.
IdAssigner Sequential() {
  auto next = std::make_shared<int>(0);
  return [next](std::string_view, const BundleEntry&) { return "n" + std::to_string(++*next); };
}

class FhirBundle : public ::testing::Test {
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

TEST_F(FhirBundle, ParsesTheOfficialTransactionExample) {
  json original = ReadJson(kTestData / "fhir/examples/Bundle-bundle-transaction.json");
  Result<Bundle> b = ParseBundle(original);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->type, BundleType::kTransaction);
  ASSERT_EQ(b->entries.size(), 10u);
  EXPECT_EQ(b->entries[0].method, "POST");
  EXPECT_EQ(b->entries[0].url, "Patient");
  EXPECT_EQ(b->entries[0].full_url, "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a");
  EXPECT_EQ(b->entries[1].if_none_exist, "identifier=http:/example.org/fhir/ids|234234");
  EXPECT_EQ(b->entries[2].method, "PUT");
  EXPECT_EQ(b->entries[4].if_match, "W/\"2\"");
  EXPECT_EQ(b->entries[5].method, "DELETE");
  EXPECT_TRUE(b->entries[5].resource.is_null());
  EXPECT_EQ(b->entries[9].if_modified_since, "2015-08-31T08:14:33+10:00");
  // Writing it back gives the same JSON, but for elements a Bundle does not
  // keep (meta, and the entry.response-free example has none else).
  json written = WriteBundle(*b);
  json expected = original;
  expected.erase("meta");
  EXPECT_EQ(written, expected) << json::diff(expected, written).dump(1);
}

TEST_F(FhirBundle, RefusesOtherTypesAndMalformedEntries) {
  auto message = [](json bundle) {
    Result<Bundle> r = ParseBundle(std::move(bundle));
    return r.ok() ? std::string("ok") : r.status().message();
  };
  for (const char* type : {"document", "message", "history", "batch-response"}) {
    EXPECT_EQ(message({{"resourceType", "Bundle"}, {"type", type}}),
              "Bundle.type: '" + std::string(type) +
                  "' is not supported; expected transaction, batch, collection or searchset");
  }
  EXPECT_EQ(message({{"resourceType", "Patient"}}), "resourceType: expected 'Bundle'");
  EXPECT_EQ(message(json::array()), "Bundle: not a JSON object");
  EXPECT_EQ(message({{"resourceType", "Bundle"}}), "Bundle.type: missing required element");
  EXPECT_EQ(message({{"resourceType", "Bundle"}, {"type", "batch"}}), "ok");  // no entries

  const json patient = {{"resourceType", "Patient"}};
  auto tx = [](json entry) {
    return json{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", {entry}}};
  };
  EXPECT_EQ(message(tx({{"resource", patient}})),
            "Bundle.entry[0].request: missing (required in a transaction)");
  EXPECT_EQ(message(tx({{"resource", patient}, {"request", {{"method", "FETCH"}, {"url", "x"}}}})),
            "Bundle.entry[0].request.method: not one of GET, HEAD, POST, PUT, DELETE, PATCH");
  EXPECT_EQ(message(tx({{"resource", patient}, {"request", {{"method", "POST"}}}})),
            "Bundle.entry[0].request.url: missing required element");
  EXPECT_EQ(message(tx({{"request", {{"method", "POST"}, {"url", "Patient"}}}})),
            "Bundle.entry[0].resource: missing (required for POST)");
  EXPECT_EQ(
      message(tx({{"resource", {{"id", "x"}}}, {"request", {{"method", "POST"}, {"url", "P"}}}})),
      "Bundle.entry[0].resource: not a resource (object with resourceType)");
  EXPECT_EQ(
      message(
          {{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", {{{"fullUrl", "a"}}}}}),
      "Bundle.entry[0].resource: missing (required in a collection)");
  EXPECT_EQ(message({{"resourceType", "Bundle"},
                     {"type", "collection"},
                     {"entry",
                      {{{"fullUrl", "urn:uuid:1"}, {"resource", patient}},
                       {{"fullUrl", "urn:uuid:1"}, {"resource", patient}}}}}),
            "Bundle.entry[1].fullUrl: same as entry 0");
  json many = {{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", json::array()}};
  for (int i = 0; i < 11; ++i) many["entry"].push_back({{"resource", patient}});
  BundleLimits limits;
  limits.max_entries = 10;
  Result<Bundle> r = ParseBundle(many, limits);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(r.status().message(), "Bundle.entry: 11 entries, more than the limit of 10");
}

TEST_F(FhirBundle, SyntheaBundlesResolveAndRoundTrip) {
  size_t total_refs = 0;
  for (const fs::path& file : SyntheaFiles()) {
    SCOPED_TRACE(file.filename().string());
    const json original = ReadJson(file);
    Result<Bundle> parsed = ParseBundle(original);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    Bundle bundle = std::move(parsed).value();
    ASSERT_EQ(bundle.type, BundleType::kTransaction);

    // What the naive walk sees before resolution: every reference is either
    // urn:uuid: of an entry, or local to a contained resource.
    std::vector<std::string> before;
    for (const BundleEntry& e : bundle.entries) NaiveReferences(e.resource, before);
    const size_t urn_refs = std::count_if(before.begin(), before.end(), [](const std::string& r) {
      return r.rfind("urn:uuid:", 0) == 0;
    });
    ASSERT_GT(urn_refs, 0u);

    Result<ReferenceMap> map = ResolveBundleReferences(defs(), bundle, Sequential());
    ASSERT_TRUE(map.ok()) << map.status().ToString();
    EXPECT_TRUE(map->problems.empty())
        << map->problems.front().expression << " " << map->problems.front().reference;
    EXPECT_EQ(map->rewritten, urn_refs);  // the typed walk found what the naive one did
    total_refs += map->rewritten;

    // Every reference now names an entry of the bundle, of the right type,
    // or a contained resource; no urn:uuid: is left.
    std::map<std::string, std::string> type_of;  // "Type/new" -> Type
    for (const BundleEntry& e : bundle.entries) {
      type_of[e.resource["resourceType"].get<std::string>() + "/" +
              e.resource["id"].get<std::string>()] = e.resource["resourceType"];
    }
    size_t local = 0;
    for (const BundleEntry& e : bundle.entries) {
      ASSERT_TRUE(Validate(defs(), e.resource).ok()) << Validate(defs(), e.resource).ToString();
      ForEachReference(defs(), e.resource, [&](const json& ref, const std::string& expression) {
        const std::string r = ref["reference"];
        EXPECT_EQ(r.rfind("urn:uuid:", 0), std::string::npos) << expression;
        if (r[0] == '#') {
          ++local;
          return;
        }
        auto it = type_of.find(r);
        ASSERT_NE(it, type_of.end()) << expression << " -> " << r;
        if (ref.contains("type")) {
          EXPECT_EQ(ref["type"], it->second);
        }
      });
    }
    EXPECT_EQ(local, before.size() - urn_refs);

    // Semantically equal to the input, under one consistent renaming.
    ReferenceCorrespondence corr;
    for (size_t i = 0; i < bundle.entries.size(); ++i) {
      auto diff = SemanticDifference(defs(), original["entry"][i]["resource"],
                                     bundle.entries[i].resource, corr);
      EXPECT_FALSE(diff.has_value()) << *diff;
    }
    // ... and the renaming learned is exactly the resolution's.
    for (const auto& [old_ref, new_ref] : map->forward) {
      EXPECT_TRUE(corr.Match(old_ref, new_ref)) << old_ref;
    }

    // The inverse mapping restores the input exactly.
    ASSERT_TRUE(RestoreBundleReferences(defs(), bundle, *map).ok());
    EXPECT_EQ(WriteBundle(bundle), original);
  }
  EXPECT_EQ(total_refs, 9490u);
}

TEST_F(FhirBundle, ReferencesToMissingEntriesAreReported) {
  json bundle = {
      {"resourceType", "Bundle"},
      {"type", "transaction"},
      {"entry",
       {{{"fullUrl", "urn:uuid:0b5a5e3c-0000-4000-8000-000000000001"},
         {"resource", {{"resourceType", "Patient"}, {"id", "p-old"}}},
         {"request", {{"method", "POST"}, {"url", "Patient"}}}},
        {{"fullUrl", "https://ehr.example/fhir/Practitioner/dr1"},
         {"resource", {{"resourceType", "Practitioner"}, {"id", "dr1"}}},
         {"request", {{"method", "PUT"}, {"url", "Practitioner/dr1"}}}},
        {{"fullUrl", "urn:uuid:0b5a5e3c-0000-4000-8000-000000000003"},
         {"resource",
          {{"resourceType", "Observation"},
           {"status", "final"},
           {"code", {{"text", "x"}}},
           {"contained",
            {{{"resourceType", "Specimen"},
              {"id", "s1"},
              {"subject", {{"reference", "urn:uuid:0b5a5e3c-0000-4000-8000-000000000001"}}}}}},
           {"subject", {{"reference", "urn:uuid:0b5a5e3c-0000-4000-8000-000000000001"}}},
           {"specimen", {{"reference", "#s1"}}},
           {"performer",
            {{{"reference", "Practitioner/dr1"}},
             {{"reference", "https://ehr.example/fhir/Practitioner/dr1"}},
             {{"reference", "urn:uuid:0b5a5e3c-0000-4000-8000-0000000000ff"}},
             {{"reference", "Practitioner/elsewhere"}},
             {{"reference", "https://other.example/fhir/Practitioner/9"}},
             {{"reference", "Practitioner?identifier=http://npi|123"}}}},
           {"extension",
            {{{"url", "http://example.org/ext"},
              {"valueReference",
               {{"reference", "urn:uuid:0b5a5e3c-0000-4000-8000-000000000001"}}}}}},
           {"identifier",
            {{{"value", "1"},
              {"assigner", {{"reference", "https://ehr.example/fhir/Practitioner/dr1"}}}}}}}},
         {"request", {{"method", "POST"}, {"url", "Observation"}}}}}}};
  ASSERT_TRUE(Validate(defs(), bundle).ok()) << Validate(defs(), bundle).ToString();
  Result<Bundle> parsed = ParseBundle(bundle);
  ASSERT_TRUE(parsed.ok());
  Bundle b = std::move(parsed).value();
  Result<ReferenceMap> map =
      ResolveBundleReferences(defs(), b, [](std::string_view type, const BundleEntry&) {
        return std::string(type == "Patient" ? "pat" : type == "Practitioner" ? "doc" : "obs");
      });
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  const json& obs = b.entries[2].resource;
  EXPECT_EQ(obs["id"], "obs");
  EXPECT_EQ(obs["subject"]["reference"], "Patient/pat");
  EXPECT_EQ(obs["contained"][0]["subject"]["reference"], "Patient/pat");  // inside contained
  EXPECT_EQ(obs["contained"][0]["id"], "s1");                             // contained ids stay
  EXPECT_EQ(obs["specimen"]["reference"], "#s1");                         // local refs stay
  EXPECT_EQ(obs["extension"][0]["valueReference"]["reference"], "Patient/pat");
  EXPECT_EQ(obs["identifier"][0]["assigner"]["reference"], "Practitioner/doc");
  EXPECT_EQ(obs["performer"][0]["reference"], "Practitioner/doc");  // Type/id of a fullUrl
  EXPECT_EQ(obs["performer"][1]["reference"], "Practitioner/doc");  // the fullUrl itself
  EXPECT_EQ(obs["performer"][4]["reference"], "https://other.example/fhir/Practitioner/9");
  EXPECT_EQ(map->rewritten, 6u);

  struct Expected {
    ReferenceProblem::Kind kind;
    std::string expression;
    std::string reference;
  };
  const std::vector<Expected> expected = {
      {ReferenceProblem::Kind::kMissingEntry, "Observation.performer[2]",
       "urn:uuid:0b5a5e3c-0000-4000-8000-0000000000ff"},
      {ReferenceProblem::Kind::kNotInBundle, "Observation.performer[3]", "Practitioner/elsewhere"},
      {ReferenceProblem::Kind::kExternal, "Observation.performer[4]",
       "https://other.example/fhir/Practitioner/9"},
      {ReferenceProblem::Kind::kConditional, "Observation.performer[5]",
       "Practitioner?identifier=http://npi|123"},
  };
  ASSERT_EQ(map->problems.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(map->problems[i].kind, expected[i].kind) << i;
    EXPECT_EQ(map->problems[i].entry, 2u);
    EXPECT_EQ(map->problems[i].expression, expected[i].expression);
    EXPECT_EQ(map->problems[i].reference, expected[i].reference);
  }
  EXPECT_EQ(ReferenceProblemName(ReferenceProblem::Kind::kMissingEntry), "missing-entry");

  // Backward: the fullUrl each entry had.
  EXPECT_EQ(map->backward.at("Patient/pat"), "urn:uuid:0b5a5e3c-0000-4000-8000-000000000001");
  EXPECT_EQ(map->backward.at("Practitioner/doc"), "https://ehr.example/fhir/Practitioner/dr1");
}

TEST_F(FhirBundle, AssignerMistakesAreRefused) {
  json bundle = {{"resourceType", "Bundle"},
                 {"type", "collection"},
                 {"entry",
                  {{{"resource", {{"resourceType", "Patient"}, {"id", "a"}}}},
                   {{"resource", {{"resourceType", "Patient"}, {"id", "b"}}}}}}};
  Bundle b = *ParseBundle(bundle);
  auto same = [](std::string_view, const BundleEntry&) { return std::string("x"); };
  EXPECT_EQ(ResolveBundleReferences(defs(), b, same).status().message(),
            "Bundle.entry[1]: the assigned id Patient/x is already taken");
  b = *ParseBundle(bundle);
  auto bad = [](std::string_view, const BundleEntry&) { return std::string("not valid"); };
  EXPECT_EQ(ResolveBundleReferences(defs(), b, bad).status().message(),
            "Bundle.entry[0]: the assigned id is not a valid FHIR id");
  json twice = bundle;
  twice["entry"][1]["resource"]["id"] = "a";  // two entries claim Patient/a
  b = *ParseBundle(twice);
  EXPECT_EQ(ResolveBundleReferences(defs(), b, Sequential()).status().message(),
            "Bundle.entry[1]: Patient/a is also entry 0");
}

TEST_F(FhirBundle, SemanticDifferenceNamesTheFirstDifference) {
  const json a = {{"resourceType", "Observation"},
                  {"id", "o1"},
                  {"meta", {{"versionId", "1"}, {"lastUpdated", "2020-01-01T00:00:00Z"}}},
                  {"status", "final"},
                  {"code", {{"text", "weight"}}},
                  {"subject", {{"reference", "urn:uuid:p"}}},
                  {"performer", {{{"reference", "urn:uuid:d"}}, {{"reference", "urn:uuid:p"}}}}};
  json b = a;
  b["id"] = "x9";
  b["meta"] = {{"versionId", "7"}};  // ignored, and an empty meta is absent
  b["subject"]["reference"] = "Patient/1";
  b["performer"][0]["reference"] = "Practitioner/2";
  b["performer"][1]["reference"] = "Patient/1";
  {
    ReferenceCorrespondence corr;
    EXPECT_FALSE(SemanticDifference(defs(), a, b, corr).has_value());
    EXPECT_EQ(corr.size(), 3u);  // two references and the id
  }
  {
    // The same old reference renamed two ways (elements are compared in key
    // order: performer before subject).
    json c = b;
    c["performer"][1]["reference"] = "Patient/2";
    ReferenceCorrespondence corr;
    EXPECT_EQ(SemanticDifference(defs(), a, c, corr),
              "Observation.subject.reference: references are not renamed consistently");
  }
  {
    json c = b;  // two old references renamed to one
    c["performer"][0]["reference"] = "Patient/1";
    ReferenceCorrespondence corr;
    EXPECT_EQ(SemanticDifference(defs(), a, c, corr),
              "Observation.performer[1].reference: references are not renamed consistently");
  }
  {
    json c = b;
    c["code"]["text"] = "height";
    ReferenceCorrespondence corr;
    EXPECT_EQ(SemanticDifference(defs(), a, c, corr), "Observation.code.text: values differ");
  }
  {
    json c = b;
    c["meta"]["security"] = {{{"code", "R"}}};
    ReferenceCorrespondence corr;
    EXPECT_EQ(SemanticDifference(defs(), a, c, corr), "Observation.meta: present on one side only");
  }
  {
    json c = b;
    c.erase("status");
    ReferenceCorrespondence corr;
    EXPECT_EQ(SemanticDifference(defs(), a, c, corr),
              "Observation.status: present on one side only");
  }
  {
    // A "reference" member outside a Reference is compared as a plain value.
    json x = {{"resourceType", "Basic"}, {"code", {{"text", "urn:uuid:p"}}}};
    json y = {{"resourceType", "Basic"}, {"code", {{"text", "Patient/1"}}}};
    ReferenceCorrespondence corr;
    EXPECT_EQ(SemanticDifference(defs(), x, y, corr), "Basic.code.text: values differ");
  }
}

TEST_F(FhirBundle, TypeResolverUsesTheEntries) {
  Bundle b = *ParseBundle(ReadJson(SyntheaFiles().front()));
  TypeResolver resolve = BundleTypeResolver(b);
  const BundleEntry& first = b.entries.front();
  EXPECT_EQ(resolve(first.full_url), first.resource["resourceType"].get<std::string>());
  EXPECT_EQ(resolve("Encounter/123"), "Encounter");  // from the text
  EXPECT_EQ(resolve("urn:uuid:00000000-0000-4000-8000-000000000000"), std::nullopt);
}

TEST(FhirReference, ParseReferenceForms) {
  using K = ReferenceParts::Kind;
  struct Case {
    const char* text;
    K kind;
    const char* type;
    const char* id;
    const char* version;
    const char* base;
  } cases[] = {
      {"#s1", K::kLocal, "", "s1", "", ""},
      {"Patient/123", K::kRelative, "Patient", "123", "", ""},
      {"Patient/123/_history/2", K::kRelative, "Patient", "123", "2", ""},
      {"https://x.org/fhir/Patient/123", K::kAbsolute, "Patient", "123", "", "https://x.org/fhir"},
      {"http://x/Observation/o.1/_history/9", K::kAbsolute, "Observation", "o.1", "9", "http://x"},
      {"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", K::kUrn, "", "", "", ""},
      {"urn:oid:1.2.3", K::kUrn, "", "", "", ""},
      {"Patient?identifier=a|b", K::kConditional, "Patient", "", "", ""},
      {"patient/123", K::kOther, "", "", "", ""},
      {"Patient/12 3", K::kOther, "", "", "", ""},
      {"https://x.org/", K::kOther, "", "", "", ""},
      {"", K::kOther, "", "", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ReferenceParts p = ParseReference(c.text);
    EXPECT_EQ(p.kind, c.kind);
    EXPECT_EQ(p.type, c.type);
    EXPECT_EQ(p.id, c.id);
    EXPECT_EQ(p.version, c.version);
    EXPECT_EQ(p.base, c.base);
  }
  EXPECT_EQ(ReferenceType({{"reference", "Patient/1"}}), "Patient");
  EXPECT_EQ(ReferenceType({{"reference", "urn:uuid:1"}, {"type", "Patient"}}), "Patient");
  EXPECT_EQ(ReferenceType({{"type", "http://hl7.org/fhir/StructureDefinition/Device"}}), "Device");
  EXPECT_EQ(ReferenceType({{"display", "x"}}), std::nullopt);
}

}  // namespace
}  // namespace medchain::fhir
