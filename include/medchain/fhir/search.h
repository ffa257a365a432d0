// Copyright (c) medchain developers.
// Search: the query parameters the facade supports, parsed with the R4
// SearchParameters, a matcher, and the searchset Bundle.
//
// Supported: `_id`, `_lastUpdated`, `_count`, and every reference search
// parameter of the type whose expression compiles (fhirpath.h): `patient`,
// `subject`, Provenance's `target`, AuditEvent's `agent`, ... with the
// `:Type` modifier. Other parameters (tokens, strings, `_sort`, chains, ...)
// are not applied; they are listed in SearchQuery::ignored, as FHIR's lenient
// handling allows, and left out of the self link so the client can see it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"
#include "medchain/fhir/datetime.h"
#include "medchain/fhir/definitions.h"
#include "medchain/fhir/fhirpath.h"

namespace medchain::fhir {

struct ReferenceCriterion {
  std::string code;  // "patient"
  const SearchParameter* definition = nullptr;
  // Any of these (comma-separated values are alternatives). "Patient/123",
  // or a bare "123" when the target type is open (matches any type).
  std::vector<std::string> values;
};

struct DateCriterion {
  std::string prefix;  // eq, ne, lt, le, gt, ge, sa, eb
  TimeRange range;
  std::string text;  // as given, for the self link
};

struct SearchQuery {
  std::string type;                            // the resource type searched
  std::vector<std::string> ids;                // _id (any of); empty: no constraint
  std::vector<ReferenceCriterion> references;  // all must hold
  std::vector<DateCriterion> last_updated;     // all must hold
  size_t count = 0;                            // page size (_count, capped)
  std::vector<std::string> ignored;            // parameter names not applied

  // The reference values of `code` ("patient"), or nullptr.
  const ReferenceCriterion* Reference(std::string_view code) const;
};

struct SearchOptions {
  size_t default_count = 50;
  size_t max_count = 1000;
};

// Parses decoded query parameters (name, value) of `GET /{type}?...`. Fails
// (kInvalidArgument, naming the parameter) on a type that is not an R4
// resource type, a malformed value of a supported parameter, an unsupported
// modifier of one (":missing", ":identifier", ...), and a `:Type` modifier
// that is not a target of the parameter.
Result<SearchQuery> ParseSearch(const Definitions& defs, std::string_view type,
                                const std::vector<std::pair<std::string, std::string>>& params,
                                const SearchOptions& options = {});

// Whether `resource` satisfies every criterion of `query` (its type, _id,
// each reference parameter, _lastUpdated against meta.lastUpdated).
bool Matches(const SearchQuery& query, const nlohmann::json& resource,
             const TypeResolver& resolve = {});

// The applied parameters as a query string ("patient=Patient%2F123&_count=50"),
// for the searchset's self link.
std::string CanonicalQueryString(const SearchQuery& query);

struct SearchMatch {
  std::string full_url;  // "<base>/Observation/123"
  nlohmann::json resource;
  std::string mode = "match";  // match | include | outcome
};

// A searchset Bundle: total, link self (`self_url`, omitted when empty), and
// one entry per match with fullUrl, resource and search.mode.
nlohmann::json SearchsetBundle(std::vector<SearchMatch> matches, size_t total,
                               std::string_view self_url);

}  // namespace medchain::fhir
