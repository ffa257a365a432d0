// Copyright (c) medchain developers.
// Reference parsing, schema-directed reference walks, semantic equality.
#include "medchain/fhir/references.h"

#include <cctype>
#include <set>

#include "medchain/fhir/validate.h"

namespace medchain::fhir {
namespace {

using nlohmann::json;

bool LooksLikeType(std::string_view s, const Definitions* defs) {
  if (s.empty() || !std::isupper(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return defs == nullptr || defs->IsResourceType(s);
}

// Splits "a/b/c" at '/'.
std::vector<std::string_view> Segments(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// Fills type/id/version from the tail of `segs` ("Type/id" or
// "Type/id/_history/v"); returns how many segments were used, or 0.
size_t TailTypeId(const std::vector<std::string_view>& segs, const Definitions* defs,
                  ReferenceParts& out) {
  size_t n = segs.size();
  size_t used = 2;
  std::string_view version;
  if (n >= 4 && segs[n - 2] == "_history" && IsValidId(segs[n - 1])) {
    version = segs[n - 1];
    n -= 2;
    used = 4;
  }
  if (n < 2 || !LooksLikeType(segs[n - 2], defs) || !IsValidId(segs[n - 1])) return 0;
  out.type = std::string(segs[n - 2]);
  out.id = std::string(segs[n - 1]);
  out.version = std::string(version);
  return used;
}

// Shared walker over every Reference object; JsonT is json or const json.
template <class JsonT, class Fn>
class ReferenceWalker {
 public:
  ReferenceWalker(const Definitions& defs, Fn& fn)
      : m_defs(defs),
        m_fn(fn),
        m_reference(defs.Definition("Reference")),
        m_resource_list(defs.Definition("ResourceList")) {}

  void Resource(JsonT& resource, std::string& path) {
    if (!resource.is_object()) return;
    auto rt = resource.find("resourceType");
    if (rt == resource.end() || !rt->is_string()) return;
    const std::string& type = rt->template get_ref<const std::string&>();
    if (!m_defs.IsResourceType(type)) return;
    const DefinitionInfo* def = m_defs.Definition(type);
    if (def == nullptr) return;
    if (path.empty()) path = type;
    Object(resource, *def, path);
  }

 private:
  void Object(JsonT& node, const DefinitionInfo& def, std::string& path) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const ElementInfo* element = def.Find(it.key());
      if (element == nullptr || element->target == nullptr) continue;
      const DefinitionInfo* target = element->target;
      if (target->primitive() && target != m_resource_list) continue;
      const size_t len = path.size();
      path += '.';
      path += it.key();
      if (it->is_array()) {
        size_t i = 0;
        for (auto& item : *it) {
          const size_t item_len = path.size();
          path += '[';
          path += std::to_string(i++);
          path += ']';
          Value(item, *target, path);
          path.resize(item_len);
        }
      } else {
        Value(*it, *target, path);
      }
      path.resize(len);
    }
  }

  void Value(JsonT& value, const DefinitionInfo& target, std::string& path) {
    if (!value.is_object()) return;
    if (&target == m_resource_list) {
      Resource(value, path);
      return;
    }
    if (&target == m_reference) {
      auto ref = value.find("reference");
      if (ref != value.end() && ref->is_string()) m_fn(value, path);
    }
    Object(value, target, path);
  }

  const Definitions& m_defs;
  Fn& m_fn;
  const DefinitionInfo* m_reference;
  const DefinitionInfo* m_resource_list;
};

// --- semantic equality

class Comparer {
 public:
  Comparer(const Definitions& defs, ReferenceCorrespondence& corr)
      : m_defs(defs),
        m_corr(corr),
        m_reference(defs.Definition("Reference")),
        m_resource_list(defs.Definition("ResourceList")) {}

  std::optional<std::string> Resource(const json& a, const json& b, const std::string& path,
                                      bool top_level) {
    if (!a.is_object() || !b.is_object()) return Values(a, b, nullptr, path);
    auto ta = a.find("resourceType");
    auto tb = b.find("resourceType");
    if (ta == a.end() || tb == b.end() || *ta != *tb || !ta->is_string()) {
      return (path.empty() ? std::string("resource") : path) + ".resourceType: differs";
    }
    const std::string& type = ta->get_ref<const std::string&>();
    const std::string here = path.empty() ? type : path;
    const DefinitionInfo* def = m_defs.Definition(type);
    return Object(a, b, def, here, top_level ? Root::kTop : Root::kEmbedded);
  }

 private:
  enum class Root { kNo, kTop, kEmbedded };

  // meta without versionId/lastUpdated; null when nothing else is left.
  static json StrippedMeta(const json& node) {
    auto it = node.find("meta");
    if (it == node.end() || !it->is_object()) return it == node.end() ? json() : *it;
    json meta = *it;
    meta.erase("versionId");
    meta.erase("lastUpdated");
    return meta.empty() ? json() : meta;
  }

  std::optional<std::string> Object(const json& a, const json& b, const DefinitionInfo* def,
                                    const std::string& path, Root root) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const std::string& key : keys) {
      const std::string sub = path + "." + key;
      if (root != Root::kNo && key == "meta") {
        json ma = StrippedMeta(a);
        json mb = StrippedMeta(b);
        if (ma.is_null() != mb.is_null()) return sub + ": present on one side only";
        if (ma.is_null()) continue;
        const ElementInfo* e = def ? def->Find("meta") : nullptr;
        if (auto d = Values(ma, mb, e ? e->target : nullptr, sub)) return d;
        continue;
      }
      auto ia = a.find(key);
      auto ib = b.find(key);
      if (ia == a.end() || ib == b.end()) return sub + ": present on one side only";
      if (root == Root::kTop && key == "id" && ia->is_string() && ib->is_string()) {
        // Ids pair in their own namespace: "urn:uuid:X" may rename to
        // "Patient/1" while the id X renames to 1.
        const std::string prefix = "id:" + a.value("resourceType", "") + "/";
        if (!m_corr.Match(prefix + ia->get<std::string>(), prefix + ib->get<std::string>())) {
          return sub + ": ids are not renamed consistently";
        }
        continue;
      }
      if (def == m_reference && key == "reference" && ia->is_string() && ib->is_string()) {
        const std::string& ra = ia->get_ref<const std::string&>();
        const std::string& rb = ib->get_ref<const std::string&>();
        const bool local = (!ra.empty() && ra[0] == '#') || (!rb.empty() && rb[0] == '#');
        if (local ? ra != rb : !m_corr.Match(ra, rb)) {
          return sub + ": references are not renamed consistently";
        }
        continue;
      }
      const ElementInfo* e = def ? def->Find(key) : nullptr;
      if (auto d = Values(*ia, *ib, e ? e->target : nullptr, sub)) return d;
    }
    return std::nullopt;
  }

