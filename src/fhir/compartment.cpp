// Copyright (c) medchain developers.
#include "medchain/fhir/compartment.h"

#include <algorithm>

#include "medchain/fhir/references.h"

namespace medchain::fhir {

bool InPatientCompartment(const Definitions& defs, std::string_view type) {
  return defs.PatientCompartmentParams(type) != nullptr;
}

std::vector<CompartmentLink> PatientCompartmentLinks(const Definitions& defs,
                                                     const nlohmann::json& resource,
                                                     const TypeResolver& resolve) {
  std::vector<CompartmentLink> links;
  if (!resource.is_object()) return links;
  auto rt = resource.find("resourceType");
  if (rt == resource.end() || !rt->is_string()) return links;
  const std::string& type = rt->get_ref<const std::string&>();
  const std::vector<std::string>* params = defs.PatientCompartmentParams(type);
  if (params == nullptr) return links;
  for (const std::string& param : *params) {
    const SearchParameter* sp = defs.FindSearchParameter(type, param);
    if (sp == nullptr || !sp->supported) continue;
    for (const FhirPath& path : sp->paths) {
      for (const nlohmann::json* node : EvaluateFhirPath(path, resource, resolve)) {
        if (!node->is_object()) continue;
        auto ref = node->find("reference");
        if (ref == node->end() || !ref->is_string()) continue;
        const std::string& text = ref->get_ref<const std::string&>();
        std::optional<std::string> target;
        if (resolve) target = resolve(text);
        if (!target) target = ReferenceType(*node);
        if (target && *target == "Patient") links.push_back({param, path.text, text});
      }
    }
  }
  return links;
}

std::vector<std::string> PatientReferences(const Definitions& defs, const nlohmann::json& resource,
                                           const TypeResolver& resolve) {
  std::vector<std::string> out;
  for (CompartmentLink& link : PatientCompartmentLinks(defs, resource, resolve)) {
    if (std::find(out.begin(), out.end(), link.reference) == out.end()) {
      out.push_back(std::move(link.reference));
    }
  }
  return out;
}

}  // namespace medchain::fhir
