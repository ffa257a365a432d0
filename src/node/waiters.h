// Copyright (c) medchain developers.
// Waiters: the HTTP workers that wait for their transaction to commit
// (?wait=commit), keyed by transaction id.
//
// A worker registers before it looks the transaction up in the ledger, then
// waits; the applier completes every waiter of a block's transactions once
// the block is applied; Close() (shutdown) completes every waiter, present
// and future, with Unavailable. Several waiters may wait for one id (the
// same transaction submitted twice); each is completed once.
//
// Thread-safe. A Ticket is shared by the waiting thread and the Waiters; it
// stays valid after it is completed or unregistered.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "medchain/api/backend.h"
#include "medchain/ledger/block.h"
#include "medchain/node/pool.h"

namespace medchain::node {

class Waiters {
 public:
  // One waiting thread's slot: completed once, with an error or an outcome.
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;           // guarded by mu
    Status status;               // guarded by mu
    api::SubmitOutcome outcome;  // guarded by mu; meaningful when status is ok
  };
  using Ticket = std::shared_ptr<Waiter>;

  // A new waiter for `id`. After Close(), it is already completed with
  // Unavailable ("the node is shutting down").
  Ticket Register(const Hash& id);
  // Forgets `w` (its caller stopped waiting); a no-op if it was completed.
  void Unregister(const Hash& id, const Ticket& w);

  // Blocks until `w` is completed or `deadline` passes. Completed: its
  // status (an error) or its outcome. Timed out: unregisters `w` and returns
  // nullopt (the caller decides what a timeout means: the transaction may
  // have committed in the meantime).
  std::optional<Result<api::SubmitOutcome>> Wait(const Hash& id, const Ticket& w,
                                                 std::chrono::steady_clock::time_point deadline);

  // Completes every waiter of `id` with `status` (and `outcome` when ok).
  void Fulfil(const Hash& id, const Status& status, const api::SubmitOutcome& outcome);

  // The block at `block.header.height` was applied with `results` (one per
  // transaction), its first transaction at Merkle leaf `first_leaf`.
  // Completes the waiters of its transactions: a valid transaction (its first
  // occurrence: a repeat is never ok) with its place in this block; any other
  // with what `committed(id)` answers (the ledger's first occurrence of a
  // repeat); one `committed` does not know is left waiting.
  // REQUIRES: results.size() == block.txs.size().
  void CompleteBlock(
      const ledger::Block& block, const std::vector<ledger::TxResult>& results, uint64_t first_leaf,
      const std::function<std::optional<api::SubmitOutcome>(const Hash&)>& committed);

  // Shutdown: every waiter now and later learns the node is going away.
  void Close();

  bool Empty() const;
  // Whether anyone waits for `id` (a waiter registers before it checks the
  // ledger, so a false here cannot lose a wake-up).
  bool Has(const Hash& id) const;

 private:
  mutable std::mutex m_mu;
  std::unordered_multimap<Hash, Ticket, HashHasher> m_waiters;  // guarded by m_mu
  bool m_closed = false;                                        // guarded by m_mu
};

}  // namespace medchain::node
