// Copyright (c) medchain developers.
// Resource validation: shape limits, the schema step, and the checks the
// schema cannot express (see validate.h).
#include "medchain/fhir/validate.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

namespace medchain::fhir {
namespace {

using nlohmann::json;

// Estimated compact size of a scalar.
size_t ScalarBytes(const json& v) {
  char buf[64];
  switch (v.type()) {
    case json::value_t::string:
      return v.get_ref<const std::string&>().size() + 2;
    case json::value_t::boolean:
      return v.get<bool>() ? 4 : 5;
    case json::value_t::number_integer: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<int64_t>());
      return static_cast<size_t>(r.ptr - buf);
    }
    case json::value_t::number_unsigned: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<uint64_t>());
      return static_cast<size_t>(r.ptr - buf);
    }
    case json::value_t::number_float: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<double>());
      return static_cast<size_t>(r.ptr - buf);
    }
    default:
      return 4;  // null, discarded, binary
  }
}

// Depth and size without recursion: the value may be arbitrarily deep.
std::optional<Issue> ShapeIssue(const json& value, const ValidationLimits& limits,
                                const std::string& expression) {
  std::vector<std::pair<const json*, size_t>> stack{{&value, 1}};
  size_t bytes = 0;
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (node->is_structured()) {
      if (depth > limits.max_depth) {
        return Issue{"error", "too-costly", expression,
                     "nested deeper than " + std::to_string(limits.max_depth) + " levels"};
      }
      bytes += 2 + (node->empty() ? 0 : node->size() - 1);
      if (node->is_object()) {
        for (auto it = node->begin(); it != node->end(); ++it) {
          bytes += it.key().size() + 3;
          stack.emplace_back(&*it, depth + 1);
        }
      } else {
        for (const json& item : *node) stack.emplace_back(&item, depth + 1);
      }
    } else {
      bytes += ScalarBytes(*node);
    }
    if (bytes > limits.max_bytes) {
      return Issue{"error", "too-long", expression,
                   "larger than " + std::to_string(limits.max_bytes) + " bytes"};
    }
  }
  return std::nullopt;
}

bool LooksLikeName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

class Walker {
 public:
  Walker(const Definitions& defs, const ValidationLimits& limits, std::vector<Issue>& issues)
      : m_defs(defs),
        m_limits(limits),
        m_issues(issues),
        m_reference(defs.Definition("Reference")),
        m_resource_list(defs.Definition("ResourceList")) {}

  // How a resource is embedded, for ref-1 and dom-2.
  enum class Embedding { kRoot, kContained };

  struct RootContext {
    std::set<std::string> contained_ids;
  };

  void Resource(const json& resource, std::string& path, Embedding embedding, RootContext* root) {
    if (Full()) return;
    if (!resource.is_object()) {
      Add({"error", "structure", path, "not a JSON object"});
      return;
    }
    auto rt = resource.find("resourceType");
    const std::string rt_path = path.empty() ? "resourceType" : path + ".resourceType";
    if (rt == resource.end()) {
      Add({"error", "required", rt_path, "missing required element"});
      return;
    }
    if (!rt->is_string() || !m_defs.IsResourceType(rt->get_ref<const std::string&>())) {
      std::string what = "not an R4 resource type";
      if (rt->is_string() && LooksLikeName(rt->get_ref<const std::string&>())) {
        what = "'" + rt->get<std::string>() + "' is not an R4 resource type";
      }
      Add({"error", "not-supported", rt_path, what});
      return;
    }
    const std::string& type = rt->get_ref<const std::string&>();
    const DefinitionInfo* def = m_defs.Definition(type);
    if (path.empty()) path = type;
    if (auto id = resource.find("id"); id != resource.end()) {
      if (!id->is_string() || !IsValidId(id->get_ref<const std::string&>())) {
        Add({"error", "value", path + ".id",
             "not a valid FHIR id (1 to 64 of A-Z, a-z, 0-9, '-', '.')"});
      }
    }
    std::vector<Issue> schema_issues;
    if (!m_defs.SchemaCheck(type, resource, path, &schema_issues)) {
      for (Issue& issue : schema_issues) Add(std::move(issue));
    }
    RootContext own;
    if (embedding == Embedding::kRoot) {
      root = &own;
      if (auto c = resource.find("contained"); c != resource.end() && c->is_array()) {
        for (const json& r : *c) {
          auto id = r.is_object() ? r.find("id") : r.end();
          if (r.is_object() && id != r.end() && id->is_string()) {
            own.contained_ids.insert(id->get<std::string>());
          }
        }
      }
    } else if (resource.contains("contained")) {
      Add({"error", "invariant", path + ".contained",
           "a contained resource must not contain resources (dom-2)"});
    }
    Object(resource, *def, path, embedding, *root);
  }

 private:
  bool Full() const { return m_issues.size() >= m_limits.max_issues; }
  void Add(Issue issue) {
    if (Full()) return;
    if (std::find(m_issues.begin(), m_issues.end(), issue) != m_issues.end()) return;
    m_issues.push_back(std::move(issue));
  }

