#include "core/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include <immintrin.h>

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

namespace {

// Pause instructions a thread spins before it sleeps. At about 140 cycles a
// pause on Sapphire Rapids (an estimate), that is about 100 µs at 2.6 GHz,
// enough to bridge the gaps between the jobs of one step.
constexpr int kSpinPauses = 2000;

// Spins until done() returns true or the budget runs out, and returns done().
template <typename Done>
bool spin_until(Done done) {
  for (int i = 0; i < kSpinPauses; ++i) {
    if (done()) return true;
    _mm_pause();
  }
  return done();
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  while (true) {
    auto has_work = [&] { return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(has_work)) {
      // The predicate is checked again under the mutex, and run() publishes a
      // job under it, so a job published after the spin is not missed.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, has_work);
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);

    (*job_)(index, n_threads_);

    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Taking the mutex orders this notify after run()'s check of pending_.
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();

  fn(0, n_threads_);

  auto all_done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
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
