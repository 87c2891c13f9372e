#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace brasa {

// A persistent pool of worker threads shared by all kernels. Workers are
// created once, so a step never pays for thread creation. Between jobs a
// worker spins for about 100 microseconds, then sleeps on a condition
// variable: a decode step runs many short jobs back to back, and waking a
// sleeping thread can cost as much as one of them. The calling thread takes
// part as worker 0.
class ThreadPool {
 public:
  // n_threads includes the calling thread; 0 means the number of physical cores.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on every thread and returns when all are done.
  // Not reentrant: a job must not call run() on the same pool.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous ranges, one per thread, and runs fn(begin, end) on each.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool; set_global_threads must run before its first use to take effect.
  static ThreadPool& global();
  static void set_global_threads(int n_threads);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int, int)>* job_ = nullptr;  // published by the release store of generation_
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  std::mutex run_mutex_;
};

// Number of physical cores (hyperthread siblings counted once), at least 1.
int physical_core_count();

}  // namespace brasa