  std::optional<std::string> Values(const json& a, const json& b, const DefinitionInfo* target,
                                    const std::string& path) {
    if (a.is_array() && b.is_array()) {
      if (a.size() != b.size()) return path + ": different number of items";
      for (size_t i = 0; i < a.size(); ++i) {
        if (auto d = Values(a[i], b[i], target, path + "[" + std::to_string(i) + "]")) return d;
      }
      return std::nullopt;
    }
    if (a.is_object() && b.is_object()) {
      if (target == m_resource_list) return Resource(a, b, path, /*top_level=*/false);
      return Object(a, b, target, path, Root::kNo);
    }
    if (a.is_number() && b.is_number()) {
      // nlohmann compares integers and floats by value.
      if (a == b) return std::nullopt;
      return path + ": values differ";
    }
    if (a.type() != b.type()) return path + ": different JSON types";
    if (a != b) return path + ": values differ";
    return std::nullopt;
  }

  const Definitions& m_defs;
  ReferenceCorrespondence& m_corr;
  const DefinitionInfo* m_reference;
  const DefinitionInfo* m_resource_list;
};

}  // namespace

ReferenceParts ParseReference(std::string_view reference, const Definitions* defs) {
  ReferenceParts out;
  if (reference.empty()) return out;
  if (reference[0] == '#') {
    out.kind = ReferenceParts::Kind::kLocal;
    out.id = std::string(reference.substr(1));
    return out;
  }
  if (reference.rfind("urn:uuid:", 0) == 0 || reference.rfind("urn:oid:", 0) == 0) {
    out.kind = ReferenceParts::Kind::kUrn;
    return out;
  }
  const size_t query = reference.find('?');
  const size_t scheme = reference.find("://");
  if (query != std::string_view::npos && (scheme == std::string_view::npos || scheme > query)) {
    // "Type?search" (whose search may well contain a URL).
    if (LooksLikeType(reference.substr(0, query), defs)) {
      out.kind = ReferenceParts::Kind::kConditional;
      out.type = std::string(reference.substr(0, query));
    }
    return out;
  }
  if (scheme != std::string_view::npos) {
    std::vector<std::string_view> segs = Segments(reference.substr(scheme + 3));
    size_t used = TailTypeId(segs, defs, out);
    if (used == 0 || used >= segs.size()) {  // needs a host before Type/id
      out = ReferenceParts();
      return out;
    }
    out.kind = ReferenceParts::Kind::kAbsolute;
    size_t base_segments = segs.size() - used;
    std::string base(reference.substr(0, scheme + 3));
    for (size_t i = 0; i < base_segments; ++i) {
      if (i) base += '/';
      base += segs[i];
    }
    out.base = std::move(base);
    return out;
  }
  std::vector<std::string_view> segs = Segments(reference);
  if ((segs.size() == 2 || segs.size() == 4) && TailTypeId(segs, defs, out) == segs.size()) {
    out.kind = ReferenceParts::Kind::kRelative;
    return out;
  }
  out = ReferenceParts();
  return out;
}

