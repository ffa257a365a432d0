// Copyright (c) medchain developers.
// FHIR module figures over the Synthea bundles of the shared test data:
// definitions load time, resource validations per second, reference
// resolutions (rewrites) per second, compartment assignment per second.
//
// Usage: fhir_bench [TESTDATA_DIR [DEFINITIONS_DIR]]
//   TESTDATA_DIR     default <repo>/../shared/testdata
//   DEFINITIONS_DIR  default: FindDefinitionsDirectory(<repo>) (the npm package)
// The schema is HL7's copy from TESTDATA_DIR/fhir/schema, as in the tests.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "medchain/fhir/bundle.h"
#include "medchain/fhir/compartment.h"
#include "medchain/fhir/definitions.h"
#include "medchain/fhir/references.h"
#include "medchain/fhir/validate.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using medchain::fhir::Definitions;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Runs `pass` until at least `min_seconds` have elapsed; returns passes/s.
template <class Fn>
double Rate(double min_seconds, Fn pass) {
  size_t passes = 0;
  const auto start = Clock::now();
  do {
    pass();
    ++passes;
  } while (Seconds(start) < min_seconds);
  return static_cast<double>(passes) / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path repo = fs::path(__FILE__).parent_path().parent_path();
  const fs::path testdata = argc > 1 ? fs::path(argv[1]) : repo.parent_path() / "shared/testdata";
  std::optional<fs::path> defs_dir =
      argc > 2 ? std::optional<fs::path>(argv[2]) : medchain::fhir::FindDefinitionsDirectory(repo);
  if (!defs_dir) {
    std::fprintf(stderr, "FHIR definitions not installed: run scripts/fhir-definitions.sh\n");
    return 2;
  }
  medchain::fhir::DefinitionPaths paths = medchain::fhir::DefinitionPaths::FromDirectory(*defs_dir);
  paths.schema = testdata / "fhir/schema/fhir.schema.json";

  auto t0 = Clock::now();
  auto loaded = Definitions::Load(paths);
  if (!loaded.ok()) {
    std::fprintf(stderr, "load: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  const double load_s = Seconds(t0);
  const Definitions& defs = **loaded;
  t0 = Clock::now();
  auto pkg = Definitions::Load(medchain::fhir::DefinitionPaths::FromDirectory(*defs_dir));
  const double load_pkg_s = Seconds(t0);

  std::vector<json> bundles;
  size_t bytes = 0;
  for (const auto& e : fs::directory_iterator(testdata / "fhir/synthea")) {
    std::ifstream in(e.path());
    bundles.push_back(json::parse(in));
    bytes += fs::file_size(e.path());
  }
  std::vector<const json*> resources;
  for (const json& b : bundles) {
    for (const json& entry : b["entry"]) resources.push_back(&entry["resource"]);
  }
  size_t refs = 0;
  for (const json* r : resources) {
    medchain::fhir::ForEachReference(defs, *r, [&](const json&, const std::string&) { ++refs; });
  }
  std::printf("fhir_bench: %zu Synthea bundles, %zu resources, %zu references, %.1f MB\n",
              bundles.size(), resources.size(), refs, static_cast<double>(bytes) / 1e6);
  std::printf("definitions load (HL7 schema + package files): %8.2f s\n", load_s);
  std::printf("definitions load (package only):               %8.2f s%s\n", load_pkg_s,
              pkg.ok() ? "" : " (failed)");

  // 1. Validation, one thread.
  size_t invalid = 0;
  double per_s = Rate(3.0, [&] {
    for (const json* r : resources) invalid += medchain::fhir::Validate(defs, *r).ok() ? 0 : 1;
  });
  std::printf("validate, 1 thread:        %10.0f resources/s%s\n",
              per_s * static_cast<double>(resources.size()), invalid ? "  (INVALID SEEN)" : "");

  // 2. Validation, two threads sharing one Definitions.
  per_s = Rate(3.0, [&] {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = t; i < resources.size(); i += 2)
          (void)medchain::fhir::Validate(defs, *resources[i]);
      });
    }
    for (std::thread& th : threads) th.join();
  });
  std::printf("validate, 2 threads:       %10.0f resources/s\n",
              per_s * static_cast<double>(resources.size()));

  // 3. Reference resolution: parse + resolve every bundle (copies made
  //    outside the timed part).
  const size_t copies = 4;
  std::vector<json> work;
  double resolve_s = 0;
  size_t rewritten = 0;
  size_t resolved_resources = 0;
  for (size_t round = 0; round < copies; ++round) {
    work.assign(bundles.begin(), bundles.end());
    auto start = Clock::now();
    for (json& b : work) {
      auto parsed = medchain::fhir::ParseBundle(std::move(b));
      auto map = medchain::fhir::ResolveBundleReferences(
          defs, *parsed, [n = 0](std::string_view, const medchain::fhir::BundleEntry&) mutable {
            return "id" + std::to_string(++n);
          });
      rewritten += map->rewritten;
      resolved_resources += parsed->entries.size();
    }
    resolve_s += Seconds(start);
  }
  std::printf("resolve references:        %10.0f references/s  (%.0f resources/s)\n",
              static_cast<double>(rewritten) / resolve_s,
              static_cast<double>(resolved_resources) / resolve_s);

  // 4. Compartment assignment (which patient each resource belongs to).
  size_t links = 0;
  per_s = Rate(2.0, [&] {
    for (const json* r : resources) links += medchain::fhir::PatientReferences(defs, *r).size();
  });
  std::printf("patient compartment links: %10.0f resources/s\n",
              per_s * static_cast<double>(resources.size()));

  // 5. Semantic equality of a resource with itself (the round-trip check).
  per_s = Rate(2.0, [&] {
    medchain::fhir::ReferenceCorrespondence corr;
    for (const json* r : resources) (void)medchain::fhir::SemanticDifference(defs, *r, *r, corr);
  });
  std::printf("semantic equality:         %10.0f resources/s\n",
              per_s * static_cast<double>(resources.size()));
  return invalid == 0 ? 0 : 1;
}
