// Microbenchmarks of the CPU kernels per weight type and instruction set.
// Counters: bytes_per_second counts weight (and KV) bytes read, FLOPS counts
// 2 per multiply-add. Run: build/bench/kernels_bench --benchmark_filter=Matmul
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/huge_page_buffer.h"
#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fp8_amx_decode.h"
#include "kernels/cpu/machine_probe.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/kv_pool.h"
#include "kernels/weight.h"

namespace brasa {
namespace {

// Random bytes that decode to finite values for every weight type.
std::vector<uint8_t> random_weight_bytes(DType dtype, int64_t rows, int64_t cols) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint8_t> bytes(dtype_row_bytes(dtype, cols) * size_t(rows));
  const size_t n = size_t(rows * cols);
  switch (dtype) {
    case DType::F32:
      for (size_t i = 0; i < n; ++i) reinterpret_cast<float*>(bytes.data())[i] = normal(rng);
      break;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        reinterpret_cast<uint16_t*>(bytes.data())[i] = dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      }
      break;
    default:
      for (uint8_t& b : bytes) b = uint8_t(rng() & 0x77);  // positive F8 and small F16 scales
      break;
  }
  return bytes;
}

const CpuKernels* kernels_by_index(int64_t index) {
  const auto all = supported_cpu_kernels();
  return index < int64_t(all.size()) ? all[size_t(index)] : nullptr;
}

// BRASA_BENCH_THREADS sets the pool size (default: physical cores). With 1
// thread, the CPU time column measures the kernel even on a shared machine.
ThreadPool& bench_pool() {
  static ThreadPool pool([] {
    const char* value = std::getenv("BRASA_BENCH_THREADS");
    return value != nullptr ? std::atoi(value) : 0;
  }());
  return pool;
}

