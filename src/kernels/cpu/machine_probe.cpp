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

// Runs `loop` on every thread and returns the best rate over kRepeats runs.
double measure_loop_flops(ThreadPool& pool, float (*loop)(int64_t), double flops_per_iteration, int64_t iterations) {
  std::atomic<float> sink{0.0f};
  double best = 0.0;
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int, int) { sink = sink + loop(iterations); });
    best = std::max(best, flops_per_iteration * double(iterations) * pool.size() / seconds_since(start));
  }
  return best;
}

bool has_kernel_set(const char* isa) { return find_cpu_kernels(isa) != nullptr; }

}  // namespace

MatmulPeak matmul_peak(const MachineLimits& limits, DType weight_type, int64_t n_tokens) {
  const std::string isa = limits.isa;
  // The same choices as the kernel sets in kernel_dispatch.cpp.
  // No kernel set multiplies with vdpbf16ps now, so peak_flops_bf16_dot is
  // reported for comparison only.
  if (isa == "amx") {
    const bool bf16_tiles = weight_type == DType::BF16 || weight_type == DType::F8_E4M3;
    if (bf16_tiles && n_tokens >= 16) return {limits.peak_flops_amx_bf16, "amx-bf16"};
    if (weight_type == DType::Q8_0 && n_tokens >= 8 && limits.peak_ops_amx_int8 > 0) {
      return {limits.peak_ops_amx_int8, "amx-int8"};
    }
  }
  return {limits.peak_flops, "f32-fma"};
}

MachineLimits measure_machine_limits(ThreadPool& pool) {
  MachineLimits limits;
  limits.isa = best_cpu_kernels().isa;
  limits.read_bytes_per_second = measure_read_bandwidth(pool);

  constexpr int64_t kIterations = 20'000'000;
  if (has_kernel_set("avx512")) {
    limits.peak_flops = measure_loop_flops(pool, fma_loop_avx512, 16.0 * 16 * 2, kIterations);
  } else if (has_kernel_set("avx2")) {
    limits.peak_flops = measure_loop_flops(pool, fma_loop_avx2, 12.0 * 8 * 2, kIterations);
  }
  // The scalar backend has no vector peak to compare with, so it reports 0.
  if (has_kernel_set("avx512")) {
    limits.peak_flops_bf16_dot = measure_loop_flops(pool, bf16_dot_loop_avx512, 16.0 * 32 * 2, kIterations);
  }
  if (has_kernel_set("amx")) {
    // 4 tdpbf16ps of 16 x 16 x 32 multiply-adds each; fewer iterations, since each is 64 times the work.
    limits.peak_flops_amx_bf16 = measure_loop_flops(pool, amx_bf16_loop, 4.0 * 16 * 16 * 32 * 2, kIterations / 16);
    if (cpu_has_amx_int8()) {
      limits.peak_ops_amx_int8 = measure_loop_flops(pool, amx_int8_loop, 4.0 * 16 * 16 * 64 * 2, kIterations / 32);
    }
  }
  return limits;
}

}  // namespace brasa