  void Object(const json& node, const DefinitionInfo& def, std::string& path, Embedding embedding,
              RootContext& root) {
    if (Full()) return;
    if (node.empty()) {
      Add({"error", "structure", path, "empty object (not allowed in FHIR JSON)"});
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const ElementInfo* element = def.Find(it.key());
      if (element == nullptr) continue;  // unknown element: the schema step said so
      const size_t len = path.size();
      path += '.';
      path += it.key();
      if (it->is_array()) {
        if (it->empty())
          Add({"error", "structure", path, "empty array (not allowed in FHIR JSON)"});
        size_t i = 0;
        for (const json& item : *it) {
          const size_t item_len = path.size();
          path += '[';
          path += std::to_string(i++);
          path += ']';
          Value(item, *element, it.key(), path, embedding, root);
          path.resize(item_len);
        }
      } else {
        Value(*it, *element, it.key(), path, embedding, root);
      }
      path.resize(len);
    }
    for (size_t i = 0; i < def.required.size(); ++i) {
      bool present = false;
      for (const std::string& name : def.required[i]) {
        if (node.contains(name) || node.contains("_" + name)) {
          present = true;
          break;
        }
      }
      if (!present) {
        Add({"error", "required", path + "." + def.required_names[i], "missing required element"});
      }
    }
    if (&def == m_reference) LocalReference(node, path, embedding, root);
  }

  void Value(const json& value, const ElementInfo& element, std::string_view key, std::string& path,
             Embedding embedding, RootContext& root) {
    const DefinitionInfo* target = element.target;
    if (target == nullptr) return;  // enums and resourceType: the schema step checks them
    if (value.is_object()) {
      if (target == m_resource_list) {
        if (key == "contained") {
          Resource(value, path, Embedding::kContained, &root);
        } else {
          Resource(value, path, Embedding::kRoot, nullptr);
        }
      } else if (!target->primitive()) {
        Object(value, *target, path, embedding, root);
      }
      return;
    }
    // A value of the wrong JSON type was reported by the schema step.
    if (target->pattern.empty()) return;
    if (value.is_string() && target->json_type == "string") {
      if (!m_defs.MatchesPattern(*target, value.get_ref<const std::string&>())) {
        Add({"error", "value", path, "value does not match the FHIR type '" + target->name + "'"});
      }
    } else if (value.is_number() && target->json_type == "number") {
      // integer, positiveInt, unsignedInt and decimal are JSON numbers whose
      // text must still match the type (no "1.5" for an integer).
      if (!m_defs.MatchesPattern(*target, value.dump())) {
        Add({"error", "value", path, "value does not match the FHIR type '" + target->name + "'"});
      }
    }
  }

  // ref-1: "#id" must name a contained resource of the root resource; "#"
  // alone (the container) only makes sense inside a contained resource.
  void LocalReference(const json& reference, const std::string& path, Embedding embedding,
                      const RootContext& root) {
    auto ref = reference.find("reference");
    if (ref == reference.end() || !ref->is_string()) return;
    const std::string& text = ref->get_ref<const std::string&>();
    if (text.empty() || text[0] != '#') return;
    const bool ok = text.size() == 1 ? embedding == Embedding::kContained
                                     : root.contained_ids.count(text.substr(1)) != 0;
    if (!ok) {
      Add({"error", "invariant", path + ".reference",
           "local reference does not name a contained resource (ref-1)"});
    }
  }

  const Definitions& m_defs;
  const ValidationLimits& m_limits;
  std::vector<Issue>& m_issues;
  const DefinitionInfo* m_reference;
  const DefinitionInfo* m_resource_list;
};

}  // namespace

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

Result<json> ParseJson(std::string_view text, const ValidationLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Status::ResourceExhausted("JSON text larger than " + std::to_string(limits.max_bytes) +
                                     " bytes");
  }
  // Nesting, counted on the text so nothing deep is ever built.
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limits.max_depth) {
        return Status::ResourceExhausted("JSON nested deeper than " +
                                         std::to_string(limits.max_depth) + " levels");
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument("not valid JSON (parse error at byte " + std::to_string(e.byte) +
                                   ")");
  }
}

std::vector<Issue> CheckResource(const Definitions& defs, const json& resource,
                                 const ValidationLimits& limits) {
  std::vector<Issue> issues;
  if (!resource.is_object()) {
    issues.push_back({"error", "structure", "", "resource is not a JSON object"});
    return issues;
  }
  std::string where = "resource";
  if (auto rt = resource.find("resourceType");
      rt != resource.end() && rt->is_string() && LooksLikeName(rt->get_ref<const std::string&>())) {
    where = rt->get<std::string>();
  }
  if (auto shape = ShapeIssue(resource, limits, where)) {
    issues.push_back(std::move(*shape));
    return issues;
  }
  Walker walker(defs, limits, issues);
  std::string path;
  walker.Resource(resource, path, Walker::Embedding::kRoot, nullptr);
  return issues;
}

Status Validate(const Definitions& defs, const json& resource, const ValidationLimits& limits) {
  return StatusFromIssues(CheckResource(defs, resource, limits));
}

}  // namespace medchain::fhir
