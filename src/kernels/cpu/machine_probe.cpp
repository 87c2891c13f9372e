#include "kernels/cpu/machine_probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_kernels.h"

namespace brasa {

namespace {

constexpr size_t kBandwidthBytes = size_t(512) << 20;
constexpr int kRepeats = 5;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sums 64-bit words with 4 independent chains; the compiler vectorizes it with
// the baseline flags, which is enough to saturate memory from every core.
uint64_t sum_words(const uint64_t* words, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += words[i];
    s1 += words[i + 1];
    s2 += words[i + 2];
    s3 += words[i + 3];
  }
  for (; i < n; ++i) s0 += words[i];
  return s0 + s1 + s2 + s3;
}

double measure_read_bandwidth(ThreadPool& pool) {
  const size_t n_words = kBandwidthBytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[n_words]);
  // Each thread touches its own part first, so pages land on its NUMA node.
  pool.parallel_for(int64_t(n_words), [&](int64_t begin, int64_t end) {
    std::memset(buffer.get() + begin, 1, size_t(end - begin) * sizeof(uint64_t));
  });

  std::atomic<uint64_t> sink{0};
  double best = 0.0;
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(int64_t(n_words), [&](int64_t begin, int64_t end) {
      sink += sum_words(buffer.get() + begin, size_t(end - begin));
    });
    best = std::max(best, double(kBandwidthBytes) / seconds_since(start));
  }
  return sink.load() == 0 ? 0.0 : best;
}

double measure_peak_flops(ThreadPool& pool, const std::string& isa) {
  float (*loop)(int64_t) = nullptr;
  double flops_per_iteration = 0.0;
  if (isa == "avx512") {
    loop = fma_loop_avx512;
    flops_per_iteration = 16.0 * 16 * 2;
  } else if (isa == "avx2") {
    loop = fma_loop_avx2;
    flops_per_iteration = 12.0 * 8 * 2;
  } else {
    return 0.0;  // the scalar backend has no vector peak to compare with
  }

  constexpr int64_t kIterations = 20'000'000;
  std::atomic<float> sink{0.0f};
  double best = 0.0;
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int, int) { sink = sink + loop(kIterations); });
    best = std::max(best, flops_per_iteration * double(kIterations) * pool.size() / seconds_since(start));
  }
  return best;
}

}  // namespace

MachineLimits measure_machine_limits(ThreadPool& pool) {
  MachineLimits limits;
  limits.isa = best_cpu_kernels().isa;
  limits.read_bytes_per_second = measure_read_bandwidth(pool);
  limits.peak_flops = measure_peak_flops(pool, limits.isa);
  return limits;
}

}  // namespace brasa
