// Copyright (c) medchain developers.
#include "medchain/fhir/outcome.h"

#include <cctype>

namespace medchain::fhir {
namespace {

using nlohmann::json;

json IssueJson(std::string_view severity, std::string_view code, std::string_view diagnostics,
               std::string_view expression) {
  json issue = {{"severity", severity}, {"code", code}};
  if (!diagnostics.empty()) issue["diagnostics"] = diagnostics;
  if (!expression.empty()) issue["expression"] = json::array({expression});
  return issue;
}

// The element path at the start of a message ("Observation.code.coding[0]: ..."),
// or "" when the message does not start with one.
std::string_view LeadingPath(std::string_view message) {
  size_t colon = message.find(": ");
  if (colon == std::string_view::npos || colon == 0) return {};
  std::string_view path = message.substr(0, colon);
  if (!std::isupper(static_cast<unsigned char>(path[0]))) return {};
  for (char c : path) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '[' && c != ']' &&
        c != '_') {
      return {};
    }
  }
  return path;
}

}  // namespace

std::string Issue::ToString() const {
  if (expression.empty()) return diagnostics;
  return expression + ": " + diagnostics;
}

json OperationOutcome(std::string_view severity, std::string_view code,
                      std::string_view diagnostics, std::string_view expression) {
  return {{"resourceType", "OperationOutcome"},
          {"issue", json::array({IssueJson(severity, code, diagnostics, expression)})}};
}

json OperationOutcome(const std::vector<Issue>& issues) {
  if (issues.empty()) {
    return OperationOutcome("information", "informational", "all ok");
  }
  json list = json::array();
  for (const Issue& i : issues) {
    list.push_back(IssueJson(i.severity, i.code, i.diagnostics, i.expression));
  }
  return {{"resourceType", "OperationOutcome"}, {"issue", std::move(list)}};
}

json OperationOutcome(const Status& status) {
  if (status.ok()) return OperationOutcome("information", "informational", "ok");
  std::string_view message = status.message();
  std::string_view path = LeadingPath(message);
  std::string_view diagnostics = path.empty() ? message : message.substr(path.size() + 2);
  return OperationOutcome("error", IssueTypeFor(status.code()), diagnostics, path);
}

std::string_view IssueTypeFor(Code code) {
  switch (code) {
    case Code::kOk:
      return "informational";
    case Code::kInvalidArgument:
      return "invalid";
    case Code::kNotFound:
      return "not-found";
    case Code::kAlreadyExists:
      return "duplicate";
    case Code::kPermissionDenied:
      return "forbidden";
    case Code::kUnauthenticated:
      return "login";
    case Code::kResourceExhausted:
      return "too-costly";
    case Code::kFailedPrecondition:
      return "conflict";
    case Code::kUnavailable:
      return "transient";
    case Code::kTimeout:
      return "timeout";
    case Code::kCorruption:
    case Code::kIOError:
    case Code::kInternal:
      return "exception";
  }
  return "exception";
}

Status StatusFromIssues(const std::vector<Issue>& issues) {
  const Issue* first = nullptr;
  size_t errors = 0;
  for (const Issue& i : issues) {
    if (i.severity != "error" && i.severity != "fatal") continue;
    if (first == nullptr) first = &i;
    ++errors;
  }
  if (first == nullptr) return Status::Ok();
  std::string message = first->ToString();
  if (errors > 1) {
    message +=
        " (and " + std::to_string(errors - 1) + " more issue" + (errors > 2 ? "s" : "") + ")";
  }
  if (first->code == "too-long" || first->code == "too-costly") {
    return Status::ResourceExhausted(std::move(message));
  }
  return Status::InvalidArgument(std::move(message));
}

}  // namespace medchain::fhir
