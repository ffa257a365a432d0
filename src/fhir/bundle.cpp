// Copyright (c) medchain developers.
// Bundle parsing, reference resolution and writing (see bundle.h).
#include "medchain/fhir/bundle.h"

#include <set>
#include <unordered_map>

#include "medchain/fhir/references.h"
#include "medchain/fhir/validate.h"

namespace medchain::fhir {
namespace {

using nlohmann::json;

bool IsCodeLike(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-')) return false;
  }
  return true;
}

std::optional<BundleType> TypeFromName(std::string_view name) {
  if (name == "transaction") return BundleType::kTransaction;
  if (name == "batch") return BundleType::kBatch;
  if (name == "collection") return BundleType::kCollection;
  if (name == "searchset") return BundleType::kSearchset;
  return std::nullopt;
}

// R4 http-verb codes.
bool IsMethod(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "POST" || m == "PUT" || m == "DELETE" || m == "PATCH";
}

Result<std::string> OptionalString(const json& object, std::string_view key,
                                   const std::string& path) {
  auto it = object.find(key);
  if (it == object.end()) return std::string();
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument(path + "." + std::string(key) + ": expected a non-empty string");
  }
  return it->get<std::string>();
}

// The "Type/id" a fullUrl ends in, or "".
std::string TypeIdOfUrl(std::string_view full_url, const Definitions& defs) {
  ReferenceParts parts = ParseReference(full_url, &defs);
  if (parts.kind != ReferenceParts::Kind::kAbsolute &&
      parts.kind != ReferenceParts::Kind::kRelative) {
    return {};
  }
  return parts.type + "/" + parts.id;
}

}  // namespace

std::string_view BundleTypeName(BundleType type) {
  switch (type) {
    case BundleType::kTransaction:
      return "transaction";
    case BundleType::kBatch:
      return "batch";
    case BundleType::kCollection:
      return "collection";
    case BundleType::kSearchset:
      return "searchset";
  }
  return "collection";
}

std::string_view ReferenceProblemName(ReferenceProblem::Kind kind) {
  switch (kind) {
    case ReferenceProblem::Kind::kMissingEntry:
      return "missing-entry";
    case ReferenceProblem::Kind::kNotInBundle:
      return "not-in-bundle";
    case ReferenceProblem::Kind::kConditional:
      return "conditional";
    case ReferenceProblem::Kind::kExternal:
      return "external";
  }
  return "missing-entry";
}

