// Copyright (c) medchain developers.
// Validation of FHIR R4 resources.
//
// A resource is checked in three steps, all of which must pass:
//  1. Shape, before anything recurses into it: a JSON object, at most
//     `max_depth` levels of nesting and `max_bytes` of compact JSON.
//  2. The R4 JSON schema (valijson, Definitions::SchemaCheck): known
//     resourceType, value types, array-or-single cardinality, enums, required
//     complex elements, no unknown elements.
//  3. What the schema does not say (this module's own walk, driven by the
//     same definitions):
//     - required primitive elements (min >= 1 in the StructureDefinitions,
//       e.g. Observation.status; the schema cannot require them because
//       "_status" may stand in for "status");
//     - the regular expressions of primitive types (date, dateTime, id, uri,
//       code, base64Binary, ...), matched without deep recursion;
//     - the id format [A-Za-z0-9\-\.]{1,64} of every resource id;
//     - embedded resources (contained, Bundle.entry.resource, ...) validated
//       as resources of their own type, with their element path;
//     - FHIR JSON rules: no empty objects, arrays or strings;
//     - dom-2 (a contained resource holds no contained resources) and ref-1
//       (a "#id" reference names a contained resource of the same resource).
// Issues name the element path (FHIRPath) and the rule, never the value.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"
#include "medchain/fhir/definitions.h"
#include "medchain/fhir/outcome.h"

namespace medchain::fhir {

struct ValidationLimits {
  // Compact JSON size of one resource (escapes not counted). Records are
  // stored whole and encrypted; 8 MiB leaves room for attachments.
  size_t max_bytes = 8u << 20;
  // Nesting of objects and arrays (the R4 examples and Synthea bundles stay
  // below 12; deeply nested Questionnaire items need more than that).
  size_t max_depth = 64;
  // Issues reported at most (validation goes on only to find these).
  size_t max_issues = 20;
};

// Whether `id` is a FHIR id: 1 to 64 of [A-Za-z0-9-.].
bool IsValidId(std::string_view id);

// Parses JSON text, refusing it (before building anything) when larger than
// limits.max_bytes or nested deeper than limits.max_depth, and when it is not
// valid JSON. The messages name the limit; no part of the text is echoed.
Result<nlohmann::json> ParseJson(std::string_view text, const ValidationLimits& limits = {});

// Every issue of `resource`, in the order found (schema issues first), at most
// limits.max_issues. Empty when valid.
std::vector<Issue> CheckResource(const Definitions& defs, const nlohmann::json& resource,
                                 const ValidationLimits& limits = {});

// OK when `resource` is a valid R4 resource; otherwise StatusFromIssues of
// CheckResource ("Observation.status: missing required element (and 1 more
// issue)"), kInvalidArgument, or kResourceExhausted for a size/depth limit.
Status Validate(const Definitions& defs, const nlohmann::json& resource,
                const ValidationLimits& limits = {});

}  // namespace medchain::fhir
