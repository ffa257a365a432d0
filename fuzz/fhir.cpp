// Copyright (c) medchain developers.
// FHIR bodies from EHR systems: the bounded parser (nesting, size, UTF-8)
// and the Bundle reader (types, entries, references) answer a Status, never
// throw, for any bytes.
#include "fuzz_util.h"
#include "medchain/fhir/bundle.h"
#include "medchain/fhir/validate.h"

using namespace medchain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fhir::ValidationLimits limits;
  limits.max_bytes = 1u << 20;
  auto j = fhir::ParseJson(fuzz::Text(data, size), limits);
  if (!j.ok()) return 0;
  fhir::BundleLimits bl;
  bl.max_entries = 1000;
  (void)fhir::ParseBundle(std::move(*j), bl);
  return 0;
}