// Args: dtype, rows, cols, n_tokens, kernel set index (0 scalar, then avx2,
// avx512, avx512-vbmi, amx; supported_cpu_kernels lists them in this order).
void BM_Matmul(benchmark::State& state) {
  const auto dtype = DType(state.range(0));
  const int64_t rows = state.range(1);
  const int64_t cols = state.range(2);
  const int64_t n_tokens = state.range(3);
  const CpuKernels* kernels = kernels_by_index(state.range(4));
  if (kernels == nullptr) {
    state.SkipWithError("kernel set not supported on this CPU");
    return;
  }
  const auto bytes = random_weight_bytes(dtype, rows, cols);
  const std::vector<float> row_scale(size_t(rows), 0.01f);
  const Weight w = make_weight(dtype, rows, cols, bytes.data(), row_scale.data());
  std::vector<float> x(size_t(n_tokens * cols), 0.5f);
  std::vector<float> y(size_t(n_tokens * rows));
  for (auto _ : state) {
    kernels->matmul(w, x.data(), n_tokens, y.data(), bench_pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(kernels->isa) + " " + dtype_name(dtype));
  state.counters["bytes_per_second"] =
      benchmark::Counter(double(w.bytes()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * double(rows * cols * n_tokens) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::Q8_0, DType::Q4_0}) {
    for (int64_t n_tokens : {1, 4, 8, 16, 32, 128, 512}) {
      for (int64_t set : {0, 1, 2, 3, 4}) {
        // The scalar reference is too slow for prefill-sized products.
        if (set == 0 && n_tokens > 1) continue;
        if (set == 1 && n_tokens > 128) continue;
        b->Args({int64_t(dtype), 4096, 4096, n_tokens, set});
      }
    }
  }
}
BENCHMARK(BM_Matmul)->Apply(matmul_args)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The AVX-512 float-decode path, which matmul_avx512 replaces with the VNNI
// path for Q8_0 and Q4_0; kept to measure that choice. Args: dtype, n_tokens.
void BM_MatmulFloatDecodeAvx512(benchmark::State& state) {
  if (find_cpu_kernels("avx512") == nullptr) {
    state.SkipWithError("AVX-512 kernels not supported on this CPU");
    return;
  }
  const auto dtype = DType(state.range(0));
  const int64_t n_tokens = state.range(1);
  const auto bytes = random_weight_bytes(dtype, 4096, 4096);
  const Weight w = make_weight(dtype, 4096, 4096, bytes.data());
  std::vector<float> x(size_t(n_tokens * 4096), 0.5f);
  std::vector<float> y(size_t(n_tokens * 4096));
  for (auto _ : state) {
    matmul_avx512_float_decode(w, x.data(), n_tokens, y.data(), bench_pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string("avx512 float decode ") + dtype_name(dtype));
  state.counters["bytes_per_second"] =
      benchmark::Counter(double(w.bytes()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["FLOPS"] = benchmark::Counter(2.0 * 4096 * 4096 * n_tokens * double(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MatmulFloatDecodeAvx512)
    ->ArgsProduct({{int64_t(DType::BF16), int64_t(DType::Q8_0), int64_t(DType::Q4_0)}, {1, 8, 128}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The vdpbf16ps kernel with split activations. No kernel set uses it, because
// it measured slower than the F32 paths, and this case keeps that choice
// measurable. Args: dtype, n_tokens.
void BM_MatmulBf16DotAvx512(benchmark::State& state) {
  if (find_cpu_kernels("avx512-vbmi") == nullptr) {
    state.SkipWithError("AVX512-VBMI not supported on this CPU");
    return;
  }
  const auto dtype = DType(state.range(0));
  const int64_t n_tokens = state.range(1);
  const auto bytes = random_weight_bytes(dtype, 4096, 4096);
  const std::vector<float> row_scale(4096, 0.01f);
  const Weight w = make_weight(dtype, 4096, 4096, bytes.data(), row_scale.data());
  std::vector<float> x(size_t(n_tokens * 4096), 0.5f);
  std::vector<float> y(size_t(n_tokens * 4096));
  for (auto _ : state) {
    matmul_bf16_dot_avx512(w, x.data(), n_tokens, y.data(), bench_pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string("avx512 bf16 dot ") + dtype_name(dtype));
  state.counters["bytes_per_second"] =
      benchmark::Counter(double(w.bytes()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["FLOPS"] = benchmark::Counter(2.0 * 4096 * 4096 * n_tokens * double(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MatmulBf16DotAvx512)
    ->ArgsProduct({{int64_t(DType::BF16), int64_t(DType::F8_E4M3)}, {1, 8, 128}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// FP8 decode against BF16 decode at the same token counts, on one 4096 x
// 4096 weight. Path 0 is BF16 through the best kernel set (the F32 FMA path
// below 16 tokens), 1 the FP8 kernel with F32 FMA, 2 the FP8 kernel on AMX
// tiles. Path 3 only reads and converts the FP8 weight on one thread, and
// path 4 only reads it: the floors under any FP8 decode kernel that converts
// in registers. Compare the CPU time column with BRASA_BENCH_THREADS=1.
// Args: path, n_tokens (paths 3 and 4 ignore it).
void BM_DecodeFp8VsBf16(benchmark::State& state) {
  const int64_t path = state.range(0);
  const int64_t n_tokens = state.range(1);
  const char* needed = path == 2 ? "amx" : "avx512-vbmi";
  if (find_cpu_kernels(needed) == nullptr) {
    state.SkipWithError("kernel set not supported on this CPU or not granted AMX tiles");
    return;
  }
  const DType dtype = path == 0 ? DType::BF16 : DType::F8_E4M3;
  const auto bytes = random_weight_bytes(dtype, 4096, 4096);
  const std::vector<float> row_scale(4096, 0.01f);
  const Weight w = make_weight(dtype, 4096, 4096, bytes.data(), dtype == DType::F8_E4M3 ? row_scale.data() : nullptr);
  std::vector<float> x(size_t(n_tokens * 4096), 0.5f);
  std::vector<float> y(size_t(n_tokens * 4096));
  for (auto _ : state) {
    if (path == 0) best_cpu_kernels().matmul(w, x.data(), n_tokens, y.data(), bench_pool());
    if (path == 1) matmul_fp8_fma_avx512(w, x.data(), n_tokens, y.data(), bench_pool());
    if (path == 2) matmul_fp8_amx_decode(w, x.data(), n_tokens, y.data(), bench_pool());
    if (path >= 3) benchmark::DoNotOptimize(read_fp8_weight_avx512(w, path == 3));
    benchmark::DoNotOptimize(y.data());
  }
  const char* labels[] = {"bf16 best set", "fp8 fma avx512", "fp8 amx decode", "fp8 read and convert",
                          "fp8 read only"};
  state.SetLabel(labels[path]);
  state.counters["bytes_per_second"] =
      benchmark::Counter(double(w.bytes()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["FLOPS"] = benchmark::Counter(2.0 * 4096 * 4096 * n_tokens * double(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeFp8VsBf16)
    ->ArgsProduct({{0, 1, 2}, {1, 2, 3, 4, 8, 15}})
    ->Args({3, 1})
    ->Args({4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same comparison with the weights in memory rather than in cache. A
// single 4096 x 4096 weight (34 MB in BF16) stays in a large last-level cache
// between iterations (480 MB on the development VM), so BM_DecodeFp8VsBf16
// measures cache bandwidth. Here each iteration multiplies the next of many
// copies, which together take at least twice the last-level cache, as a
// model's layers do when decoding. Paths: 0 BF16, 1 FP8, 2 Q8_0, each through
// the best kernel set. Args: path, n_tokens, rows, cols.

void BM_DecodeFromMemory(benchmark::State& state) {
  const DType types[] = {DType::BF16, DType::F8_E4M3, DType::Q8_0};
  const DType dtype = types[state.range(0)];
  const int64_t n_tokens = state.range(1);
  const int64_t rows = state.range(2);
  const int64_t cols = state.range(3);
  const auto weight_bytes = random_weight_bytes(dtype, rows, cols);
  const size_t copies = (bytes_beyond_last_level_cache() + weight_bytes.size() - 1) / weight_bytes.size();
  // In huge pages, as `brasa` keeps loaded weights.
  HugePageBuffer all(weight_bytes.size() * copies);
  for (size_t c = 0; c < copies; ++c) {
    std::copy(weight_bytes.begin(), weight_bytes.end(), all.data() + c * weight_bytes.size());
  }
  const std::vector<float> row_scale(size_t(rows), 0.01f);
  const float* scale = dtype == DType::F8_E4M3 ? row_scale.data() : nullptr;
  std::vector<float> x(size_t(n_tokens * cols), 0.5f);
  std::vector<float> y(size_t(n_tokens * rows));

  size_t next = 0;
  for (auto _ : state) {
    const Weight w = make_weight(dtype, rows, cols, all.data() + next * weight_bytes.size(), scale);
    best_cpu_kernels().matmul(w, x.data(), n_tokens, y.data(), bench_pool());
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % copies;
  }
  state.SetLabel(std::string(best_cpu_kernels().isa) + " " + dtype_name(dtype) + ", " + std::to_string(copies) +
                 " copies");
  state.counters["bytes_per_second"] =
      benchmark::Counter(double(weight_bytes.size()) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeFromMemory)
    ->ArgsProduct({{0, 1, 2}, {1, 2, 4, 8, 32}, {4096}, {4096}})
    // bench-moe's shapes: a 1024 x 1024 projection and its output head.
    ->ArgsProduct({{0, 1, 2}, {1}, {1024}, {1024}})
    ->ArgsProduct({{0, 1, 2}, {1, 8, 32}, {202048}, {1024}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: context length, n_tokens (1 = decode), kernel set index. Llama 3 8B
// shape: 32 query heads, 8 KV heads, head_dim 128, block size 16.
void run_attention(benchmark::State& state, DType kv_dtype) {
  const int32_t context = int32_t(state.range(0));
  const int32_t n_tokens = int32_t(state.range(1));
  const CpuKernels* kernels = kernels_by_index(state.range(2));
  if (kernels == nullptr) {
    state.SkipWithError("kernel set not supported on this CPU");
    return;
  }

  const int32_t n_heads = 32, n_kv_heads = 8, head_dim = 128, block_size = 16;
  const int32_t n_blocks = (context + block_size - 1) / block_size;
  KvPoolStorage storage(n_blocks, block_size, 1, n_kv_heads, head_dim, kv_dtype);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t i = 0; i < n_blocks; ++i) table[size_t(i)] = i;

  std::vector<float> q(size_t(n_tokens) * n_heads * head_dim, 0.1f);
  std::vector<float> out(q.size());
  AttentionSequence sequence;
  sequence.n_tokens = n_tokens;
  sequence.start_pos = context - n_tokens;
  sequence.block_table = table.data();
  sequence.n_blocks = n_blocks;

  AttentionArgs args;
  args.q = q.data();
  args.out = out.data();
  args.n_heads = n_heads;
  args.n_kv_heads = n_kv_heads;
  args.head_dim = head_dim;
  args.scale = 1.0f / std::sqrt(float(head_dim));
  args.pool = &storage.pool();
  args.sequences = std::span<const AttentionSequence>(&sequence, 1);

  // Each query row reads keys and values of every visible position.
  double pairs = 0;
  for (int32_t t = 0; t < n_tokens; ++t) pairs += double(sequence.start_pos + t + 1);

  for (auto _ : state) {
    kernels->attention(args, bench_pool());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(kernels->isa);
  state.counters["FLOPS"] =
      benchmark::Counter(4.0 * pairs * n_heads * head_dim * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["bytes_per_second"] = benchmark::Counter(
      double(n_tokens == 1 ? 2.0 * context * n_kv_heads * head_dim * storage.pool().element_bytes()
                           : storage.pool().bytes()) *
          state.iterations(),
      benchmark::Counter::kIsRate);
}

void BM_Attention(benchmark::State& state) { run_attention(state, DType::F32); }
BENCHMARK(BM_Attention)
    ->ArgsProduct({{4096}, {1}, {0, 1, 2}})
    ->ArgsProduct({{512}, {512}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same shapes with an F16 KV cache, which reads half the bytes per key and
// value but rounds the output accumulator after every key.
void BM_AttentionF16Kv(benchmark::State& state) { run_attention(state, DType::F16); }
BENCHMARK(BM_AttentionF16Kv)
    ->ArgsProduct({{4096}, {1}, {0, 1, 2}})
    ->ArgsProduct({{512}, {512}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_Swiglu(benchmark::State& state) {
  const CpuKernels* kernels = kernels_by_index(state.range(0));
  if (kernels == nullptr) {
    state.SkipWithError("kernel set not supported on this CPU");
    return;
  }
  std::vector<float> gate(14336, 0.3f), up(14336, 0.7f), out(14336);
  for (auto _ : state) {
    kernels->swiglu(gate.data(), up.data(), int64_t(gate.size()), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(kernels->isa);
  state.counters["bytes_per_second"] =
      benchmark::Counter(3.0 * 4 * gate.size() * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Swiglu)->DenseRange(0, 2);

}  // namespace
}  // namespace brasa
