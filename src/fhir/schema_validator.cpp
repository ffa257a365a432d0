// Copyright (c) medchain developers.
// The JSON Schema step of validation, with valijson.
//
// This is the only file that includes valijson: its templates are heavy, and
// keeping them in one translation unit keeps the build lean.
//
// How the R4 schema is used:
//  - Each resource is validated against the definition of its own type
//    (#/definitions/Observation), never the schema's root `oneOf` over all 146
//    types: that would try every type and report 146 failures.
//  - `ResourceList` (contained, Bundle.entry.resource, Parameters.parameter.
//    resource, ...) is the same 146-way oneOf; here it is replaced by "an
//    object with a string resourceType", and validate.cpp checks each embedded
//    resource against its own type, with its own element path.
//  - The `pattern`s of primitive types (and of primitives a schema inlines
//    into a property) are removed from the copy valijson sees. valijson 1.0 matches them with
//    std::regex's backtracking executor, whose recursion grows with the length of the string (a
//    long base64 attachment overflows the stack), and caches compiled regexes inside the Validator
//    (not thread-safe to share). validate.cpp applies the same patterns itself
//    (Definitions::MatchesPattern).
//  - `description`s are dropped: valijson would keep a copy of each.
// What remains for valijson: JSON value types, `required` (complex elements),
// enums, `const` resourceType, and additionalProperties: false (unknown
// elements).
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "medchain/fhir/definitions.h"

