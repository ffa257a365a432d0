// Copyright (c) medchain developers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "medchain/core/task_pool.h"

namespace medchain {
namespace {

using namespace std::chrono_literals;

// A gate tasks wait at until the test opens it. Waits are bounded so that a
// broken pool fails the test instead of hanging it.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(m_mu);
    m_open = true;
    m_cv.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(m_mu);
    m_waiting++;
    m_cv.notify_all();
    return m_cv.wait_for(lock, 30s, [&] { return m_open; });
  }
  // Until `n` callers are waiting at the gate.
  bool WaitForWaiters(size_t n) {
    std::unique_lock lock(m_mu);
    return m_cv.wait_for(lock, 30s, [&] { return m_waiting >= n; });
  }

 private:
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_open = false;
  size_t m_waiting = 0;
};

// Counts finished tasks, and waits for a number of them.
class Done {
 public:
  void Add() {
    std::lock_guard lock(m_mu);
    m_n++;
    m_cv.notify_all();
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(m_mu);
    return m_cv.wait_for(lock, 30s, [&] { return m_n >= n; });
  }
  size_t Count() {
    std::lock_guard lock(m_mu);
    return m_n;
  }

 private:
  std::mutex m_mu;
  std::condition_variable m_cv;
  size_t m_n = 0;
};

TEST(TaskPool, RunsTasksOnItsOwnFixedThreads) {
  TaskPool pool(3, 1000);
  EXPECT_EQ(pool.Threads(), 3u);
  std::mutex mu;
  std::set<std::thread::id> ids;
  Done done;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      {
        std::lock_guard lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      done.Add();
    }));
  }
  ASSERT_TRUE(done.WaitFor(200));
  std::lock_guard lock(mu);
  EXPECT_LE(ids.size(), 3u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(TaskPool, RefusesTasksPastTheQueueBound) {
  TaskPool pool(2, 3);
  Gate gate;
  Done done;
  auto blocked = [&] {
    gate.Wait();
    done.Add();
  };
  // Two tasks hold both workers; three more fill the queue.
  ASSERT_TRUE(pool.TrySubmit(blocked));
  ASSERT_TRUE(pool.TrySubmit(blocked));
  ASSERT_TRUE(gate.WaitForWaiters(2));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.TrySubmit(blocked)) << i;
  EXPECT_EQ(pool.Queued(), 3u);
  bool ran = false;
  EXPECT_FALSE(pool.TrySubmit([&] { ran = true; }));
  gate.Open();
  ASSERT_TRUE(done.WaitFor(5));
  EXPECT_FALSE(ran);
  // Room again once the queue drained.
  EXPECT_TRUE(pool.TrySubmit([&] { done.Add(); }));
  EXPECT_TRUE(done.WaitFor(6));
}

TEST(TaskPool, DestructionFinishesRunningTasksAndDropsQueuedOnes) {
  Gate gate;
  std::atomic<int> finished{0}, queued_ran{0};
  std::thread opener;
  {
    TaskPool pool(1, 10);
    ASSERT_TRUE(pool.TrySubmit([&] {
      gate.Wait();
      finished++;
    }));
    ASSERT_TRUE(gate.WaitForWaiters(1));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.TrySubmit([&] { queued_ran++; }));
    // The destructor below blocks on the running task: open the gate from
    // elsewhere once destruction has begun (the queue is dropped first).
    opener = std::thread([&] {
      while (pool.Queued() != 0) std::this_thread::yield();
      gate.Open();
    });
  }
  opener.join();
  EXPECT_EQ(finished.load(), 1);
  EXPECT_EQ(queued_ran.load(), 0);
}

TEST(RunParallel, RunsEveryIndexOnceAndInParallel) {
  TaskPool pool(8, 100);
  constexpr size_t kN = 100, kParallel = 4;
  std::vector<std::atomic<int>> calls(kN);
  std::mutex mu;
  std::condition_variable cv;
  size_t active = 0, most = 0;
  RunParallel(pool, kN, kParallel, [&](size_t i) {
    calls[i]++;
    std::unique_lock lock(mu);
    most = std::max(most, ++active);
    cv.notify_all();
    // The first calls wait (bounded) until kParallel run at once: proof
    // that helpers really run beside the caller.
    if (i < kParallel) cv.wait_for(lock, 10s, [&] { return most >= kParallel; });
    --active;
  });
  for (size_t i = 0; i < kN; ++i) EXPECT_EQ(calls[i].load(), 1) << i;
  EXPECT_EQ(most, kParallel);  // never more than asked for
}

TEST(RunParallel, FinishesOnTheCallersThreadWhenThePoolIsBusy) {
  TaskPool pool(2, 2);
  Gate gate;
  Done done;
  // Both workers blocked, the queue full: no helper can run.
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(pool.TrySubmit([&] {
      gate.Wait();
      done.Add();
    }));
  ASSERT_TRUE(gate.WaitForWaiters(2));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(pool.TrySubmit([&] { done.Add(); }));
  std::set<std::thread::id> ids;
  RunParallel(pool, 50, 16, [&](size_t) { ids.insert(std::this_thread::get_id()); });
  EXPECT_EQ(ids, std::set<std::thread::id>{std::this_thread::get_id()});
  gate.Open();
  EXPECT_TRUE(done.WaitFor(4));
}

TEST(RunParallel, HelpersThatStartAfterTheCallerReturnedDoNothing) {
  TaskPool pool(1, 10);
  Gate gate;
  Done done;
  ASSERT_TRUE(pool.TrySubmit([&] {
    gate.Wait();
    done.Add();
  }));
  ASSERT_TRUE(gate.WaitForWaiters(1));
  std::atomic<int> calls{0};
  {
    // Its helpers are queued behind the blocked task; the caller does all.
    std::vector<int> local(20, 0);
    RunParallel(pool, local.size(), 4, [&](size_t i) {
      local[i]++;
      calls++;
    });
  }
  EXPECT_EQ(calls.load(), 20);
  // The helpers now run, after `local` and the caller's frame are gone
  // (AddressSanitizer builds catch any touch of them).
  ASSERT_TRUE(pool.TrySubmit([&] { done.Add(); }));
  gate.Open();
  ASSERT_TRUE(done.WaitFor(2));
  EXPECT_EQ(calls.load(), 20);
}

TEST(RunParallel, RethrowsTheFirstErrorAfterEveryIndexRan) {
  TaskPool pool(4, 100);
  std::atomic<int> calls{0};
  try {
    RunParallel(pool, 30, 8, [&](size_t i) {
      calls++;
      if (i % 10 == 3) throw std::runtime_error("index " + std::to_string(i));
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("index ", 0), 0u);
  }
  EXPECT_EQ(calls.load(), 30);
}

TEST(RunParallel, NothingToDo) {
  TaskPool pool(1, 1);
  RunParallel(pool, 0, 4, [](size_t) { FAIL(); });
}

}  // namespace
}  // namespace medchain