std::optional<std::string> ReferenceType(const json& reference_object) {
  if (!reference_object.is_object()) return std::nullopt;
  auto ref = reference_object.find("reference");
  if (ref != reference_object.end() && ref->is_string()) {
    ReferenceParts parts = ParseReference(ref->get_ref<const std::string&>());
    if (!parts.type.empty()) return parts.type;
  }
  auto type = reference_object.find("type");
  if (type != reference_object.end() && type->is_string()) {
    std::string t = type->get<std::string>();
    size_t slash = t.rfind('/');
    if (slash != std::string::npos) t = t.substr(slash + 1);
    if (!t.empty()) return t;
  }
  return std::nullopt;
}

void ForEachReference(
    const Definitions& defs, const json& resource,
    const std::function<void(const json& reference, const std::string& expression)>& fn) {
  auto call = [&fn](const json& ref, const std::string& path) { fn(ref, path); };
  ReferenceWalker<const json, decltype(call)> walker(defs, call);
  std::string path;
  walker.Resource(resource, path);
}

size_t RewriteReferences(const Definitions& defs, json& resource,
                         const std::function<std::optional<std::string>(
                             const std::string& reference, const std::string& expression)>& map) {
  size_t count = 0;
  auto call = [&](json& ref, const std::string& path) {
    json& value = ref["reference"];
    if (auto replacement = map(value.get_ref<const std::string&>(), path)) {
      value = std::move(*replacement);
      ++count;
    }
  };
  ReferenceWalker<json, decltype(call)> walker(defs, call);
  std::string path;
  walker.Resource(resource, path);
  return count;
}

bool ReferenceCorrespondence::Match(const std::string& a, const std::string& b) {
  auto ia = m_a_to_b.find(a);
  auto ib = m_b_to_a.find(b);
  if (ia == m_a_to_b.end() && ib == m_b_to_a.end()) {
    m_a_to_b.emplace(a, b);
    m_b_to_a.emplace(b, a);
    return true;
  }
  return ia != m_a_to_b.end() && ib != m_b_to_a.end() && ia->second == b && ib->second == a;
}

std::optional<std::string> SemanticDifference(const Definitions& defs, const json& a, const json& b,
                                              ReferenceCorrespondence& corr) {
  Comparer comparer(defs, corr);
  return comparer.Resource(a, b, std::string(), /*top_level=*/true);
}

}  // namespace medchain::fhir
