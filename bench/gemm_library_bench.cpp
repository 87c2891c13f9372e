// Brasa's CPU matmul against OpenBLAS sgemm and oneDNN matmul (F32, and BF16
// with AMX where oneDNN picks it) at the matmul shapes of the bench-moe model.
// Built only when CMake finds OpenBLAS, oneDNN and OpenMP (bench/CMakeLists.txt).
//
// Every case computes y[t][r] = sum_c x[t][c] * w[r][c] with F32 activations and
// F32 output, as Backend::matmul does. Before timing, each result is compared
// with OpenBLAS sgemm on the same F32 values, and the case fails when the
// largest error exceeds 2% of the largest output. The counter max_rel_error
// reports that ratio.
//
// NOTE: Debian's oneDNN runs on OpenMP, whose threads spin at barriers. With
// other processes busy on the cores, its 2-thread cases can take 10 to 100
// times longer; OMP_WAIT_POLICY=passive makes its threads sleep instead.
//
// Run: build/bench/gemm_library_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/weight.h"

namespace brasa {
namespace {

enum class Library : int64_t { Brasa, OpenBlas, OneDnn };

// bench-moe (brasa make-test-model --preset bench-moe): hidden size 1024,
// expert FFN size 1024, 8 query heads and 2 KV heads of 128, vocabulary 202,048.
constexpr int64_t kHidden = 1024;
constexpr int64_t kExpertFfn = 1024;
constexpr int64_t kKvProjection = 2 * 128;
constexpr int64_t kVocab = 202048;

constexpr double kMaxRelativeError = 0.02;

// The weight of one shape, in F32 and BF16 holding the same values: each F32
// value is rounded to BF16 first, so both types multiply the same matrix and
// share one reference result.
struct ShapeWeights {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
};

// Uniform values in [-1, 1) from a 64-bit xorshift. The lm-head shape has 207 M
// weights, and std::normal_distribution would take seconds to fill it.
class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed) {}

  float next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return float(state_ >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }

 private:
  uint64_t state_;
};

// Benchmarks run grouped by shape, so keeping the last shape's weights avoids
// rebuilding the 0.8 GB lm-head matrix for every case.
const ShapeWeights& weights_for(int64_t rows, int64_t cols) {
  static ShapeWeights cached;
  if (cached.rows == rows && cached.cols == cols) return cached;

  cached = ShapeWeights();
  cached.rows = rows;
  cached.cols = cols;
  const size_t n = size_t(rows * cols);
  cached.f32.resize(n);
  cached.bf16.resize(n);
  FastRandom random(uint64_t(rows * 7919 + cols));
  for (size_t i = 0; i < n; ++i) {
    cached.bf16[i] = f32_to_bf16(random.next());
    cached.f32[i] = bf16_to_f32(cached.bf16[i]);
  }
  return cached;
}

std::vector<float> random_activations(int64_t n_tokens, int64_t cols) {
  FastRandom random(uint64_t(n_tokens * 104729 + cols));
  std::vector<float> x(size_t(n_tokens * cols));
  for (float& v : x) v = random.next();
  return x;
}

ThreadPool& brasa_pool(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& pool = pools[threads];
  if (!pool) pool = std::make_unique<ThreadPool>(threads);
  return *pool;
}

// y = x * w^T with w stored [rows][cols]: the layout of a checkpoint weight.
void openblas_matmul(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n_tokens, float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n_tokens), int(rows), int(cols), 1.0f, x, int(cols), w,
              int(cols), 0.0f, y, int(rows));
}

std::vector<float> reference_output(const ShapeWeights& w, const std::vector<float>& x, int64_t n_tokens) {
  openblas_set_num_threads(2);
  std::vector<float> y(size_t(n_tokens * w.rows));
  openblas_matmul(w.f32.data(), w.rows, w.cols, x.data(), n_tokens, y.data());
  return y;
}

