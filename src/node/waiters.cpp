// Copyright (c) medchain developers.
#include "node/waiters.h"

namespace medchain::node {

namespace {
const char kShuttingDown[] = "the node is shutting down";

void Complete(Waiters::Waiter& w, const Status& status, const api::SubmitOutcome& outcome) {
  std::lock_guard lock(w.mu);
  w.done = true;
  w.status = status;
  w.outcome = outcome;
  w.cv.notify_all();
}
}  // namespace

Waiters::Ticket Waiters::Register(const Hash& id) {
  auto w = std::make_shared<Waiter>();
  std::lock_guard lock(m_mu);
  if (m_closed) {
    w->done = true;
    w->status = Status::Unavailable(kShuttingDown);
    return w;
  }
  m_waiters.emplace(id, w);
  return w;
}

void Waiters::Unregister(const Hash& id, const Ticket& w) {
  std::lock_guard lock(m_mu);
  auto range = m_waiters.equal_range(id);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == w) {
      m_waiters.erase(it);
      return;
    }
  }
}

std::optional<Result<api::SubmitOutcome>> Waiters::Wait(
    const Hash& id, const Ticket& w, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(w->mu);
  if (!w->cv.wait_until(lock, deadline, [&] { return w->done; })) {
    lock.unlock();
    Unregister(id, w);
    return std::nullopt;
  }
  if (!w->status.ok()) return Result<api::SubmitOutcome>(w->status);
  return Result<api::SubmitOutcome>(w->outcome);
}

void Waiters::Fulfil(const Hash& id, const Status& status, const api::SubmitOutcome& outcome) {
  std::vector<Ticket> ws;
  {
    std::lock_guard lock(m_mu);
    auto range = m_waiters.equal_range(id);
    for (auto it = range.first; it != range.second; ++it) ws.push_back(it->second);
    m_waiters.erase(range.first, range.second);
  }
  for (auto& w : ws) Complete(*w, status, outcome);
}

void Waiters::CompleteBlock(
    const ledger::Block& block, const std::vector<ledger::TxResult>& results, uint64_t first_leaf,
    const std::function<std::optional<api::SubmitOutcome>(const Hash&)>& committed) {
  for (size_t i = 0; i < block.txs.size(); ++i) {
    const Hash& id = block.txs[i]->id();
    if (!Has(id)) continue;
    if (results[i].ok()) {
      // Its first occurrence (a repeat is never ok): answer without a lookup.
      api::SubmitOutcome c;
      c.id = id;
      c.committed = true;
      c.height = block.header.height;
      c.index = static_cast<uint32_t>(i);
      c.leaf_index = first_leaf + i;
      c.result = results[i];
      Fulfil(id, Status::Ok(), c);
    } else if (auto c = committed(id)) {
      // A repeated transaction answers with its first (committed) occurrence.
      Fulfil(id, Status::Ok(), *c);
    }
  }
}

void Waiters::Close() {
  std::vector<Ticket> ws;
  {
    std::lock_guard lock(m_mu);
    m_closed = true;
    for (auto& [id, w] : m_waiters) ws.push_back(w);
    m_waiters.clear();
  }
  for (auto& w : ws) Complete(*w, Status::Unavailable(kShuttingDown), {});
}

bool Waiters::Empty() const {
  std::lock_guard lock(m_mu);
  return m_waiters.empty();
}

bool Waiters::Has(const Hash& id) const {
  std::lock_guard lock(m_mu);
  return m_waiters.count(id) != 0;
}

}  // namespace medchain::node