namespace medchain::fhir {

class SchemaEngine {
 public:
  valijson::Schema schema;
  // Resource type -> the subschema of its definition. Pointers into `schema`.
  std::map<std::string, const valijson::Subschema*, std::less<>> by_type;
};

namespace {

using nlohmann::json;

// Removes string-valued "description" and "pattern" members (a property
// *named* description or pattern has an object value and stays).
void StripDescriptionsAndPatterns(json& node) {
  if (node.is_object()) {
    for (const char* key : {"description", "pattern"}) {
      auto d = node.find(key);
      if (d != node.end() && d->is_string()) node.erase(d);
    }
    for (auto& [key, value] : node.items()) StripDescriptionsAndPatterns(value);
  } else if (node.is_array()) {
    for (json& item : node) StripDescriptionsAndPatterns(item);
  }
}

// [A-Za-z_][A-Za-z0-9_]{0,63}: what FHIR element names look like.
bool IsElementName(std::string_view s) {
  if (s.empty() || s.size() > 64 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

bool IsIndex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// What a JSON value at `element` should be, for "wrong JSON type" messages.
std::string Expected(const ElementInfo* element, bool item) {
  if (element == nullptr) return "a value of another type";
  if (element->array && !item) return "an array";
  const DefinitionInfo* t = element->target;
  if (t == nullptr) return element->codes.empty() ? "a string" : "a code (string)";
  if (t->name == "ResourceList") return "a resource (object)";
  if (!t->primitive()) return "an object (" + t->name + ")";
  const std::string json_type = t->json_type.empty() ? "string" : t->json_type;
  const std::string article = json_type == "object" || json_type == "array" ? "an " : "a ";
  if (t->name == json_type) return article + json_type;
  return article + json_type + " (" + t->name + ")";
}

std::string CodeList(const std::vector<std::string>& codes) {
  constexpr size_t kMaxListed = 12;
  std::string out;
  for (size_t i = 0; i < codes.size() && i < kMaxListed; ++i) {
    if (i) out += ", ";
    out += codes[i];
  }
  if (codes.size() > kMaxListed) out += ", ... (" + std::to_string(codes.size()) + " codes)";
  return out;
}

}  // namespace

Result<std::shared_ptr<const SchemaEngine>> Definitions::BuildSchemaEngine(
    nlohmann::json definitions, const std::vector<std::string>& resource_types) {
  json defs = std::move(definitions);
  defs["ResourceList"] = {{"type", "object"},
                          {"required", json::array({"resourceType"})},
                          {"properties", {{"resourceType", {{"type", "string"}}}}}};
  StripDescriptionsAndPatterns(defs);
  json root = {{"definitions", std::move(defs)}, {"properties", json::object()}};
  for (const std::string& type : resource_types) {
    root["properties"][type] = {{"$ref", "#/definitions/" + type}};
  }

  auto engine = std::make_shared<SchemaEngine>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(root);
    parser.populateSchema(adapter, engine->schema);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("fhir.schema.json: valijson cannot parse it (") +
                                   e.what() + ")");
  }
  valijson::Subschema::ApplyFunction collect = [&](const valijson::constraints::Constraint& c) {
    if (auto* props = dynamic_cast<const valijson::constraints::PropertiesConstraint*>(&c)) {
      props->applyToProperties([&](const auto& name, const valijson::Subschema* sub) {
        engine->by_type.emplace(std::string(name.c_str()), sub);
        return true;
      });
    }
    return true;
  };
  engine->schema.apply(collect);
  if (engine->by_type.size() != resource_types.size()) {
    return Status::Internal("fhir.schema.json: " + std::to_string(engine->by_type.size()) +
                            " type subschemas for " + std::to_string(resource_types.size()) +
                            " resource types");
  }
  return std::shared_ptr<const SchemaEngine>(std::move(engine));
}

bool Definitions::SchemaCheck(std::string_view type, const nlohmann::json& resource,
                              std::string_view expression, std::vector<Issue>* issues) const {
  auto it = m_schema->by_type.find(type);
  if (it == m_schema->by_type.end()) {
    if (issues) {
      issues->push_back(
          {"error", "not-supported", std::string(expression), "not an R4 resource type"});
    }
    return false;
  }
  const valijson::Subschema& sub = *it->second;
  valijson::adapters::NlohmannJsonAdapter adapter(resource);
  // A Validator per call: it caches regexes internally (none are left in the
  // schema, see above) and so is cheap to build and never shared.
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  // Fast pass: stops at the first failure.
  if (validator.validate(sub, adapter, nullptr)) return true;
  if (issues == nullptr) return false;

  valijson::ValidationResults results;
  validator.validate(sub, adapter, &results);
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    const std::string& what = error.description;
    // Wrappers ("Failed to validate item #3 in array.", "... against schema
    // associated with property name 'x'.") repeat a more precise error.
    if (what.rfind("Failed to validate", 0) == 0) continue;

    // Resolve the context to an element path and the schema element there.
    std::string path(expression);
    const DefinitionInfo* def = Definition(type);
    const ElementInfo* element = nullptr;
    bool item = false;
    for (size_t i = 1; i < error.context.size(); ++i) {  // [0] is "<root>"
      std::string_view seg = error.context[i];
      if (seg.size() >= 2 && seg.front() == '[' && seg.back() == ']') {
        seg = seg.substr(1, seg.size() - 2);
      }
      if (IsIndex(seg)) {
        path += "[";
        path += seg;
        path += "]";
        item = true;
        continue;
      }
      path += ".";
      path += seg;
      element = def ? def->Find(seg) : nullptr;
      def = element ? element->target : nullptr;
      item = false;
    }

    Issue issue;
    auto quoted = [&what]() {
      size_t end = what.rfind('\'');
      size_t begin = end == std::string::npos ? end : what.rfind('\'', end - 1);
      if (begin == std::string::npos || end == std::string::npos) return std::string();
      return what.substr(begin + 1, end - begin - 1);
    };
    if (what.rfind("Missing required property", 0) == 0) {
      issue = {"error", "required", path + "." + quoted(), "missing required element"};
    } else if (what.rfind("Object contains a property that could not be validated", 0) == 0) {
      // The name is the client's; shown only when it could be an element
      // name (it might otherwise carry data).
      const std::string name = quoted();
      const std::string where = def ? " (not defined in " + def->name + ")" : std::string();
      if (IsElementName(name)) {
        issue = {"error", "structure", path + "." + name, "unknown element" + where};
      } else {
        issue = {"error", "structure", path, "unknown element" + where + ", name not shown"};
      }
    } else if (what.rfind("Value type not permitted", 0) == 0) {
      issue = {"error", "structure", path, "wrong JSON type: expected " + Expected(element, item)};
    } else if (what.rfind("Failed to match against any enum values", 0) == 0) {
      issue = {"error", "code-invalid", path,
               element ? "code is not one of the allowed values (" + CodeList(element->codes) + ")"
                       : "code is not one of the allowed values"};
    } else if (what.rfind("Failed to match expected value set by 'const'", 0) == 0) {
      issue = {"error", "value", path, "must be '" + std::string(type) + "'"};
    } else {
      issue = {"error", "invalid", path, what};
    }
    issues->push_back(std::move(issue));
  }
  return false;
}

}  // namespace medchain::fhir