double max_relative_error(const std::vector<float>& y, const std::vector<float>& reference) {
  double max_error = 0.0;
  double max_value = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    max_error = std::max(max_error, double(std::fabs(y[i] - reference[i])));
    max_value = std::max(max_value, double(std::fabs(reference[i])));
  }
  return max_value > 0.0 ? max_error / max_value : max_error;
}

// Debian's oneDNN 2.6.3 picks its AMX kernels (brg:avx512_core_amx_bf16) for
// BF16 without any ISA setting, so the engine needs no configuration.
dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One oneDNN matmul with its weights reordered once into the layout oneDNN
// prefers, as an engine would do at load time. Each call converts the F32
// activations to the weight type (a reorder, timed) and then multiplies.
class OneDnnMatmul {
 public:
  OneDnnMatmul(const ShapeWeights& w, DType dtype, int64_t n_tokens)
      : engine_(dnnl_engine()), stream_(engine_) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dt type = dtype == DType::BF16 ? dt::bf16 : dt::f32;
    const dnnl::memory::dims x_dims = {n_tokens, w.cols};
    const dnnl::memory::dims w_dims = {w.cols, w.rows};
    const dnnl::memory::dims y_dims = {n_tokens, w.rows};

    x_f32_ = dnnl::memory({x_dims, dt::f32, tag::ab}, engine_);
    y_ = dnnl::memory({y_dims, dt::f32, tag::ab}, engine_);
    const dnnl::memory::desc x_desc(x_dims, type, tag::ab);
    const dnnl::matmul::desc desc(x_desc, dnnl::memory::desc(w_dims, type, tag::any), y_.get_desc());
    const dnnl::matmul::primitive_desc pd(desc, engine_);
    matmul_ = dnnl::matmul(pd);
    implementation_ = pd.impl_info_str();

    // Tag ba over dims {cols, rows} puts element (c, r) at r * cols + c, which
    // is the checkpoint's [rows][cols] layout.
    void* w_data = dtype == DType::BF16 ? static_cast<void*>(const_cast<uint16_t*>(w.bf16.data()))
                                        : static_cast<void*>(const_cast<float*>(w.f32.data()));
    dnnl::memory w_plain({w_dims, type, tag::ba}, engine_, w_data);
    w_packed_ = dnnl::memory(pd.weights_desc(), engine_);
    dnnl::reorder(w_plain, w_packed_).execute(stream_, w_plain, w_packed_);

    if (type != dt::f32) {
      x_converted_ = dnnl::memory(x_desc, engine_);
      convert_x_ = dnnl::reorder(x_f32_, x_converted_);
    }
    stream_.wait();
  }

  void run(const float* x, float* y) {
    x_f32_.set_data_handle(const_cast<float*>(x));
    y_.set_data_handle(y);
    dnnl::memory& x_input = x_converted_ ? x_converted_ : x_f32_;
    if (x_converted_) convert_x_.execute(stream_, x_f32_, x_converted_);
    matmul_.execute(stream_, {{DNNL_ARG_SRC, x_input}, {DNNL_ARG_WEIGHTS, w_packed_}, {DNNL_ARG_DST, y_}});
    stream_.wait();
  }

  const std::string& implementation() const { return implementation_; }

 private:
  dnnl::engine& engine_;
  dnnl::stream stream_;
  dnnl::memory x_f32_;
  dnnl::memory x_converted_;
  dnnl::memory w_packed_;
  dnnl::memory y_;
  dnnl::reorder convert_x_;
  dnnl::matmul matmul_;
  std::string implementation_;
};

const char* library_name(Library library) {
  switch (library) {
    case Library::Brasa: return "brasa";
    case Library::OpenBlas: return "openblas";
    case Library::OneDnn: return "onednn";
  }
  return "?";
}

