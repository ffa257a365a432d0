// Copyright (c) medchain developers.
// OperationOutcome: how FHIR says what went wrong.
//
// Every refusal of the FHIR module is a list of Issues; the facade turns them
// into an OperationOutcome resource (and an HTTP status it chooses from the
// Status code). Diagnostics name the element and the rule, never the value:
// values are health data and must not end up in responses or logs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"

namespace medchain::fhir {

// One OperationOutcome.issue.
struct Issue {
  std::string severity = "error";  // fatal | error | warning | information
  std::string code;                // IssueType: required, structure, value, code-invalid, ...
  std::string expression;          // FHIRPath of the element ("Observation.status"); may be empty
  std::string diagnostics;         // "missing required element"

  // "Observation.status: missing required element" (or just the diagnostics
  // when there is no expression).
  std::string ToString() const;
  bool operator==(const Issue&) const = default;
};

// An OperationOutcome with one issue. `expression` may be empty (then no
// expression element is written).
nlohmann::json OperationOutcome(std::string_view severity, std::string_view code,
                                std::string_view diagnostics, std::string_view expression = {});

// An OperationOutcome with every issue, in order. An empty list gives one
// "informational" issue (FHIR requires at least one).
nlohmann::json OperationOutcome(const std::vector<Issue>& issues);

// An OperationOutcome for a Status: severity "error" (or "information" when
// OK), code IssueTypeFor(status.code()), diagnostics the message. When the
// message starts with an element path followed by ": " (the form every
// refusal of this module has: "Observation.status: missing required
// element"), that path becomes the expression.
nlohmann::json OperationOutcome(const Status& status);

// The FHIR IssueType code for a Status code: kInvalidArgument -> "invalid",
// kNotFound -> "not-found", kPermissionDenied -> "forbidden",
// kUnauthenticated -> "login", kAlreadyExists -> "duplicate",
// kResourceExhausted -> "too-costly", kFailedPrecondition -> "conflict",
// kUnavailable -> "transient", kTimeout -> "timeout", others -> "exception".
std::string_view IssueTypeFor(Code code);

// The Status a list of issues amounts to: OK when there is no issue of
// severity error or fatal; otherwise kResourceExhausted when the first error
// is a size or depth limit ("too-long"/"too-costly"), else kInvalidArgument.
// The message is the first error's ToString(), plus " (and N more issues)".
Status StatusFromIssues(const std::vector<Issue>& issues);

}  // namespace medchain::fhir
