// Copyright (c) medchain developers.
// The Patient compartment (compartmentdefinition-patient.json): which
// resources belong to which patient.
//
// For each resource type in the compartment, the CompartmentDefinition names
// search parameters ("Observation": subject, performer); the expression of
// each parameter in search-parameters.json names the elements
// ("Observation.subject", "Observation.performer"). A resource is in the
// compartment of every Patient those elements reference. This is what
// assigns a bundle's resources to its patient, and what `$everything` and
// `?patient=` are answered from.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/fhir/definitions.h"
#include "medchain/fhir/fhirpath.h"

namespace medchain::fhir {

// One tie between a resource and a patient.
struct CompartmentLink {
  std::string param;       // compartment parameter ("subject")
  std::string expression;  // the element's FHIRPath ("Observation.subject")
  std::string reference;   // the Reference.reference value pointing to the Patient
};

// Whether resources of `type` can be in a patient's compartment.
bool InPatientCompartment(const Definitions& defs, std::string_view type);

// The links from `resource` to Patients, in compartment-parameter order,
// duplicates included (a resource can name its patient twice). A reference
// counts when it points to a Patient: by its text ("Patient/123", an absolute
// URL ending in Patient/123), through `resolve` (for urn:uuid: references
// inside a bundle; see BundleTypeResolver), or by Reference.type.
// A Patient resource is in its own compartment too; that is not a link (its
// own id is not a reference) and callers add it.
std::vector<CompartmentLink> PatientCompartmentLinks(const Definitions& defs,
                                                     const nlohmann::json& resource,
                                                     const TypeResolver& resolve = {});

// The distinct references of PatientCompartmentLinks, in first-seen order.
std::vector<std::string> PatientReferences(const Definitions& defs, const nlohmann::json& resource,
                                           const TypeResolver& resolve = {});

}  // namespace medchain::fhir
