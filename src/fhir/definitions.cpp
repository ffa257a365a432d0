// Copyright (c) medchain developers.
// Loading and indexing the FHIR R4 definitions (see definitions.h).
#include "medchain/fhir/definitions.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

namespace medchain::fhir {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The largest definitions file is profiles-resources.json (35 MB in R4).
constexpr uintmax_t kMaxDefinitionFileBytes = 256ull << 20;
// Values up to this length are matched with the (faster) backtracking regex
// executor, whose recursion depth grows with the length of the value.
constexpr size_t kFastPatternMaxLength = 256;

Result<std::string> ReadFile(const fs::path& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status::IOError(path.string() + ": " + ec.message());
  if (size > kMaxDefinitionFileBytes) {
    return Status::ResourceExhausted(path.string() + ": larger than " +
                                     std::to_string(kMaxDefinitionFileBytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(path.string() + ": cannot open");
  std::string data(static_cast<size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (static_cast<uintmax_t>(in.gcount()) != size) {
    return Status::IOError(path.string() + ": short read");
  }
  return data;
}

// Copies JSON text, keeping only the object members a KeyFilter accepts (at
// any depth), without building anything: profiles-resources.json is 35 MB of
// which the index needs about 1 MB, and tokenizing all of it with nlohmann
// (even through its SAX interface) costs 10x more than this scan in a
// sanitizer build. Returns nullopt on text that is not JSON; the caller then
// lets nlohmann report the error.
struct KeyFilter {
  using Keys = std::set<std::string, std::less<>>;
  const Keys* keep = nullptr;          // if set: only these keys
  const Keys* drop_strings = nullptr;  // if set: these keys when their value is a string
};

class MemberFilter {
 public:
  MemberFilter(std::string_view in, KeyFilter filter) : m_in(in), m_filter(filter) {}

  std::optional<std::string> Run() {
    m_out.reserve(m_in.size() / 16);
    if (!Value(true)) return std::nullopt;
    SkipSpace();
    if (m_pos != m_in.size()) return std::nullopt;
    return std::move(m_out);
  }

 private:
  static constexpr int kMaxDepth = 64;

  void SkipSpace() {
    while (m_pos < m_in.size() && (m_in[m_pos] == ' ' || m_in[m_pos] == '\n' ||
                                   m_in[m_pos] == '\r' || m_in[m_pos] == '\t')) {
      ++m_pos;
    }
  }
  // A string token, quotes included; `raw` gets its content (escapes kept).
  bool String(bool emit, std::string_view* raw) {
    if (m_pos >= m_in.size() || m_in[m_pos] != '"') return false;
    const size_t start = m_pos++;
    while (true) {  // the closing quote: one not escaped by an odd run of backslashes
      const void* q = std::memchr(m_in.data() + m_pos, '"', m_in.size() - m_pos);
      if (q == nullptr) return false;
      const size_t quote = static_cast<size_t>(static_cast<const char*>(q) - m_in.data());
      size_t backslashes = 0;
      while (quote - backslashes > start + 1 && m_in[quote - backslashes - 1] == '\\') {
        ++backslashes;
      }
      m_pos = quote + 1;
      if (backslashes % 2 == 0) break;
    }
    if (raw) *raw = m_in.substr(start + 1, m_pos - start - 2);
    if (emit) m_out.append(m_in.substr(start, m_pos - start));
    return true;
  }
  bool Value(bool emit) {
    SkipSpace();
    if (m_pos >= m_in.size()) return false;
    const char c = m_in[m_pos];
    if (c == '"') return String(emit, nullptr);
    if (c == '{' || c == '[') {
      if (++m_depth > kMaxDepth) return false;
      const bool ok = c == '{' ? Object(emit) : Array(emit);
      --m_depth;
      return ok;
    }
    const size_t start = m_pos;  // number, true, false, null
    while (m_pos < m_in.size() && m_in[m_pos] != ',' && m_in[m_pos] != '}' && m_in[m_pos] != ']' &&
           m_in[m_pos] != ' ' && m_in[m_pos] != '\n' && m_in[m_pos] != '\r' &&
           m_in[m_pos] != '\t') {
      ++m_pos;
    }
    if (m_pos == start) return false;
    if (emit) m_out.append(m_in.substr(start, m_pos - start));
    return true;
  }
  bool Object(bool emit) {
    ++m_pos;  // '{'
    if (emit) m_out += '{';
    bool first = true;
    SkipSpace();
    if (m_pos < m_in.size() && m_in[m_pos] == '}') {
      ++m_pos;
      if (emit) m_out += '}';
      return true;
    }
    while (true) {
      SkipSpace();
      std::string_view key;
      if (!String(false, &key)) return false;
      SkipSpace();
      if (m_pos >= m_in.size() || m_in[m_pos++] != ':') return false;
      SkipSpace();
      bool keep = emit && (m_filter.keep == nullptr || m_filter.keep->count(key) != 0);
      if (keep && m_filter.drop_strings && m_pos < m_in.size() && m_in[m_pos] == '"' &&
          m_filter.drop_strings->count(key) != 0) {
        keep = false;
      }
      if (keep) {
        if (!first) m_out += ',';
        first = false;
        m_out += '"';
        m_out.append(key);
        m_out += "\":";
      }
      if (!Value(keep)) return false;
      SkipSpace();
      if (m_pos >= m_in.size()) return false;
      const char c = m_in[m_pos++];
      if (c == '}') break;
      if (c != ',') return false;
    }
    if (emit) m_out += '}';
    return true;
  }
  bool Array(bool emit) {
    ++m_pos;  // '['
    if (emit) m_out += '[';
    SkipSpace();
    if (m_pos < m_in.size() && m_in[m_pos] == ']') {
      ++m_pos;
      if (emit) m_out += ']';
      return true;
    }
    while (true) {
      if (!Value(emit)) return false;
      SkipSpace();
      if (m_pos >= m_in.size()) return false;
      const char c = m_in[m_pos++];
      if (c == ']') break;
      if (c != ',') return false;
      if (emit) m_out += ',';
    }
    if (emit) m_out += ']';
    return true;
  }

  std::string_view m_in;
  KeyFilter m_filter;
  size_t m_pos = 0;
  int m_depth = 0;
  std::string m_out;
};

// Parses a definitions file, through `filter` when it has keys.
Result<json> ParseFile(const fs::path& path, KeyFilter filter = {}) {
  MC_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  try {
    if (filter.keep || filter.drop_strings) {
      if (std::optional<std::string> filtered = MemberFilter(text, filter).Run()) {
        return json::parse(*filtered);
      }
    }
    return json::parse(text);  // unfiltered, or let nlohmann name the error
  } catch (const json::exception& e) {
    return Status::InvalidArgument(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

std::string StringOr(const json& object, std::string_view key, std::string fallback = {}) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

// "#/definitions/Reference" -> "Reference".
std::string RefTarget(const json& node) {
  std::string ref = StringOr(node, "$ref");
  constexpr std::string_view kPrefix = "#/definitions/";
  if (ref.compare(0, kPrefix.size(), kPrefix) != 0) return {};
  return ref.substr(kPrefix.size());
}

// The resources of a Bundle-of-definitions file, checking its shape.
Result<std::vector<const json*>> BundleResources(const json& bundle, const fs::path& path) {
  if (!bundle.is_object() || StringOr(bundle, "resourceType") != "Bundle" ||
      !bundle.contains("entry") || !bundle["entry"].is_array()) {
    return Status::InvalidArgument(path.string() + ": not a Bundle with entries");
  }
  std::vector<const json*> out;
  for (const json& entry : bundle["entry"]) {
    auto it = entry.find("resource");
    if (it != entry.end() && it->is_object()) out.push_back(&*it);
  }
  return out;
}

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

bool HasPatternKey(const json& node) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "pattern" && it->is_string()) return true;
      if (HasPatternKey(*it)) return true;
    }
  } else if (node.is_array()) {
    for (const json& item : node) {
      if (HasPatternKey(item)) return true;
    }
  }
  return false;
}

bool IsHl7Specialization(const json& sd) {
  return StringOr(sd, "resourceType") == "StructureDefinition" &&
         StringOr(sd, "derivation") == "specialization" &&
         StringOr(sd, "url").rfind("http://hl7.org/fhir/StructureDefinition/", 0) == 0 &&
         !(sd.contains("abstract") && sd["abstract"].is_boolean() && sd["abstract"].get<bool>());
}

}  // namespace

DefinitionPaths DefinitionPaths::FromDirectory(const std::filesystem::path& dir) {
  DefinitionPaths p;
  p.schema = dir / "fhir.schema.json";
  p.profiles_resources = dir / "profiles-resources.json";
  std::error_code ec;
  if (fs::exists(dir / "profiles-types.json", ec)) p.profiles_types = dir / "profiles-types.json";
  p.search_parameters = dir / "search-parameters.json";
  p.compartment_patient = dir / "compartmentdefinition-patient.json";
  return p;
}

std::optional<std::filesystem::path> FindDefinitionsDirectory(const std::filesystem::path& start) {
  std::error_code ec;
  if (const char* env = std::getenv(std::string(kDefinitionsEnvVar).c_str()); env && *env) {
    fs::path dir(env);
    if (fs::exists(dir / "fhir.schema.json", ec)) return dir;
    return std::nullopt;
  }
  fs::path dir = fs::absolute(start, ec);
  if (ec) return std::nullopt;
  while (true) {
    fs::path candidate = dir / std::string(kNpmDefinitionsDir);
    if (fs::exists(candidate / "fhir.schema.json", ec)) return candidate;
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

Definitions::~Definitions() = default;

Result<std::shared_ptr<const Definitions>> Definitions::LoadDirectory(
    const std::filesystem::path& dir) {
  return Load(DefinitionPaths::FromDirectory(dir));
}

bool Definitions::IsResourceType(std::string_view type) const {
  return std::binary_search(m_resource_types.begin(), m_resource_types.end(), type);
}

const DefinitionInfo* Definitions::Definition(std::string_view name) const {
  auto it = m_definitions.find(name);
  return it == m_definitions.end() ? nullptr : &it->second;
}

const std::vector<std::string>* Definitions::PatientCompartmentParams(std::string_view type) const {
  auto it = m_compartment_params.find(type);
  return it == m_compartment_params.end() ? nullptr : &it->second;
}

const SearchParameter* Definitions::FindSearchParameter(std::string_view type,
                                                        std::string_view code) const {
  for (std::string_view base :
       {type, std::string_view("DomainResource"), std::string_view("Resource")}) {
    auto it = m_search.find(base);
    if (it == m_search.end()) continue;
    auto p = it->second.find(code);
    if (p != it->second.end()) return &p->second;
  }
  return nullptr;
}

std::vector<const SearchParameter*> Definitions::SearchParametersOf(std::string_view type) const {
  std::vector<const SearchParameter*> out;
  std::set<std::string_view> seen;
  for (std::string_view base :
       {type, std::string_view("DomainResource"), std::string_view("Resource")}) {
    auto it = m_search.find(base);
    if (it == m_search.end()) continue;
    for (const auto& [code, sp] : it->second) {
      if (seen.insert(code).second) out.push_back(&sp);
    }
  }
  return out;
}

std::string_view Definitions::OperationUrl(std::string_view id) const {
  auto it = m_operation_urls.find(id);
  return it == m_operation_urls.end() ? std::string_view() : std::string_view(it->second);
}

bool Definitions::MatchesPattern(const DefinitionInfo& primitive, std::string_view value) const {
  auto it = m_patterns.find(&primitive);
  if (it == m_patterns.end()) return true;
  const std::regex& re =
      value.size() <= kFastPatternMaxLength ? it->second.fast : it->second.linear;
  return std::regex_search(value.begin(), value.end(), re);
}

Result<const DefinitionInfo*> Definitions::InlinePrimitive(std::string_view owner,
                                                           std::string_view property,
                                                           const nlohmann::json& schema) {
  const std::string pattern = StringOr(schema, "pattern");
  const std::string type = StringOr(schema, "type");
  std::string name;
  for (const auto& [def_name, info] : m_definitions) {
    if (!info.primitive() || info.json_type != type) continue;
    if (info.pattern == pattern) return &info;
    const std::string suffix = Capitalized(def_name);
    if (property.size() > suffix.size() &&
        property.compare(property.size() - suffix.size(), suffix.size(), suffix) == 0) {
      name = def_name;
    }
  }
  if (name.empty()) {
    return Status::InvalidArgument(m_paths.schema.string() + ": " + std::string(owner) + "." +
                                   std::string(property) +
                                   " has a pattern of no known primitive type");
  }
  for (const DefinitionInfo& known : m_inline_primitives) {
    if (known.name == name && known.pattern == pattern && known.json_type == type) return &known;
  }
  DefinitionInfo info;
  info.name = name;
  info.pattern = pattern;
  info.json_type = type;
  m_inline_primitives.push_back(std::move(info));
  return &m_inline_primitives.back();
}

Result<std::shared_ptr<const Definitions>> Definitions::Load(const DefinitionPaths& paths) {
  // Every member read below is type-checked; this catch is for what was
  // missed: a file of an unexpected shape must give an error, not an abort.
  try {
    return LoadChecked(paths);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("FHIR definitions of unexpected structure (") +
                                   e.what() + ")");
  }
}

Result<std::shared_ptr<const Definitions>> Definitions::LoadChecked(const DefinitionPaths& paths) {
  std::shared_ptr<Definitions> d(new Definitions());
  d->m_paths = paths;

  // --- fhir.schema.json: the element tree, value types, enums, patterns.
  // Descriptions are two thirds of the schema and of no use here.
  static const KeyFilter::Keys kDescription = {"description"};
  MC_ASSIGN_OR_RETURN(json schema, ParseFile(paths.schema, {nullptr, &kDescription}));
  if (!schema.is_object() || !schema.contains("definitions") ||
      !schema["definitions"].is_object()) {
    return Status::InvalidArgument(paths.schema.string() + ": no \"definitions\" object");
  }
  const json& defs = schema["definitions"];
  // Every name first (properties refer to each other), primitives complete.
  for (auto it = defs.begin(); it != defs.end(); ++it) {
    DefinitionInfo info;
    info.name = it.key();
    if (it->is_object() && !it->contains("properties")) {
      info.pattern = StringOr(*it, "pattern");
      info.json_type = StringOr(*it, "type");
    }
    d->m_definitions.emplace(info.name, std::move(info));
  }
  for (auto it = defs.begin(); it != defs.end(); ++it) {
    const json& def = it.value();
    if (!def.is_object()) continue;
    auto props = def.find("properties");
    if (props == def.end() || !props->is_object()) continue;
    DefinitionInfo& info = d->m_definitions.at(it.key());
    for (auto p = props->begin(); p != props->end(); ++p) {
      ElementInfo element;
      const json& prop = p.value();
      std::string target = RefTarget(prop);
      const json* value_schema = &prop;
      if (target.empty() && StringOr(prop, "type") == "array" && prop.contains("items")) {
        element.array = true;
        const json& items = prop["items"];
        value_schema = &items;
        target = RefTarget(items);
        if (items.contains("enum") && items["enum"].is_array()) {
          for (const json& code : items["enum"]) {
            if (code.is_string()) element.codes.push_back(code.get<std::string>());
          }
        }
      }
      if (prop.contains("enum") && prop["enum"].is_array()) {
        for (const json& code : prop["enum"]) {
          if (code.is_string()) element.codes.push_back(code.get<std::string>());
        }
      }
      if (target.empty() && value_schema->contains("pattern")) {
        // An inline primitive (Medplum's schema inlines the primitive
        // choices of value[x]): the primitive type with the same pattern,
        // or a copy of one named after the choice suffix.
        MC_ASSIGN_OR_RETURN(element.target, d->InlinePrimitive(it.key(), p.key(), *value_schema));
      }
      json rest = *value_schema;
      rest.erase("pattern");
      if (HasPatternKey(rest)) {
        // Patterns are applied per primitive type (validate.cpp); one anywhere
        // else would silently not be checked.
        return Status::InvalidArgument(paths.schema.string() + ": " + it.key() + "." + p.key() +
                                       " has a pattern in an unsupported place");
      }
      if (!target.empty()) {
        // A dangling $ref (Medplum's own AccessPolicy names a "Resource"
        // definition its schema lacks) leaves the target unknown; valijson
        // refuses to build a schema for any R4 type that reaches one.
        auto t = d->m_definitions.find(target);
        if (t != d->m_definitions.end()) element.target = &t->second;
      }
      info.properties.emplace(p.key(), std::move(element));
    }
  }

  // --- StructureDefinitions: resource types, element paths, min cardinality.
  static const KeyFilter::Keys kProfileKeys = {
      "resourceType", "id",   "url", "kind", "abstract", "type",  "derivation", "snapshot",
      "element",      "path", "min", "max",  "code",     "entry", "resource",   "contentReference"};
  std::vector<json> profile_files;
  for (const fs::path* file : {&paths.profiles_resources, &paths.profiles_types}) {
    if (file->empty()) continue;
    MC_ASSIGN_OR_RETURN(json parsed, ParseFile(*file, {&kProfileKeys, nullptr}));
    MC_RETURN_IF_ERROR(BundleResources(parsed, *file).status());
    profile_files.push_back(std::move(parsed));
  }
  if (paths.profiles_resources.empty()) {
    return Status::InvalidArgument("profiles-resources.json: path not given");
  }
  std::vector<const json*> sds;  // specializations of resources and data types
  for (size_t f = 0; f < profile_files.size(); ++f) {
    const fs::path& file = f == 0 ? paths.profiles_resources : paths.profiles_types;
    MC_ASSIGN_OR_RETURN(std::vector<const json*> resources,
                        BundleResources(profile_files[f], file));
    for (const json* r : resources) {
      const std::string type = StringOr(*r, "resourceType");
      if (type == "OperationDefinition") {
        d->m_operation_urls[StringOr(*r, "id")] = StringOr(*r, "url");
        continue;
      }
      if (!IsHl7Specialization(*r)) continue;
      const std::string kind = StringOr(*r, "kind");
      if (kind != "resource" && kind != "complex-type") continue;
      const DefinitionInfo* def = d->Definition(StringOr(*r, "type"));
      if (def == nullptr || def->primitive()) continue;
      if (kind == "resource") {
        // A resource type is one the schema pins with resourceType.
        if (def->Find("resourceType") == nullptr) continue;
        d->m_resource_types.push_back(def->name);
      }
      sds.push_back(r);
    }
  }
  std::sort(d->m_resource_types.begin(), d->m_resource_types.end());
  d->m_resource_types.erase(std::unique(d->m_resource_types.begin(), d->m_resource_types.end()),
                            d->m_resource_types.end());
  if (d->m_resource_types.empty()) {
    return Status::InvalidArgument(paths.profiles_resources.string() +
                                   ": no resource StructureDefinition matches the schema");
  }

  for (const json* sd : sds) {
    const std::string root = StringOr(*sd, "type");
    auto snapshot = sd->find("snapshot");
    if (snapshot == sd->end() || !snapshot->contains("element")) continue;
    const json& elements = (*snapshot)["element"];
    // Paths that have children in the snapshot: only those are backbone
    // elements with their own schema definition (a contentReference such as
    // Questionnaire.item.item reuses the definition of the element it names).
    std::set<std::string, std::less<>> parents;
    for (const json& el : elements) {
      std::string p = StringOr(el, "path");
      size_t dot = p.rfind('.');
      if (dot != std::string::npos) parents.insert(p.substr(0, dot));
    }
    // Breadth-first from the root, so each definition gets its shortest path.
    std::map<std::string, DefinitionInfo*, std::less<>> path_to_def;
    std::deque<std::pair<std::string, DefinitionInfo*>> queue;
    queue.emplace_back(root, &d->m_definitions.at(root));
    std::set<const DefinitionInfo*> seen;
    const std::string backbone_prefix = root + "_";
    while (!queue.empty()) {
      auto [path, def] = queue.front();
      queue.pop_front();
      if (seen.count(def) || !parents.count(path)) continue;
      seen.insert(def);
      def->path = path;
      path_to_def[path] = def;
      for (auto& [name, element] : def->properties) {
        if (element.target && element.target->name.rfind(backbone_prefix, 0) == 0) {
          queue.emplace_back(path + "." + name, &d->m_definitions.at(element.target->name));
        }
      }
    }
    for (const json& el : elements) {
      if (!el.contains("min") || !el["min"].is_number_unsigned() ||
          el["min"].get<unsigned>() == 0) {
        continue;
      }
      std::string p = StringOr(el, "path");
      size_t dot = p.rfind('.');
      if (dot == std::string::npos) continue;
      auto parent = path_to_def.find(std::string_view(p).substr(0, dot));
      if (parent == path_to_def.end()) continue;
      DefinitionInfo* def = parent->second;
      std::string name = p.substr(dot + 1);
      std::vector<std::string> names;
      if (name.size() > 3 && name.compare(name.size() - 3, 3, "[x]") == 0) {
        std::string base = name.substr(0, name.size() - 3);
        if (el.contains("type") && el["type"].is_array()) {
          for (const json& t : el["type"]) names.push_back(base + Capitalized(StringOr(t, "code")));
        }
      } else {
        names.push_back(name);
      }
      // Only names the schema knows: a requirement the schema cannot satisfy
      // would refuse everything.
      std::erase_if(names, [&](const std::string& n) { return def->Find(n) == nullptr; });
      if (names.empty()) continue;
      def->required.push_back(std::move(names));
      def->required_names.push_back(name);
    }
  }

  // --- compartmentdefinition-patient.json
  {
    MC_ASSIGN_OR_RETURN(json comp, ParseFile(paths.compartment_patient));
    if (!comp.is_object() || StringOr(comp, "resourceType") != "CompartmentDefinition" ||
        StringOr(comp, "code") != "Patient" || !comp.contains("resource") ||
        !comp["resource"].is_array()) {
      return Status::InvalidArgument(paths.compartment_patient.string() +
                                     ": not the Patient CompartmentDefinition");
    }
    for (const json& r : comp["resource"]) {
      std::string code = StringOr(r, "code");
      if (!r.contains("param") || !r["param"].is_array() || r["param"].empty()) continue;
      if (!d->IsResourceType(code)) continue;
      std::vector<std::string> params;
      for (const json& p : r["param"]) {
        if (p.is_string()) params.push_back(p.get<std::string>());
      }
      d->m_compartment_types.push_back(code);
      d->m_compartment_params[code] = std::move(params);
    }
    std::sort(d->m_compartment_types.begin(), d->m_compartment_types.end());
  }

  // --- search-parameters.json
  {
    static const KeyFilter::Keys kSearchKeys = {
        "resourceType", "entry", "resource", "code", "url", "type", "base", "target", "expression"};
    MC_ASSIGN_OR_RETURN(json search, ParseFile(paths.search_parameters, {&kSearchKeys, nullptr}));
    MC_ASSIGN_OR_RETURN(std::vector<const json*> params,
                        BundleResources(search, paths.search_parameters));
    for (const json* r : params) {
      if (StringOr(*r, "resourceType") != "SearchParameter" || !r->contains("base")) continue;
      for (const json& base_json : (*r)["base"]) {
        if (!base_json.is_string()) continue;
        const std::string base = base_json.get<std::string>();
        SearchParameter sp;
        sp.code = StringOr(*r, "code");
        sp.url = StringOr(*r, "url");
        sp.type = StringOr(*r, "type");
        if (r->contains("target") && (*r)["target"].is_array()) {
          for (const json& t : (*r)["target"]) {
            if (t.is_string()) sp.targets.push_back(t.get<std::string>());
          }
        }
        auto compiled = CompileFhirPathsFor(StringOr(*r, "expression"), base);
        if (compiled.ok() && !compiled->empty()) {
          sp.paths = std::move(compiled).value();
          sp.supported = true;
          for (const FhirPath& fp : sp.paths) {
            if (!sp.expression.empty()) sp.expression += " | ";
            sp.expression += fp.text;
          }
        }
        d->m_search[base][sp.code] = std::move(sp);
      }
    }
  }

  // --- compiled patterns of primitive types
  std::vector<const DefinitionInfo*> primitives;
  for (const auto& [name, info] : d->m_definitions) primitives.push_back(&info);
  for (const DefinitionInfo& info : d->m_inline_primitives) primitives.push_back(&info);
  for (const DefinitionInfo* p : primitives) {
    const DefinitionInfo& info = *p;
    const std::string& name = info.name;
    if (!info.primitive() || info.pattern.empty()) continue;
    try {
      CompiledPattern cp {
        std::regex(info.pattern, std::regex::ECMAScript),
#if defined(__GLIBCXX__)
            std::regex(info.pattern, std::regex::ECMAScript | std::regex_constants::__polynomial)
#else
            std::regex(info.pattern, std::regex::ECMAScript)
#endif
      };
      d->m_patterns.emplace(&info, std::move(cp));
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument(paths.schema.string() + ": pattern of " + name +
                                     " does not compile (" + e.what() + ")");
    }
  }

  // --- the valijson schema
  MC_ASSIGN_OR_RETURN(d->m_schema,
                      BuildSchemaEngine(std::move(schema["definitions"]), d->m_resource_types));
  return std::shared_ptr<const Definitions>(std::move(d));
}

}  // namespace medchain::fhir
