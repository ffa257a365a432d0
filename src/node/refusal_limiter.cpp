// Copyright (c) medchain developers.
#include "refusal_limiter.h"

#include <algorithm>

namespace medchain::node {

double RefusalLimiter::Refilled(const Bucket& b, Clock::time_point now) const {
  const double minutes = std::chrono::duration<double, std::ratio<60>>(now - b.updated).count();
  return std::min<double>(m_per_minute, b.tokens + std::max(0.0, minutes) * m_per_minute);
}

bool RefusalLimiter::TryTake(const std::string& participant, Clock::time_point now) {
  std::lock_guard lock(m_mu);
  auto it = m_buckets.find(participant);
  if (it == m_buckets.end()) {
    if (m_buckets.size() >= kMaxTracked) {
      std::erase_if(m_buckets,
                    [&](const auto& kv) { return Refilled(kv.second, now) >= m_per_minute; });
    }
    it = m_buckets.emplace(participant, Bucket{double(m_per_minute), now}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now);
  b.updated = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace medchain::node
