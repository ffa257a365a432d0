// Copyright (c) medchain developers.
#include "medchain/fhir/search.h"

#include <algorithm>
#include <charconv>

#include "medchain/fhir/bundle.h"
#include "medchain/fhir/references.h"
#include "medchain/fhir/validate.h"

namespace medchain::fhir {
namespace {

using nlohmann::json;

// Splits at commas not escaped as "\,", unescaping them.
std::vector<std::string> SplitValues(std::string_view value) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == ',') {
      out.back() += ',';
      ++i;
    } else if (value[i] == ',') {
      out.emplace_back();
    } else {
      out.back() += value[i];
    }
  }
  return out;
}

// Parameters about the response, not the selection: never applied here.
bool IsResultParameter(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "_format",  "_pretty",     "_summary", "_elements",  "_sort",
      "_include", "_revinclude", "_total",   "_contained", "_containedType"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// "Type/id" of a Reference object's text, or "" when it has none.
std::string TypeIdOf(const json& reference_object) {
  auto ref = reference_object.find("reference");
  if (ref == reference_object.end() || !ref->is_string()) return {};
  ReferenceParts parts = ParseReference(ref->get_ref<const std::string&>());
  if (parts.kind != ReferenceParts::Kind::kRelative &&
      parts.kind != ReferenceParts::Kind::kAbsolute) {
    return {};
  }
  return parts.type + "/" + parts.id;
}

}  // namespace

