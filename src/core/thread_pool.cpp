#include "core/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>

namespace brasa {

int physical_core_count() {
  // Count distinct (package, core) pairs from sysfs; fall back to the logical count.
  std::set<std::pair<std::string, std::string>> cores;
  unsigned logical = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned cpu = 0; cpu < logical; ++cpu) {
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream package_file(base + "physical_package_id");
    std::ifstream core_file(base + "core_id");
    std::string package, core;
    if (!(package_file >> package) || !(core_file >> core)) return int(logical);
    cores.emplace(package, core);
  }
  return std::max<int>(1, int(cores.size()));
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : physical_core_count()) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int, int)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
    }
    (*job)(index, n_threads_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    pending_ = n_threads_ - 1;
    ++generation_;
  }
  wake_.notify_all();
  fn(0, n_threads_);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int threads = int(std::min<int64_t>(n, n_threads_));
  if (threads == 1) {
    fn(0, n);
    return;
  }
  run([&](int index, int count) {
    int64_t begin = n * index / count;
    int64_t end = n * (index + 1) / count;
    if (begin < end) fn(begin, end);
  });
}

namespace {
int g_requested_threads = 0;
}

void ThreadPool::set_global_threads(int n_threads) { g_requested_threads = n_threads; }

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_requested_threads);
  return pool;
}

}  // namespace brasa
