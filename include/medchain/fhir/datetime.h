// Copyright (c) medchain developers.
// FHIR date and time values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medchain::fhir {

// An R4 instant for a time in milliseconds since the Unix epoch, in UTC with
// millisecond precision: "2024-01-02T03:04:05.678Z". Years outside 0001-9999
// are clamped to that range.
std::string FormatInstant(int64_t unix_ms);

// The interval a date, dateTime or instant denotes at its own precision, in
// milliseconds since the Unix epoch: [begin_ms, end_ms). "2024" is all of
// 2024, "2024-03" all of March, "2024-03-05T10:00:00+01:00" one second,
// "...:00.250Z" one millisecond. A time without zone is taken as UTC; minutes
// precision ("2024-03-05T10:00Z") is accepted, as search values use it.
// nullopt when malformed or not a real date (2023-02-29).
struct TimeRange {
  int64_t begin_ms = 0;
  int64_t end_ms = 0;
};
std::optional<TimeRange> ParseFhirDateTime(std::string_view text);

}  // namespace medchain::fhir
