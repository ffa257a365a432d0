// Copyright (c) medchain developers.
#include "medchain/node/pool.h"

namespace medchain::node {

std::string Pool::NonceKey(const ledger::PublicKey& author, uint64_t nonce) {
  std::string k(AsString(author));
  k.append(reinterpret_cast<const char*>(&nonce), sizeof nonce);
  return k;
}

Status Pool::Add(PoolEntry entry) {
  std::lock_guard lock(m_mu);
  const auto& tx = *entry.tx;
  if (m_ids.count(tx.id())) return Status::AlreadyExists("transaction is already pending");
  std::string nk = NonceKey(tx.author(), tx.nonce());
  if (m_nonces.count(nk)) {
    return Status::AlreadyExists("nonce " + std::to_string(tx.nonce()) +
                                 " of this author is already used by a pending transaction");
  }
  if (m_ids.size() >= m_max_txs) {
    return Status::ResourceExhausted("the transaction pool is full (" + std::to_string(m_max_txs) +
                                     " transactions); retry later");
  }
  m_ids.insert(tx.id());
  m_nonces.insert(std::move(nk));
  m_waiting_bytes += entry.size;
  m_waiting.push_back(std::move(entry));
  m_cv.notify_one();
  return Status::Ok();
}

std::vector<PoolEntry> Pool::TakeBatch(size_t max_txs, size_t max_bytes,
                                       std::chrono::milliseconds max_delay,
                                       std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(m_mu);
  for (;;) {
    if (m_wake) {
      m_wake = false;
      return {};
    }
    auto now = std::chrono::steady_clock::now();
    if (!m_waiting.empty()) {
      bool due = m_waiting.size() >= max_txs || m_waiting_bytes >= max_bytes ||
                 now - m_waiting.front().received >= max_delay;
      if (due) break;
      auto when = std::min(deadline, m_waiting.front().received + max_delay);
      if (now >= deadline) return {};
      m_cv.wait_until(lock, when);
    } else {
      if (now >= deadline) return {};
      m_cv.wait_until(lock, deadline);
    }
  }
  std::vector<PoolEntry> out;
  size_t bytes = 0;
  while (!m_waiting.empty() && out.size() < max_txs &&
         (out.empty() || bytes + m_waiting.front().size <= max_bytes)) {
    PoolEntry e = std::move(m_waiting.front());
    m_waiting.pop_front();
    m_waiting_bytes -= e.size;
    if (!m_ids.count(e.tx->id())) continue;  // committed through another node's block
    bytes += e.size;
    m_flight.insert(e.tx->id());
    out.push_back(std::move(e));
  }
  return out;
}

void Pool::ForgetLocked(const ledger::Transaction& tx) {
  if (m_ids.erase(tx.id())) {
    m_nonces.erase(NonceKey(tx.author(), tx.nonce()));
  }
}

void Pool::Committed(const std::vector<ledger::TransactionRef>& txs) {
  std::lock_guard lock(m_mu);
  for (const auto& tx : txs) {
    ForgetLocked(*tx);
    m_flight.erase(tx->id());
  }
}

void Pool::Return(std::vector<PoolEntry> entries) {
  std::lock_guard lock(m_mu);
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (!m_flight.erase(it->tx->id())) continue;  // committed meanwhile
    m_waiting_bytes += it->size;
    m_waiting.push_front(std::move(*it));
  }
  m_cv.notify_one();
}

void Pool::Wake() {
  std::lock_guard lock(m_mu);
  m_wake = true;
  m_cv.notify_all();
}

bool Pool::Contains(const Hash& id) const {
  std::lock_guard lock(m_mu);
  return m_ids.count(id) != 0;
}

bool Pool::NonceInUse(const ledger::PublicKey& author, uint64_t nonce) const {
  std::lock_guard lock(m_mu);
  return m_nonces.count(NonceKey(author, nonce)) != 0;
}

size_t Pool::Waiting() const {
  std::lock_guard lock(m_mu);
  return m_waiting.size();
}

size_t Pool::InFlight() const {
  std::lock_guard lock(m_mu);
  return m_flight.size();
}

std::vector<PoolEntry> Pool::Clear() {
  std::lock_guard lock(m_mu);
  std::vector<PoolEntry> out(std::make_move_iterator(m_waiting.begin()),
                             std::make_move_iterator(m_waiting.end()));
  m_waiting.clear();
  m_waiting_bytes = 0;
  m_flight.clear();
  m_ids.clear();
  m_nonces.clear();
  return out;
}

}  // namespace medchain::node
