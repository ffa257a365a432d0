// Copyright (c) medchain developers.
// The transaction pool: verified transactions waiting for a block.
//
// A transaction enters only after its signature was checked (once, by the
// caller, outside the pool's lock) and while no other transaction in the
// pool, in flight or committed uses its id or its (author, nonce). The block
// cutter takes batches; they stay "in flight" until their block commits (or
// is found stale and returned), so conflicts are still seen meanwhile.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "medchain/ledger/bodies.h"
#include "medchain/ledger/transaction.h"

namespace medchain::node {

struct PoolEntry {
  ledger::TransactionRef tx;
  std::optional<ledger::Sidecar> sidecar;
  size_t size = 0;  // transaction + sidecar bytes
  std::chrono::steady_clock::time_point received;
};

struct HashHasher {
  size_t operator()(const Hash& h) const {
    size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

class Pool {
 public:
  explicit Pool(size_t max_txs) : m_max_txs(max_txs) {}

  // AlreadyExists for a known id or a nonce in use; ResourceExhausted when full.
  Status Add(PoolEntry entry);

  // Waits until a batch is due: `max_txs` waiting, `max_bytes` waiting, or
  // the oldest waiting for `max_delay`; or until `deadline`/Wake(). Then moves
  // up to max_txs / max_bytes entries in flight and returns them (possibly
  // empty).
  std::vector<PoolEntry> TakeBatch(size_t max_txs, size_t max_bytes,
                                   std::chrono::milliseconds max_delay,
                                   std::chrono::steady_clock::time_point deadline);

  // The block holding these ids committed: forget them.
  void Committed(const std::vector<ledger::TransactionRef>& txs);
  // A batch that did not make it into the chain: back to the front.
  void Return(std::vector<PoolEntry> entries);
  // Wakes a waiting TakeBatch (shutdown, leadership change).
  void Wake();

  // Whether this pool holds (waiting or in flight) a verified transaction.
  bool Contains(const Hash& id) const;
  bool NonceInUse(const ledger::PublicKey& author, uint64_t nonce) const;
  size_t Waiting() const;
  size_t InFlight() const;

  // Drops everything (a node that stops leading forwards nothing it holds:
  // clients retry on the new leader).
  std::vector<PoolEntry> Clear();

 private:
  static std::string NonceKey(const ledger::PublicKey& author, uint64_t nonce);
  void ForgetLocked(const ledger::Transaction& tx);

  const size_t m_max_txs;
  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<PoolEntry> m_waiting;                // guarded by m_mu
  size_t m_waiting_bytes = 0;                     // guarded by m_mu
  std::unordered_set<Hash, HashHasher> m_flight;  // ids in flight
  std::unordered_set<Hash, HashHasher> m_ids;     // waiting + in flight
  std::unordered_set<std::string> m_nonces;       // waiting + in flight
  bool m_wake = false;
};

}  // namespace medchain::node