const ReferenceCriterion* SearchQuery::Reference(std::string_view code) const {
  for (const ReferenceCriterion& c : references) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

Result<SearchQuery> ParseSearch(const Definitions& defs, std::string_view type,
                                const std::vector<std::pair<std::string, std::string>>& params,
                                const SearchOptions& options) {
  if (!defs.IsResourceType(type)) {
    return Status::InvalidArgument("search: not an R4 resource type");
  }
  SearchQuery q;
  q.type = std::string(type);
  q.count = std::min(options.default_count, options.max_count);
  for (const auto& [raw_name, value] : params) {
    std::string name = raw_name;
    std::string modifier;
    if (size_t colon = name.find(':'); colon != std::string::npos) {
      modifier = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    if (name == "_count") {
      size_t n = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (!modifier.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size()) {
        return Status::InvalidArgument("_count: expected a non-negative integer");
      }
      q.count = std::min(n, options.max_count);
      continue;
    }
    if (name == "_id") {
      if (!modifier.empty()) return Status::InvalidArgument("_id: modifiers are not supported");
      for (std::string& id : SplitValues(value)) {
        if (!IsValidId(id)) return Status::InvalidArgument("_id: not a valid FHIR id");
        q.ids.push_back(std::move(id));
      }
      continue;
    }
    if (name == "_lastUpdated") {
      if (!modifier.empty()) {
        return Status::InvalidArgument("_lastUpdated: modifiers are not supported");
      }
      DateCriterion c;
      std::string_view text = value;
      c.prefix = "eq";
      static constexpr std::string_view kPrefixes[] = {"eq", "ne", "lt", "le", "gt",
                                                       "ge", "sa", "eb", "ap"};
      if (text.size() > 2 && std::find(std::begin(kPrefixes), std::end(kPrefixes),
                                       text.substr(0, 2)) != std::end(kPrefixes)) {
        c.prefix = std::string(text.substr(0, 2));
        text.remove_prefix(2);
      }
      if (c.prefix == "ap")
        return Status::InvalidArgument("_lastUpdated: prefix ap is not supported");
      auto range = ParseFhirDateTime(text);
      if (!range) return Status::InvalidArgument("_lastUpdated: not a FHIR date/dateTime");
      c.range = *range;
      c.text = value;
      q.last_updated.push_back(std::move(c));
      continue;
    }
    if (IsResultParameter(name) || name.find('.') != std::string::npos) {
      q.ignored.push_back(raw_name);  // results control, or a chain
      continue;
    }
    const SearchParameter* sp = defs.FindSearchParameter(type, name);
    if (sp == nullptr || sp->type != "reference" || !sp->supported) {
      q.ignored.push_back(raw_name);
      continue;
    }
    std::string only_type;
    if (!modifier.empty()) {
      if (!defs.IsResourceType(modifier)) {
        const bool printable =
            modifier.size() <= 32 && std::all_of(modifier.begin(), modifier.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-';
            });
        return Status::InvalidArgument(
            name + ": modifier " + (printable ? ":" + modifier + " " : "") + "is not supported");
      }
      if (!sp->targets.empty() &&
          std::find(sp->targets.begin(), sp->targets.end(), modifier) == sp->targets.end()) {
        return Status::InvalidArgument(name + ": " + modifier + " is not a target type");
      }
      only_type = modifier;
    }
    ReferenceCriterion c;
    c.code = name;
    c.definition = sp;
    for (const std::string& v : SplitValues(value)) {
      ReferenceParts parts = ParseReference(v, &defs);
      std::string normalized;
      if (parts.kind == ReferenceParts::Kind::kRelative ||
          parts.kind == ReferenceParts::Kind::kAbsolute) {
        if (!only_type.empty() && parts.type != only_type) {
          return Status::InvalidArgument(name + ": value is not a " + only_type + " reference");
        }
        normalized = parts.type + "/" + parts.id;
      } else if (IsValidId(v)) {
        if (!only_type.empty()) {
          normalized = only_type + "/" + v;
        } else if (sp->targets.size() == 1) {
          normalized = sp->targets[0] + "/" + v;
        } else {
          normalized = v;  // any type with this id
        }
      } else {
        return Status::InvalidArgument(name + ": expected [Type/]id or an absolute reference");
      }
      c.values.push_back(std::move(normalized));
    }
    q.references.push_back(std::move(c));
  }
  return q;
}

bool Matches(const SearchQuery& query, const json& resource, const TypeResolver& resolve) {
  if (!resource.is_object()) return false;
  auto rt = resource.find("resourceType");
  if (rt == resource.end() || !rt->is_string() || rt->get_ref<const std::string&>() != query.type) {
    return false;
  }
  if (!query.ids.empty()) {
    auto id = resource.find("id");
    if (id == resource.end() || !id->is_string() ||
        std::find(query.ids.begin(), query.ids.end(), id->get<std::string>()) == query.ids.end()) {
      return false;
    }
  }
  for (const ReferenceCriterion& c : query.references) {
    bool any = false;
    for (const FhirPath& path : c.definition->paths) {
      for (const json* node : EvaluateFhirPath(path, resource, resolve)) {
        if (!node->is_object()) continue;
        const std::string type_id = TypeIdOf(*node);
        if (type_id.empty()) continue;
        for (const std::string& v : c.values) {
          const bool bare = v.find('/') == std::string::npos;
          if (bare ? type_id.substr(type_id.find('/') + 1) == v : type_id == v) {
            any = true;
            break;
          }
        }
        if (any) break;
      }
      if (any) break;
    }
    if (!any) return false;
  }
  if (!query.last_updated.empty()) {
    auto meta = resource.find("meta");
    if (meta == resource.end() || !meta->is_object()) return false;
    auto lu = meta->find("lastUpdated");
    if (lu == meta->end() || !lu->is_string()) return false;
    auto at = ParseFhirDateTime(lu->get_ref<const std::string&>());
    if (!at) return false;
    const int64_t t = at->begin_ms;
    for (const DateCriterion& c : query.last_updated) {
      const int64_t b = c.range.begin_ms;
      const int64_t e = c.range.end_ms;
      bool ok = false;
      if (c.prefix == "eq")
        ok = b <= t && t < e;
      else if (c.prefix == "ne")
        ok = !(b <= t && t < e);
      else if (c.prefix == "lt" || c.prefix == "eb")
        ok = t < b;
      else if (c.prefix == "le")
        ok = t < e;
      else if (c.prefix == "gt" || c.prefix == "sa")
        ok = t >= e;
      else if (c.prefix == "ge")
        ok = t >= b;
      if (!ok) return false;
    }
  }
  return true;
}

std::string CanonicalQueryString(const SearchQuery& query) {
  std::string out;
  auto add = [&out](std::string_view name, std::string_view value) {
    if (!out.empty()) out += '&';
    out += PercentEncode(name);
    out += '=';
    out += PercentEncode(value);
  };
  if (!query.ids.empty()) {
    std::string v;
    for (const std::string& id : query.ids) v += (v.empty() ? "" : ",") + id;
    add("_id", v);
  }
  for (const ReferenceCriterion& c : query.references) {
    std::string v;
    for (const std::string& value : c.values) {
      std::string escaped;
      for (char ch : value) {
        if (ch == ',') escaped += '\\';
        escaped += ch;
      }
      v += (v.empty() ? "" : ",") + escaped;
    }
    add(c.code, v);
  }
  for (const DateCriterion& c : query.last_updated) add("_lastUpdated", c.text);
  add("_count", std::to_string(query.count));
  return out;
}

json SearchsetBundle(std::vector<SearchMatch> matches, size_t total, std::string_view self_url) {
  Bundle bundle;
  bundle.type = BundleType::kSearchset;
  bundle.entries.reserve(matches.size());
  for (SearchMatch& m : matches) {
    BundleEntry e;
    e.full_url = std::move(m.full_url);
    e.resource = std::move(m.resource);
    e.search_mode = std::move(m.mode);
    bundle.entries.push_back(std::move(e));
  }
  json out = WriteBundle(bundle, total);
  if (!self_url.empty()) {
    out["link"] = json::array({{{"relation", "self"}, {"url", self_url}}});
  }
  return out;
}

}  // namespace medchain::fhir