Result<Bundle> ParseBundle(json bundle, const BundleLimits& limits) {
  if (!bundle.is_object()) return Status::InvalidArgument("Bundle: not a JSON object");
  auto rt = bundle.find("resourceType");
  if (rt == bundle.end() || !rt->is_string() || rt->get_ref<const std::string&>() != "Bundle") {
    return Status::InvalidArgument("resourceType: expected 'Bundle'");
  }
  Bundle out;
  auto type = bundle.find("type");
  if (type == bundle.end()) return Status::InvalidArgument("Bundle.type: missing required element");
  if (!type->is_string()) return Status::InvalidArgument("Bundle.type: expected a code");
  const std::string& type_name = type->get_ref<const std::string&>();
  auto parsed_type = TypeFromName(type_name);
  if (!parsed_type) {
    std::string shown = IsCodeLike(type_name) ? "'" + type_name + "' " : std::string();
    return Status::InvalidArgument("Bundle.type: " + shown +
                                   "is not supported; expected transaction, batch, collection or "
                                   "searchset");
  }
  out.type = *parsed_type;
  MC_ASSIGN_OR_RETURN(out.id, OptionalString(bundle, "id", "Bundle"));
  auto entries = bundle.find("entry");
  if (entries == bundle.end()) return out;
  if (!entries->is_array()) return Status::InvalidArgument("Bundle.entry: expected an array");
  if (entries->size() > limits.max_entries) {
    return Status::ResourceExhausted("Bundle.entry: " + std::to_string(entries->size()) +
                                     " entries, more than the limit of " +
                                     std::to_string(limits.max_entries));
  }
  const bool is_request = out.type == BundleType::kTransaction || out.type == BundleType::kBatch;
  std::unordered_map<std::string, size_t> full_urls;
  out.entries.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    json& entry = (*entries)[i];
    const std::string path = "Bundle.entry[" + std::to_string(i) + "]";
    if (!entry.is_object()) return Status::InvalidArgument(path + ": not an object");
    BundleEntry e;
    MC_ASSIGN_OR_RETURN(e.full_url, OptionalString(entry, "fullUrl", path));
    if (!e.full_url.empty()) {
      auto [it, inserted] = full_urls.emplace(e.full_url, i);
      if (!inserted) {
        return Status::InvalidArgument(path + ".fullUrl: same as entry " +
                                       std::to_string(it->second));
      }
    }
    if (auto r = entry.find("resource"); r != entry.end()) {
      if (!r->is_object() || !r->contains("resourceType") || !(*r)["resourceType"].is_string()) {
        return Status::InvalidArgument(path +
                                       ".resource: not a resource (object with resourceType)");
      }
      e.resource = std::move(*r);
    }
    if (is_request) {
      auto req = entry.find("request");
      if (req == entry.end() || !req->is_object()) {
        return Status::InvalidArgument(path + ".request: missing (required in a " + type_name +
                                       ")");
      }
      MC_ASSIGN_OR_RETURN(e.method, OptionalString(*req, "method", path + ".request"));
      MC_ASSIGN_OR_RETURN(e.url, OptionalString(*req, "url", path + ".request"));
      MC_ASSIGN_OR_RETURN(e.if_none_exist, OptionalString(*req, "ifNoneExist", path + ".request"));
      MC_ASSIGN_OR_RETURN(e.if_match, OptionalString(*req, "ifMatch", path + ".request"));
      MC_ASSIGN_OR_RETURN(e.if_none_match, OptionalString(*req, "ifNoneMatch", path + ".request"));
      MC_ASSIGN_OR_RETURN(e.if_modified_since,
                          OptionalString(*req, "ifModifiedSince", path + ".request"));
      if (e.method.empty()) {
        return Status::InvalidArgument(path + ".request.method: missing required element");
      }
      if (!IsMethod(e.method)) {
        return Status::InvalidArgument(
            path + ".request.method: not one of GET, HEAD, POST, PUT, DELETE, PATCH");
      }
      if (e.url.empty())
        return Status::InvalidArgument(path + ".request.url: missing required element");
      const bool needs_resource = e.method == "POST" || e.method == "PUT" || e.method == "PATCH";
      if (needs_resource && e.resource.is_null()) {
        return Status::InvalidArgument(path + ".resource: missing (required for " + e.method + ")");
      }
    } else {
      if (e.resource.is_null()) {
        return Status::InvalidArgument(path + ".resource: missing (required in a " + type_name +
                                       ")");
      }
      if (auto search = entry.find("search"); search != entry.end() && search->is_object()) {
        MC_ASSIGN_OR_RETURN(e.search_mode, OptionalString(*search, "mode", path + ".search"));
      }
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

Result<ReferenceMap> ResolveBundleReferences(const Definitions& defs, Bundle& bundle,
                                             const IdAssigner& assign) {
  ReferenceMap map;
  map.entries.resize(bundle.entries.size());
  std::unordered_map<std::string, size_t> claimed;  // "Type/old_id" -> entry
  std::set<std::string> assigned;                   // "Type/new_id"
  for (size_t i = 0; i < bundle.entries.size(); ++i) {
    BundleEntry& e = bundle.entries[i];
    if (!e.resource.is_object()) continue;
    const std::string path = "Bundle.entry[" + std::to_string(i) + "]";
    ReferenceMap::Entry& m = map.entries[i];
    m.type = e.resource["resourceType"].get<std::string>();
    if (auto id = e.resource.find("id"); id != e.resource.end() && id->is_string()) {
      m.old_id = id->get<std::string>();
    }
    m.new_id = assign(m.type, e);
    if (!IsValidId(m.new_id)) {
      return Status::InvalidArgument(path + ": the assigned id is not a valid FHIR id");
    }
    const std::string new_ref = m.type + "/" + m.new_id;
    if (!assigned.insert(new_ref).second) {
      return Status::InvalidArgument(path + ": the assigned id " + new_ref + " is already taken");
    }
    std::string old_ref;
    if (!e.full_url.empty()) {
      map.forward[e.full_url] = new_ref;
      old_ref = TypeIdOfUrl(e.full_url, defs);
    } else if (!m.old_id.empty()) {
      old_ref = m.type + "/" + m.old_id;
    }
    if (!old_ref.empty()) {
      auto [it, inserted] = claimed.emplace(old_ref, i);
      if (!inserted) {
        return Status::InvalidArgument(path + ": " + old_ref + " is also entry " +
                                       std::to_string(it->second));
      }
      map.forward[old_ref] = new_ref;
    }
    if (!e.full_url.empty()) {
      map.backward[new_ref] = e.full_url;
    } else if (!old_ref.empty()) {
      map.backward[new_ref] = old_ref;
    }
  }

  for (size_t i = 0; i < bundle.entries.size(); ++i) {
    BundleEntry& e = bundle.entries[i];
    if (!e.resource.is_object()) continue;
    e.resource["id"] = map.entries[i].new_id;
    auto problem = [&](ReferenceProblem::Kind kind, const std::string& ref,
                       const std::string& expression) {
      map.problems.push_back({kind, i, expression, ref});
      return std::nullopt;
    };
    map.rewritten += RewriteReferences(
        defs, e.resource,
        [&](const std::string& ref, const std::string& expression) -> std::optional<std::string> {
          if (auto it = map.forward.find(ref); it != map.forward.end()) return it->second;
          ReferenceParts parts = ParseReference(ref, &defs);
          switch (parts.kind) {
            case ReferenceParts::Kind::kLocal:
              return std::nullopt;
            case ReferenceParts::Kind::kRelative: {
              // A versioned reference to an entry becomes unversioned: the
              // entry's versions start afresh on this server.
              auto it = map.forward.find(parts.type + "/" + parts.id);
              if (it != map.forward.end()) return it->second;
              return problem(ReferenceProblem::Kind::kNotInBundle, ref, expression);
            }
            case ReferenceParts::Kind::kUrn:
              return problem(ReferenceProblem::Kind::kMissingEntry, ref, expression);
            case ReferenceParts::Kind::kConditional:
              return problem(ReferenceProblem::Kind::kConditional, ref, expression);
            case ReferenceParts::Kind::kAbsolute:
            case ReferenceParts::Kind::kOther:
              return problem(ref.find("://") != std::string::npos
                                 ? ReferenceProblem::Kind::kExternal
                                 : ReferenceProblem::Kind::kNotInBundle,
                             ref, expression);
          }
          return std::nullopt;
        });
  }
  return map;
}

Status RestoreBundleReferences(const Definitions& defs, Bundle& bundle, const ReferenceMap& map) {
  if (map.entries.size() != bundle.entries.size()) {
    return Status::InvalidArgument("reference map is for a bundle of " +
                                   std::to_string(map.entries.size()) + " entries, not " +
                                   std::to_string(bundle.entries.size()));
  }
  for (size_t i = 0; i < bundle.entries.size(); ++i) {
    json& resource = bundle.entries[i].resource;
    const ReferenceMap::Entry& m = map.entries[i];
    if (!resource.is_object() || m.type.empty()) continue;
    if (m.old_id.empty()) {
      resource.erase("id");
    } else {
      resource["id"] = m.old_id;
    }
    RewriteReferences(
        defs, resource,
        [&](const std::string& ref, const std::string&) -> std::optional<std::string> {
          auto it = map.backward.find(ref);
          if (it == map.backward.end()) return std::nullopt;
          return it->second;
        });
  }
  return Status::Ok();
}

TypeResolver BundleTypeResolver(const Bundle& bundle) {
  auto types = std::make_shared<std::unordered_map<std::string, std::string>>();
  for (const BundleEntry& e : bundle.entries) {
    if (!e.resource.is_object()) continue;
    auto rt = e.resource.find("resourceType");
    if (rt == e.resource.end() || !rt->is_string()) continue;
    const std::string type = rt->get<std::string>();
    if (!e.full_url.empty()) (*types)[e.full_url] = type;
    if (auto id = e.resource.find("id"); id != e.resource.end() && id->is_string()) {
      types->emplace(type + "/" + id->get<std::string>(), type);
    }
  }
  return [types](std::string_view reference) -> std::optional<std::string> {
    auto it = types->find(std::string(reference));
    if (it != types->end()) return it->second;
    ReferenceParts parts = ParseReference(reference);
    if (!parts.type.empty()) return parts.type;
    return std::nullopt;
  };
}

json WriteBundle(const Bundle& bundle, std::optional<size_t> total) {
  json out = {{"resourceType", "Bundle"}, {"type", BundleTypeName(bundle.type)}};
  if (!bundle.id.empty()) out["id"] = bundle.id;
  if (total && bundle.type == BundleType::kSearchset) out["total"] = *total;
  if (bundle.entries.empty()) return out;
  json entries = json::array();
  for (const BundleEntry& e : bundle.entries) {
    json entry = json::object();
    if (!e.full_url.empty()) entry["fullUrl"] = e.full_url;
    if (!e.resource.is_null()) entry["resource"] = e.resource;
    if (!e.search_mode.empty()) entry["search"] = {{"mode", e.search_mode}};
    if (!e.method.empty()) {
      json request = {{"method", e.method}, {"url", e.url}};
      if (!e.if_none_exist.empty()) request["ifNoneExist"] = e.if_none_exist;
      if (!e.if_match.empty()) request["ifMatch"] = e.if_match;
      if (!e.if_none_match.empty()) request["ifNoneMatch"] = e.if_none_match;
      if (!e.if_modified_since.empty()) request["ifModifiedSince"] = e.if_modified_since;
      entry["request"] = std::move(request);
    }
    entries.push_back(std::move(entry));
  }
  out["entry"] = std::move(entries);
  return out;
}

}  // namespace medchain::fhir
