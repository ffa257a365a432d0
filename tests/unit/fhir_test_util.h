// Copyright (c) medchain developers.
// What a FHIR unit test does when the FHIR R4 definitions are not installed.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

namespace medchain::testing {

// True when the developer asked to skip (not fail) FHIR tests that need the
// definitions: MEDCHAIN_ALLOW_MISSING_FHIR=1. Without it a missing install is
// a failure, so a green ctest always means the FHIR tests ran.
inline bool AllowMissingFhirDefinitions() {
  const char* v = std::getenv("MEDCHAIN_ALLOW_MISSING_FHIR");
  return v != nullptr && std::string_view(v) == "1";
}

inline constexpr const char* kFhirDefinitionsHint =
    "FHIR definitions not installed: run scripts/fhir-definitions.sh and export "
    "MEDCHAIN_FHIR_DEFINITIONS (or set MEDCHAIN_ALLOW_MISSING_FHIR=1 to skip these tests)";

}  // namespace medchain::testing

// In a fixture's SetUp(): fails the test, or skips it when allowed, if the
// definitions were not loaded.
#define MEDCHAIN_NEED_FHIR_DEFINITIONS(loaded)                                     \
  do {                                                                             \
    if (!(loaded)) {                                                               \
      if (::medchain::testing::AllowMissingFhirDefinitions())                      \
        GTEST_SKIP() << ::medchain::testing::kFhirDefinitionsHint;                 \
      FAIL() << ::medchain::testing::kFhirDefinitionsHint;                         \
    }                                                                              \
  } while (0)
