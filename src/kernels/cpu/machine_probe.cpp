#include "kernels/cpu/machine_probe.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/huge_page_buffer.h"
#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_kernels.h"

namespace brasa {

namespace {

constexpr size_t kMinBandwidthBytes = size_t(512) << 20;
constexpr int kRepeats = 5;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sums 64-bit words with 4 independent chains, vectorized with the baseline
// flags: the fallback where AVX-512 is missing. On the development VM these
// 16-byte loads read about 20% less per second than AVX-512 loads.
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

bool has_kernel_set(const char* isa) { return find_cpu_kernels(isa) != nullptr; }

double measure_read_bandwidth(ThreadPool& pool) {
  const size_t bytes = bytes_beyond_last_level_cache();
  HugePageBuffer buffer(bytes);
  // Parts of 256 bytes, whole for the AVX-512 loop.
  const int64_t n_parts = int64_t(bytes / 256);
  // Each thread touches its own part first, so pages land on its NUMA node.
  pool.parallel_for(n_parts, [&](int64_t begin, int64_t end) {
    std::memset(buffer.data() + begin * 256, 1, size_t(end - begin) * 256);
  });

  const bool wide = has_kernel_set("avx512");
  std::atomic<uint64_t> sink{0};
  double best = 0.0;
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(n_parts, [&](int64_t begin, int64_t end) {
      const uint8_t* part = buffer.data() + begin * 256;
      const size_t part_bytes = size_t(end - begin) * 256;
      sink += wide ? read_loop_avx512(part, part_bytes)
                   : sum_words(reinterpret_cast<const uint64_t*>(part), part_bytes / sizeof(uint64_t));
    });
    best = std::max(best, double(bytes) / seconds_since(start));
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

}  // namespace

Roofline roofline(double flops, double peak_flops, double bytes, double read_bytes_per_second) {
  Roofline result;
  result.compute_seconds = peak_flops > 0 ? flops / peak_flops : 0.0;
  result.memory_seconds = read_bytes_per_second > 0 ? bytes / read_bytes_per_second : 0.0;
  return result;
}

size_t bytes_beyond_last_level_cache() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const size_t twice_cache = l3 > 0 ? 2 * size_t(l3) : 0;
  return std::max(kMinBandwidthBytes, twice_cache) / 256 * 256;
}

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
