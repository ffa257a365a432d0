// Copyright (c) medchain developers.
// The FHIRPath subset of search-parameters.json (see fhirpath.h).
#include "medchain/fhir/fhirpath.h"

#include <cctype>

#include "medchain/fhir/references.h"

namespace medchain::fhir {
namespace {

using nlohmann::json;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string Capitalized(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// A cursor over the expression text.
class Parser {
 public:
  explicit Parser(std::string_view text) : m_text(text) {}

  bool AtEnd() const { return m_pos >= m_text.size(); }
  char Peek() const { return AtEnd() ? '\0' : m_text[m_pos]; }
  bool Consume(char c) {
    SkipSpace();
    if (Peek() != c) return false;
    ++m_pos;
    return true;
  }
  bool ConsumeWord(std::string_view word) {
    SkipSpace();
    if (m_text.substr(m_pos, word.size()) != word) return false;
    size_t end = m_pos + word.size();
    if (end < m_text.size() && IsIdentChar(m_text[end])) return false;
    m_pos = end;
    return true;
  }
  std::string Ident() {
    SkipSpace();
    size_t start = m_pos;
    while (!AtEnd() && IsIdentChar(m_text[m_pos])) ++m_pos;
    return std::string(m_text.substr(start, m_pos - start));
  }
  std::optional<std::string> Literal() {
    SkipSpace();
    if (Peek() != '\'') return std::nullopt;
    size_t end = m_text.find('\'', m_pos + 1);
    if (end == std::string_view::npos) return std::nullopt;
    std::string value(m_text.substr(m_pos + 1, end - m_pos - 1));
    m_pos = end + 1;
    return value;
  }
  std::optional<size_t> Number() {
    SkipSpace();
    size_t start = m_pos;
    size_t n = 0;
    while (!AtEnd() && std::isdigit(static_cast<unsigned char>(m_text[m_pos]))) {
      n = n * 10 + static_cast<size_t>(m_text[m_pos] - '0');
      if (n > 1000000) return std::nullopt;
      ++m_pos;
    }
    if (m_pos == start) return std::nullopt;
    return n;
  }
  void SkipSpace() {
    while (!AtEnd() && std::isspace(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
  }

 private:
  std::string_view m_text;
  size_t m_pos = 0;
};

Status Unsupported(std::string_view expression, std::string_view why) {
  return Status::InvalidArgument("FHIRPath '" + std::string(expression) + "': " + std::string(why));
}

// Folds `as(Type)` into the preceding child step.
bool FoldAs(FhirPath& path, const std::string& type) {
  if (path.steps.empty() || path.steps.back().kind != PathStep::Kind::kChild ||
      !path.steps.back().as_type.empty() || type.empty()) {
    return false;
  }
  path.steps.back().as_type = type;
  return true;
}

Result<FhirPath> CompilePath(std::string_view text, std::string_view whole) {
  FhirPath path;
  Parser p(text);
  path.type = p.Ident();
  if (path.type.empty() || !std::isupper(static_cast<unsigned char>(path.type[0]))) {
    return Unsupported(whole, "does not start with a resource type");
  }
  while (true) {
    p.SkipSpace();
    if (p.AtEnd()) break;
    if (p.Consume('[')) {
      auto n = p.Number();
      if (!n || !p.Consume(']')) return Unsupported(whole, "bad index");
      path.steps.push_back({PathStep::Kind::kIndex, "", "", "", *n});
      continue;
    }
    if (!p.Consume('.')) return Unsupported(whole, "unexpected character");
    std::string name = p.Ident();
    if (name.empty()) return Unsupported(whole, "missing name after '.'");
    if (!p.Consume('(')) {
      path.steps.push_back({PathStep::Kind::kChild, name, "", "", 0});
      continue;
    }
    if (name == "where") {
      if (p.ConsumeWord("resolve")) {
        if (!p.Consume('(') || !p.Consume(')') || !p.ConsumeWord("is")) {
          return Unsupported(whole, "where(resolve() is Type) expected");
        }
        std::string type = p.Ident();
        if (type.empty() || !p.Consume(')')) return Unsupported(whole, "bad where(resolve() is)");
        path.steps.push_back({PathStep::Kind::kResolveIs, type, "", "", 0});
        continue;
      }
      std::string field = p.Ident();
      if (field.empty() || !p.Consume('=')) return Unsupported(whole, "unsupported where()");
      auto literal = p.Literal();
      if (!literal || !p.Consume(')')) return Unsupported(whole, "unsupported where()");
      path.steps.push_back({PathStep::Kind::kWhereEquals, field, *literal, "", 0});
      continue;
    }
    if (name == "as" || name == "ofType") {
      std::string type = p.Ident();
      if (!p.Consume(')') || !FoldAs(path, type)) return Unsupported(whole, "unsupported as()");
      continue;
    }
    return Unsupported(whole, "function " + name + "() is not supported");
  }
  return path;
}

}  // namespace

Result<FhirPath> CompileFhirPath(std::string_view expression) {
  std::string_view text = Trim(expression);
  // "(Type.a.b as X)" and "Type.a.b as X"
  while (text.size() >= 2 && text.front() == '(' && text.back() == ')') {
    text = Trim(text.substr(1, text.size() - 2));
  }
  std::string as_type;
  if (size_t pos = text.find(" as "); pos != std::string_view::npos) {
    as_type = std::string(Trim(text.substr(pos + 4)));
    text = Trim(text.substr(0, pos));
    for (char c : as_type) {
      if (!IsIdentChar(c)) return Unsupported(expression, "unsupported 'as' operand");
    }
  }
  MC_ASSIGN_OR_RETURN(FhirPath path, CompilePath(text, expression));
  if (!as_type.empty() && !FoldAs(path, as_type)) {
    return Unsupported(expression, "'as' after a non-element");
  }
  path.text = std::string(Trim(expression));
  return path;
}

Result<std::vector<FhirPath>> CompileFhirPathsFor(std::string_view expression,
                                                  std::string_view type) {
  std::vector<FhirPath> out;
  size_t start = 0;
  while (start <= expression.size()) {
    size_t bar = expression.find('|', start);
    std::string_view member = Trim(expression.substr(
        start, bar == std::string_view::npos ? std::string_view::npos : bar - start));
    std::string_view head = member;
    while (!head.empty() && head.front() == '(') head.remove_prefix(1);
    if (head.size() > type.size() && head.substr(0, type.size()) == type &&
        (head[type.size()] == '.' || head[type.size()] == '[')) {
      MC_ASSIGN_OR_RETURN(FhirPath path, CompileFhirPath(member));
      out.push_back(std::move(path));
    }
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return out;
}

std::vector<const json*> EvaluateFhirPath(const FhirPath& path, const json& resource,
                                          const TypeResolver& resolve) {
  std::vector<const json*> nodes;
  if (!resource.is_object()) return nodes;
  auto rt = resource.find("resourceType");
  if (rt == resource.end() || !rt->is_string()) return nodes;
  if (path.type != "Resource" && path.type != "DomainResource" &&
      rt->get_ref<const std::string&>() != path.type) {
    return nodes;
  }
  nodes.push_back(&resource);
  std::vector<const json*> next;
  for (const PathStep& step : path.steps) {
    next.clear();
    switch (step.kind) {
      case PathStep::Kind::kChild: {
        const std::string choice =
            step.as_type.empty() ? std::string() : step.name + Capitalized(step.as_type);
        for (const json* node : nodes) {
          if (!node->is_object()) continue;
          auto it = choice.empty() ? node->end() : node->find(choice);
          if (it == node->end()) it = node->find(step.name);
          if (it == node->end()) continue;
          if (it->is_array()) {
            for (const json& item : *it) next.push_back(&item);
          } else {
            next.push_back(&*it);
          }
        }
        break;
      }
      case PathStep::Kind::kIndex:
        if (step.index < nodes.size()) next.push_back(nodes[step.index]);
        break;
      case PathStep::Kind::kResolveIs:
        for (const json* node : nodes) {
          if (!node->is_object()) continue;
          std::optional<std::string> type;
          auto ref = node->find("reference");
          if (resolve && ref != node->end() && ref->is_string()) {
            type = resolve(ref->get_ref<const std::string&>());
          }
          if (!type) type = ReferenceType(*node);
          if (type && *type == step.name) next.push_back(node);
        }
        break;
      case PathStep::Kind::kWhereEquals:
        for (const json* node : nodes) {
          if (!node->is_object()) continue;
          auto it = node->find(step.name);
          if (it != node->end() && it->is_string() &&
              it->get_ref<const std::string&>() == step.value) {
            next.push_back(node);
          }
        }
        break;
    }
    nodes.swap(next);
  }
  return nodes;
}

}  // namespace medchain::fhir
