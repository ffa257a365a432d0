// Copyright (c) medchain developers.
#include "medchain/core/task_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>

namespace medchain {

TaskPool::TaskPool(size_t threads, size_t max_queued)
    : m_max_queued(std::max<size_t>(max_queued, 1)) {
  threads = std::max<size_t>(threads, 1);
  m_workers.reserve(threads);
  for (size_t i = 0; i < threads; ++i) m_workers.emplace_back([this] { Work(); });
}

TaskPool::~TaskPool() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(m_mu);
    m_stopping = true;
    dropped.swap(m_queue);
  }
  m_cv.notify_all();
  for (auto& t : m_workers) t.join();
  // `dropped` is destroyed here, outside the lock: a task's captures may
  // have destructors that take other locks.
}

bool TaskPool::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard lock(m_mu);
    if (m_stopping || m_queue.size() >= m_max_queued) return false;
    m_queue.push_back(std::move(task));
  }
  m_cv.notify_one();
  return true;
}

size_t TaskPool::Queued() const {
  std::lock_guard lock(m_mu);
  return m_queue.size();
}

void TaskPool::Work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(m_mu);
      m_cv.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
      if (m_stopping) return;
      task = std::move(m_queue.front());
      m_queue.pop_front();
    }
    task();
  }
}

namespace {

// What RunParallel's helpers share with the caller. Owned jointly: a helper
// the pool starts only after the caller returned (every index was taken by
// then) still reads `next`, and must find it alive.
struct ParallelRun {
  ParallelRun(size_t n_, const std::function<void(size_t)>& fn_) : n(n_), fn(&fn_) {}
  const size_t n;
  // Valid while `done` < n: the caller waits for that before returning, and
  // an index is only taken (next++ < n) by someone who then runs fn.
  const std::function<void(size_t)>* fn;
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;           // guarded by mu
  std::exception_ptr first;  // guarded by mu

  void Drain() {
    for (size_t i = next++; i < n; i = next++) {
      std::exception_ptr error;
      try {
        (*fn)(i);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(mu);
      if (error && !first) first = error;
      if (++done == n) cv.notify_all();
    }
  }
};

}  // namespace

void RunParallel(TaskPool& pool, size_t n, size_t parallel, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  auto run = std::make_shared<ParallelRun>(n, fn);
  const size_t helpers = std::min(n, std::max<size_t>(parallel, 1)) - 1;
  for (size_t h = 0; h < helpers; ++h) {
    if (!pool.TrySubmit([run] { run->Drain(); })) break;
  }
  run->Drain();
  std::unique_lock lock(run->mu);
  run->cv.wait(lock, [&] { return run->done == n; });
  if (run->first) std::rethrow_exception(run->first);
}

}  // namespace medchain
