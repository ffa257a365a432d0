// Copyright (c) medchain developers.
// References between resources: reading them, rewriting them, and comparing
// resources modulo a consistent renaming of them.
//
// A Reference is found by type, not by name: the walkers follow the schema
// (Definitions) from the resource's type down through every element, so they
// see every Reference.reference value — in backbone elements, data types,
// extensions (valueReference), Reference.identifier.assigner, and contained
// resources — and nothing that merely has a member called "reference".
//
// REQUIRES for every walker here: the JSON is depth-bounded (it came through
// ParseJson or CheckResource, validate.h); the walks recurse.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "medchain/fhir/definitions.h"

namespace medchain::fhir {

// The forms a Reference.reference takes (FHIR R4 "Literal references").
struct ReferenceParts {
  enum class Kind {
    kLocal,        // "#id" or "#": a contained resource / the container
    kRelative,     // "Type/id" or "Type/id/_history/vid"
    kAbsolute,     // "http(s)://base/Type/id[/_history/vid]"
    kUrn,          // "urn:uuid:..." or "urn:oid:..."
    kConditional,  // "Type?search" (transactions only)
    kOther,        // anything else (an absolute URL not ending in Type/id, ...)
  };
  Kind kind = Kind::kOther;
  std::string type;     // kRelative, kAbsolute (when it ends in Type/id), kConditional
  std::string id;       // kRelative, kAbsolute; kLocal: the contained id
  std::string version;  // the _history part, if any
  std::string base;     // kAbsolute: the service base ("https://x/fhir")
};

// Splits a reference. A type is accepted when it looks like one (an ASCII
// letter then letters/digits); pass `defs` to also require an R4 type.
ReferenceParts ParseReference(std::string_view reference, const Definitions* defs = nullptr);

// The type a Reference object points to: from its reference text, or else
// from its `type` element. nullopt when neither says.
std::optional<std::string> ReferenceType(const nlohmann::json& reference_object);

// Calls fn(reference_object, expression) for every Reference (as an object
// holding a string "reference") in `resource`, including contained and other
// embedded resources. `expression` is the FHIRPath of the Reference
// ("Observation.subject", "Claim.item[0].encounter[0]").
void ForEachReference(
    const Definitions& defs, const nlohmann::json& resource,
    const std::function<void(const nlohmann::json& reference, const std::string& expression)>& fn);

// Replaces every Reference.reference value r of `resource` (as found by
// ForEachReference) by map(r, expression) when that returns a value. Returns
// the number of values replaced.
size_t RewriteReferences(const Definitions& defs, nlohmann::json& resource,
                         const std::function<std::optional<std::string>(
                             const std::string& reference, const std::string& expression)>& map);

// A one-to-one correspondence between the reference strings (and resource
// ids) of two sets of resources, learned while comparing them. Reuse one
// object across all resources of a bundle so the renaming must be consistent
// across the whole bundle.
class ReferenceCorrespondence {
 public:
  // True when a and b may correspond: neither is paired yet (they become a
  // pair), or they are already paired with each other.
  bool Match(const std::string& a, const std::string& b);
  size_t size() const { return m_a_to_b.size(); }

 private:
  std::unordered_map<std::string, std::string> m_a_to_b;
  std::unordered_map<std::string, std::string> m_b_to_a;
};

// Whether two resources are semantically equal: the same JSON values, except
//  - Reference.reference values may differ where `corr` pairs them one-to-one
//    (local "#id" references must be equal);
//  - the ids of the two top-level resources may differ likewise (paired as
//    "id:Type/id", apart from references); contained resources keep theirs;
//  - meta.versionId and meta.lastUpdated are ignored (a meta left empty
//    counts as absent).
// Returns nullopt when equal, else a description of the first difference
// (elements compared in key order) naming its element path (no values).
std::optional<std::string> SemanticDifference(const Definitions& defs, const nlohmann::json& a,
                                              const nlohmann::json& b,
                                              ReferenceCorrespondence& corr);

}  // namespace medchain::fhir
