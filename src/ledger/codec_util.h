// Copyright (c) medchain developers.
// Field helpers shared by the ledger's encoders and decoders.
#pragma once

#include <string>
#include <vector>

#include "medchain/core/codec.h"
#include "medchain/ledger/bodies.h"

namespace medchain::ledger::detail {

// A required id (IsValidId).
inline std::string ReadId(Decoder& d, std::string_view field) {
  std::string s = d.Str(field, kMaxIdSize);
  if (d.ok() && !IsValidId(s)) d.Fail(field, "not a valid id: \"" + s + "\"");
  return s;
}

// An id that may be empty.
inline std::string ReadOptionalId(Decoder& d, std::string_view field) {
  std::string s = d.Str(field, kMaxIdSize);
  if (d.ok() && !s.empty() && !IsValidId(s)) d.Fail(field, "not a valid id: \"" + s + "\"");
  return s;
}

inline std::string ReadText(Decoder& d, std::string_view field) {
  return d.Str(field, kMaxTextSize);
}

inline void WriteStrings(Encoder& e, const std::vector<std::string>& list) {
  e.Varint(list.size());
  for (const auto& s : list) e.Str(s);
}

// A set of ids: sorted, unique, each valid.
inline std::vector<std::string> ReadIdSet(Decoder& d, std::string_view field) {
  uint64_t n = d.Count(field, kMaxListSize);
  std::vector<std::string> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n && d.ok(); ++i) {
    std::string s = ReadId(d, field);
    if (d.ok() && !out.empty() && !(out.back() < s)) {
      d.Fail(field, "must be sorted and unique");
    }
    out.push_back(std::move(s));
  }
  return out;
}

inline bool IsSortedUnique(const std::vector<std::string>& v) {
  for (size_t i = 1; i < v.size(); ++i) {
    if (!(v[i - 1] < v[i])) return false;
  }
  return true;
}

inline bool IsZero(const Hash& h) {
  for (uint8_t b : h) {
    if (b != 0) return false;
  }
  return true;
}

}  // namespace medchain::ledger::detail
