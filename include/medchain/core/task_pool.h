// Copyright (c) medchain developers.
// A fixed pool of worker threads with a bounded task queue.
//
// Request handlers that fan work out (the /v1/cluster peer queries, the FHIR
// facade's audited reads) hand it to a pool created once, so a flood of
// requests queues work instead of starting threads: the number of threads a
// node runs does not depend on what its clients send.
//
// Thread-safe. Tasks must not throw (an exception that escapes a task ends
// the process, as with std::thread) and must not wait for other tasks of the
// same pool (with every worker waiting, nothing would run them).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace medchain {

class TaskPool {
 public:
  // Starts `threads` workers (at least 1); at most `max_queued` tasks wait
  // for a worker (at least 1).
  TaskPool(size_t threads, size_t max_queued);
  // Tasks still queued are dropped unrun (destroyed); running ones finish;
  // then the workers are joined.
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Queues `task` for a worker. False (and `task` is not run) when
  // `max_queued` tasks are already waiting or the pool is being destroyed:
  // the caller decides what a refused task means (do it itself, or report
  // it as not done).
  bool TrySubmit(std::function<void()> task);

  size_t Threads() const { return m_workers.size(); }
  // Tasks waiting for a worker (not those running).
  size_t Queued() const;

 private:
  void Work();

  const size_t m_max_queued;
  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_queue;  // guarded by m_mu
  bool m_stopping = false;                    // guarded by m_mu
  std::vector<std::thread> m_workers;         // constant after construction
};

// Runs fn(i) for every i in [0, n), at most `parallel` at once: on the
// calling thread and on up to parallel - 1 workers of `pool`. Returns when
// every fn(i) has returned; the first exception thrown by fn is rethrown
// then. The calling thread takes part, so this finishes even when the pool
// is busy or refuses tasks (it then just runs with less parallelism).
// REQUIRES: not called from a task of `pool`.
void RunParallel(TaskPool& pool, size_t n, size_t parallel, const std::function<void(size_t)>& fn);

}  // namespace medchain
