// Copyright (c) medchain developers.
#include "medchain/fhir/datetime.h"

#include <chrono>
#include <cstdio>

namespace medchain::fhir {
namespace {

using namespace std::chrono;

// Reads exactly `n` digits at `pos`.
std::optional<int> Digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

int64_t DaysMs(const year_month_day& ymd) {
  return static_cast<int64_t>(sys_days(ymd).time_since_epoch().count()) * 86400000;
}

}  // namespace

std::string FormatInstant(int64_t unix_ms) {
  constexpr int64_t kMin = -62135596800000;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799999;  // 9999-12-31T23:59:59.999Z
  if (unix_ms < kMin) unix_ms = kMin;
  if (unix_ms > kMax) unix_ms = kMax;
  const sys_time<milliseconds> t{milliseconds(unix_ms)};
  const sys_days day = floor<days>(t);
  const year_month_day ymd(day);
  const int64_t ms_of_day = (t - day).count();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(ms_of_day / 3600000),
                static_cast<int>(ms_of_day / 60000 % 60), static_cast<int>(ms_of_day / 1000 % 60),
                static_cast<int>(ms_of_day % 1000));
  return buf;
}

std::optional<TimeRange> ParseFhirDateTime(std::string_view s) {
  size_t pos = 0;
  auto y = Digits(s, pos, 4);
  if (!y || *y == 0) return std::nullopt;
  if (pos == s.size()) {
    year_month_day a{year(*y), month(1), day(1)};
    year_month_day b{year(*y + 1), month(1), day(1)};
    return TimeRange{DaysMs(a), DaysMs(b)};
  }
  if (!Expect(s, pos, '-')) return std::nullopt;
  auto m = Digits(s, pos, 2);
  if (!m || *m < 1 || *m > 12) return std::nullopt;
  if (pos == s.size()) {
    const year_month ym{year(*y), month(static_cast<unsigned>(*m))};
    const year_month next = ym + months(1);
    return TimeRange{DaysMs(ym / day(1)), DaysMs(next / day(1))};
  }
  if (!Expect(s, pos, '-')) return std::nullopt;
  auto d = Digits(s, pos, 2);
  if (!d) return std::nullopt;
  const year_month_day ymd{year(*y), month(static_cast<unsigned>(*m)),
                           day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  const int64_t day_ms = DaysMs(ymd);
  if (pos == s.size()) return TimeRange{day_ms, day_ms + 86400000};
  if (!Expect(s, pos, 'T')) return std::nullopt;
  auto hh = Digits(s, pos, 2);
  if (!hh || *hh > 23 || !Expect(s, pos, ':')) return std::nullopt;
  auto mm = Digits(s, pos, 2);
  if (!mm || *mm > 59) return std::nullopt;
  int64_t begin = day_ms + *hh * 3600000LL + *mm * 60000LL;
  int64_t width = 60000;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    auto ss = Digits(s, pos, 2);
    if (!ss || *ss > 60) return std::nullopt;  // 60: a leap second, as the schema allows
    begin += *ss * 1000LL;
    width = 1000;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      size_t start = pos;
      int64_t frac = 0;
      size_t n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 3) frac = frac * 10 + (s[pos] - '0');
        ++n;
        ++pos;
      }
      if (pos == start) return std::nullopt;
      for (size_t i = n; i < 3; ++i) frac *= 10;
      begin += frac;
      width = 1;
    }
  }
  if (pos < s.size()) {
    if (s[pos] == 'Z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      const int sign = s[pos] == '+' ? 1 : -1;
      ++pos;
      auto zh = Digits(s, pos, 2);
      if (!zh || *zh > 14 || !Expect(s, pos, ':')) return std::nullopt;
      auto zm = Digits(s, pos, 2);
      if (!zm || *zm > 59) return std::nullopt;
      begin -= sign * (*zh * 3600000LL + *zm * 60000LL);
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  return TimeRange{begin, begin + width};
}

}  // namespace medchain::fhir
