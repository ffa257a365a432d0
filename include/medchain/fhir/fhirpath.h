// Copyright (c) medchain developers.
// The small part of FHIRPath that search-parameters.json uses for reference
// search parameters, compiled once when the definitions load.
//
// Supported (these cover every reference-type SearchParameter of R4 but the
// two `Bundle.entry[0]` ones, which are not reference paths of a stored
// resource anyway):
//   Type.a.b.c                      child navigation (arrays flatten)
// where Type may be Resource or DomainResource (any resource type).
//   ....where(resolve() is Patient) keep References whose target is a Patient
//   ....where(type='composed-of')   keep elements whose `type` equals a literal
//   (Type.a.b as Reference)         choice element: JSON name bReference
//   ....as(Reference), .ofType(X)   the same, function form
//   ....x[0]                        the first (n-th) item
// and unions of these with `|`. Anything else fails to compile and the search
// parameter is then reported as unsupported; nothing is guessed.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"

namespace medchain::fhir {

// Given the text of a Reference.reference, the resource type it points to, if
// known (e.g. from the "Type/id" form, or from a bundle's fullUrl table).
using TypeResolver = std::function<std::optional<std::string>(std::string_view reference)>;

// One path of a union, for one resource type.
struct PathStep {
  enum class Kind {
    kChild,        // name: JSON property (choice types already folded: "targetReference")
    kIndex,        // index
    kResolveIs,    // name: resource type; keeps Reference objects pointing to it
    kWhereEquals,  // name, value: keeps objects whose `name` is the string `value`
  };
  Kind kind = Kind::kChild;
  std::string name;
  std::string value;
  // kChild after `as(Type)`: the JSON name of a choice element is name+Type
  // ("targetReference"); when the element is no choice, `name` is used.
  std::string as_type;
  size_t index = 0;
};

struct FhirPath {
  std::string type;             // the resource type the path starts at
  std::vector<PathStep> steps;  // after the type
  std::string text;             // the source text, for messages
};

// Compiles one union member ("Observation.subject.where(resolve() is Patient)").
Result<FhirPath> CompileFhirPath(std::string_view expression);

// Compiles the members of a union expression that start at `type`
// ("AllergyIntolerance.patient | CarePlan.subject.where(...)" for "CarePlan"
// gives the CarePlan member). Fails when a member for `type` does not compile;
// an expression with no member for `type` gives an empty list.
Result<std::vector<FhirPath>> CompileFhirPathsFor(std::string_view expression,
                                                  std::string_view type);

// Evaluates `path` on `resource` (whose resourceType must equal path.type,
// else the result is empty). Returns pointers into `resource`, which must
// remain live while they are used. `resolve` is used by kResolveIs; when
// empty, the type comes from the reference text ("Patient/123",
// "https://x/fhir/Patient/123") or from Reference.type.
std::vector<const nlohmann::json*> EvaluateFhirPath(const FhirPath& path,
                                                    const nlohmann::json& resource,
                                                    const TypeResolver& resolve = {});

}  // namespace medchain::fhir