// Args: library, dtype (F32 or BF16), rows, cols, n_tokens, threads.
void BM_Gemm(benchmark::State& state) {
  const auto library = Library(state.range(0));
  const auto dtype = DType(state.range(1));
  const int64_t rows = state.range(2);
  const int64_t cols = state.range(3);
  const int64_t n_tokens = state.range(4);
  const int threads = int(state.range(5));

  const ShapeWeights& w = weights_for(rows, cols);
  const std::vector<float> x = random_activations(n_tokens, cols);
  const std::vector<float> reference = reference_output(w, x, n_tokens);
  std::vector<float> y(reference.size());
  std::string label = std::string(library_name(library)) + " " + dtype_name(dtype);

  // Each library gets the thread count and a call that runs one product.
  std::function<void()> run;
  std::unique_ptr<OneDnnMatmul> onednn;
  const Weight weight =
      make_weight(dtype, rows, cols, dtype == DType::BF16 ? static_cast<const void*>(w.bf16.data()) : w.f32.data());
  switch (library) {
    case Library::Brasa: {
      const CpuKernels& kernels = best_cpu_kernels();
      ThreadPool& pool = brasa_pool(threads);
      label += std::string(" ") + kernels.isa;
      run = [&kernels, &pool, &weight, &x, &y, n_tokens] {
        kernels.matmul(weight, x.data(), n_tokens, y.data(), pool);
      };
      break;
    }
    case Library::OpenBlas:
      openblas_set_num_threads(threads);
      label += std::string(" ") + openblas_get_corename();
      run = [&w, &x, &y, n_tokens] { openblas_matmul(w.f32.data(), w.rows, w.cols, x.data(), n_tokens, y.data()); };
      break;
    case Library::OneDnn:
      omp_set_num_threads(threads);
      onednn = std::make_unique<OneDnnMatmul>(w, dtype, n_tokens);
      label += " " + onednn->implementation();
      run = [&onednn, &x, &y] { onednn->run(x.data(), y.data()); };
      break;
  }

  run();
  const double error = max_relative_error(y, reference);
  if (error > kMaxRelativeError) {
    state.SkipWithError(("result differs from OpenBLAS sgemm: max error " + std::to_string(error) +
                         " of the largest output")
                            .c_str());
    return;
  }

  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(label);
  state.counters["max_rel_error"] = error;
  state.counters["FLOPS"] = benchmark::Counter(2.0 * double(rows * cols * n_tokens) * double(state.iterations()),
                                               benchmark::Counter::kIsRate);
  state.counters["weight_bytes_per_second"] =
      benchmark::Counter(double(rows) * double(dtype_row_bytes(dtype, cols)) * double(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void add_cases(benchmark::internal::Benchmark* b, int64_t rows, int64_t cols, std::vector<int64_t> token_counts) {
  for (int64_t n_tokens : token_counts) {
    for (int64_t threads : {1, 2}) {
      for (DType dtype : {DType::F32, DType::BF16}) {
        for (Library library : {Library::Brasa, Library::OpenBlas, Library::OneDnn}) {
          // This OpenBLAS (Debian 0.3.21) is built without its BF16 sbgemm.
          if (library == Library::OpenBlas && dtype != DType::F32) continue;
          b->Args({int64_t(library), int64_t(dtype), rows, cols, n_tokens, threads});
        }
      }
    }
  }
}

// Prefill of 128 and 512 tokens runs the attention projections, the shared
// expert and the routed experts (top-1 of 16, so about 8 and 32 tokens each)
// at hidden x expert FFN. Decode runs batches of 1, 8 and 32 tokens through the
// same products and through the lm head.
void bench_moe_shapes(benchmark::internal::Benchmark* b) {
  add_cases(b, kExpertFfn, kHidden, {1, 8, 32, 128, 512});
  add_cases(b, kKvProjection, kHidden, {128, 512});
  add_cases(b, kVocab, kHidden, {1, 8, 32});
}
BENCHMARK(BM_Gemm)->Apply(bench_moe_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace brasa
