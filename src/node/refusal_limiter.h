// Copyright (c) medchain developers.
// The per-participant limit on refused reads (docs/security.md): a
// participant whose read requests keep being refused cannot flood a
// patient's audit trail. Each participant has a bucket of `per_minute`
// tokens that refills continuously at `per_minute` a minute; a refused read
// (or a replayed request) takes one, and with none left the node answers
// 429 and commits nothing. Per node, in memory: a restart forgets it.
//
// Memory is bounded: only registered participants get a bucket, and once
// more than kMaxTracked are tracked, those refilled to full are dropped
// (a full bucket is what a new one would be).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace medchain::node {

class RefusalLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxTracked = 10000;

  explicit RefusalLimiter(unsigned per_minute) : m_per_minute(per_minute) {}

  // Takes one token of `participant`'s bucket at `now`; false when empty.
  bool TryTake(const std::string& participant, Clock::time_point now);

  unsigned per_minute() const { return m_per_minute; }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  double Refilled(const Bucket& b, Clock::time_point now) const;

  const unsigned m_per_minute;
  std::mutex m_mu;
  std::unordered_map<std::string, Bucket> m_buckets;  // guarded by m_mu
};

}  // namespace medchain::node
