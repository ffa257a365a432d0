// Copyright (c) medchain developers.
// Bundles: reading the four kinds medchain accepts, resolving the references
// between their entries to the ids the node assigns, and writing bundles.
//
// Import flow (the CLI's `fhir import`, the facade's `POST /` transaction):
//   ParseJson -> ParseBundle -> CheckResource per entry -> ResolveBundleReferences
//   (new ids, every internal reference rewritten) -> store each resource.
// Export flow: stored resources -> WriteBundle (collection or searchset);
// RestoreBundleReferences undoes a resolution exactly when the original
// fullUrls and ids are wanted back.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"
#include "medchain/fhir/definitions.h"
#include "medchain/fhir/fhirpath.h"

namespace medchain::fhir {

enum class BundleType { kTransaction, kBatch, kCollection, kSearchset };
std::string_view BundleTypeName(BundleType type);  // "transaction", ...

struct BundleEntry {
  std::string full_url;           // entry.fullUrl, or ""
  nlohmann::json resource;        // entry.resource, or null (GET and DELETE requests)
  std::string method;             // entry.request.method ("POST", "PUT", ...), or ""
  std::string url;                // entry.request.url, or ""
  std::string if_none_exist;      // entry.request.ifNoneExist (conditional create), or ""
  std::string if_match;           // entry.request.ifMatch (version-aware update), or ""
  std::string if_none_match;      // entry.request.ifNoneMatch, or ""
  std::string if_modified_since;  // entry.request.ifModifiedSince, or ""
  std::string search_mode;        // entry.search.mode (searchset), or ""
};

struct Bundle {
  BundleType type = BundleType::kCollection;
  std::string id;  // Bundle.id, or ""
  std::vector<BundleEntry> entries;
};

struct BundleLimits {
  size_t max_entries = 10000;
};

// Reads a Bundle of type transaction, batch, collection or searchset (the
// resources are moved out of `bundle`). Refuses, naming the element, other
// types ("Bundle.type: 'document' is not supported; expected transaction,
// batch, collection or searchset"), entries without a resource where one is
// needed (collection and searchset; POST and PUT requests), transaction and
// batch entries without request.method/url, unknown methods, duplicate
// fullUrls, and more than limits.max_entries entries.
// Does not validate the resources: run CheckResource on each.
// REQUIRES: `bundle` is depth-bounded (ParseJson or CheckResource).
Result<Bundle> ParseBundle(nlohmann::json bundle, const BundleLimits& limits = {});

// Chooses the id under which an entry's resource will be stored. Called once
// per entry that carries a resource, in entry order; must return a valid FHIR
// id (validate.h IsValidId), unique per type.
using IdAssigner = std::function<std::string(std::string_view type, const BundleEntry& entry)>;

// A reference that resolution could not, or would not, rewrite.
struct ReferenceProblem {
  enum class Kind {
    kMissingEntry,  // urn:uuid:/urn:oid: (or an in-bundle-looking absolute URL) with no entry
    kNotInBundle,   // relative Type/id with no entry: may exist on the server
    kConditional,   // Type?search: resolving it needs a search; left as it is
    kExternal,      // absolute URL of another server: left as it is
  };
  Kind kind;
  size_t entry = 0;        // index into Bundle::entries
  std::string expression;  // FHIRPath of the Reference ("Observation.subject")
  std::string reference;   // the value as found (a reference, not health data)
};
std::string_view ReferenceProblemName(ReferenceProblem::Kind kind);

// What ResolveBundleReferences did, and its inverse.
struct ReferenceMap {
  struct Entry {
    std::string type;    // resourceType
    std::string old_id;  // resource.id before, or "" when it had none
    std::string new_id;  // the assigned id
  };
  std::vector<Entry> entries;  // parallel to Bundle::entries (empty type: no resource)
  // Old reference text -> "Type/new_id". Keys: every entry's fullUrl, and
  // "Type/old_id" where an entry's fullUrl ends in it or, lacking a fullUrl,
  // its resource has an id.
  std::map<std::string, std::string, std::less<>> forward;
  // "Type/new_id" -> the reference text the bundle used for that entry (its
  // fullUrl, else "Type/old_id").
  std::map<std::string, std::string, std::less<>> backward;
  size_t rewritten = 0;  // Reference.reference values replaced
  std::vector<ReferenceProblem> problems;
};

// Assigns every entry's resource its new id (resource.id is set to it) and
// rewrites every Reference.reference inside every resource (contained and
// nested ones included) that points to an entry of the bundle — by fullUrl
// (urn:uuid:..., urn:oid:..., absolute) or by Type/id — to "Type/new_id".
// "#local" references and absolute URLs of other servers are left alone.
// References to missing entries are reported in `problems`, not refused: the
// caller decides (the importer refuses kMissingEntry, and may look up
// kNotInBundle on the server).
// Fails (and leaves `bundle` unspecified) when the assigner returns an
// invalid id or the same Type/id twice, or two entries claim the same
// Type/id.
Result<ReferenceMap> ResolveBundleReferences(const Definitions& defs, Bundle& bundle,
                                             const IdAssigner& assign);

// The exact inverse: restores every entry's original id (removing the id when
// it had none) and every rewritten reference to the text the bundle used.
// REQUIRES: `map` came from ResolveBundleReferences on this bundle.
Status RestoreBundleReferences(const Definitions& defs, Bundle& bundle, const ReferenceMap& map);

// A TypeResolver for references inside a bundle before resolution: the
// resourceType of the entry whose fullUrl (or Type/id) the reference names,
// else what the reference text says.
TypeResolver BundleTypeResolver(const Bundle& bundle);

// Writes a Bundle resource: id, type, entries with fullUrl, resource, request
// (transaction/batch) and search.mode (searchset): what a Bundle holds (other
// elements of the input, such as Bundle.meta or entry.response, are not kept
// by ParseBundle). A searchset gets `total` when given.
nlohmann::json WriteBundle(const Bundle& bundle, std::optional<size_t> total = std::nullopt);

}  // namespace medchain::fhir
