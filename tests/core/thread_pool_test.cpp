// Checks that every job of the thread pool runs on every thread exactly once,
// whether the workers are still spinning from the last job or asleep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace brasa {
namespace {

// Back-to-back jobs reach workers that are still spinning.
TEST(ThreadPool, BackToBackJobsRunOnEveryThread) {
  ThreadPool pool(4);
  std::vector<std::atomic<int64_t>> calls(4);
  constexpr int kJobs = 20000;
  for (int job = 0; job < kJobs; ++job) {
    pool.run([&](int index, int count) {
      ASSERT_EQ(count, 4);
      calls[size_t(index)].fetch_add(1);
    });
  }
  for (const auto& c : calls) EXPECT_EQ(c.load(), kJobs);
}

// Pauses longer than the spin put the workers to sleep before each job.
TEST(ThreadPool, JobsAfterPausesWakeSleepingWorkers) {
  ThreadPool pool(3);
  std::atomic<int> calls{0};
  for (int job = 0; job < 20; ++job) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    pool.run([&](int, int) { calls.fetch_add(1); });
  }
  EXPECT_EQ(calls.load(), 60);
}

TEST(ThreadPool, ParallelForCoversTheRangeOnce) {
  ThreadPool pool(2);
  for (int64_t n : {int64_t(1), int64_t(2), int64_t(7), int64_t(1000)}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) seen[size_t(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[size_t(i)].load(), 1) << n << " " << i;
  }
}

// A pool destroyed right after its last job, while its workers still spin, or
// with no job at all, joins its workers (a bug here hangs the test).
TEST(ThreadPool, DestroysWithSpinningOrIdleWorkers) {
  std::atomic<int> calls{0};
  for (int round = 0; round < 50; ++round) {
    ThreadPool pool(2);
    if (round % 2 == 0) pool.run([&](int, int) { calls.fetch_add(1); });
  }
  EXPECT_EQ(calls.load(), 50);
}

}  // namespace
}  // namespace brasa
