#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/reference_kernels.h"

namespace brasa {

namespace {

// Element-wise calls smaller than this run on the calling thread, because
// waking the pool costs more than the work.
constexpr int64_t kMinParallelElements = 1 << 14;

class CpuBackend final : public Backend {
 public:
  CpuBackend(ThreadPool& pool, const CpuKernels& kernels) : pool_(pool), kernels_(kernels) {}

  std::string name() const override { return std::string("cpu-") + kernels_.isa; }

  void matmul(const Weight& w, const float* x, int64_t n_tokens, float* y) override {
    if (n_tokens <= 0 || w.rows <= 0) return;
    kernels_.matmul(w, x, n_tokens, y, pool_);
  }

  void embed(const Weight& table, const int32_t* ids, int64_t n_tokens, float* out) override {
    for (int64_t t = 0; t < n_tokens; ++t) {
      if (ids[t] < 0 || ids[t] >= table.rows) {
        throw Error("embed: token id " + std::to_string(ids[t]) + " is outside the vocabulary of size " +
                    std::to_string(table.rows));
      }
    }
    pool_.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) reference::dequantize_row(table, ids[t], out + t * table.cols);
    });
  }

  void rms_norm(const float* x, const Weight* weight, int64_t n_rows, int64_t dim, float eps, float* out) override {
    std::vector<float> scale;
    if (weight != nullptr) {
      BRASA_CHECK(weight->rows * weight->cols == dim, "rms_norm: weight size differs from dim");
      // A norm weight is one vector, so read it as a single row of dim values.
      Weight vector = *weight;
      vector.rows = 1;
      vector.cols = dim;
      scale.resize(size_t(dim));
      reference::dequantize_row(vector, 0, scale.data());
    }
    const float* scale_data = weight != nullptr ? scale.data() : nullptr;
    auto run_rows = [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) kernels_.rms_norm_row(x + r * dim, scale_data, dim, eps, out + r * dim);
    };
    if (n_rows * dim < kMinParallelElements) {
      run_rows(0, n_rows);
    } else {
      pool_.parallel_for(n_rows, run_rows);
    }
  }

  void rope(float* x, const int32_t* positions, int64_t n_tokens, int32_t n_heads, int32_t head_dim,
            const float* inv_freq, RopeStyle style) override {
    // The angles depend only on the position, so each token computes its
    // cos and sin table once and rotates every head with it.
    auto run_tokens = [&](int64_t begin, int64_t end) {
      std::vector<float> cos_table(size_t(head_dim / 2));
      std::vector<float> sin_table(size_t(head_dim / 2));
      for (int64_t t = begin; t < end; ++t) {
        reference::rope_angles(positions[t], head_dim, inv_freq, cos_table.data(), sin_table.data());
        for (int32_t h = 0; h < n_heads; ++h) {
          reference::rope_rotate(x + (t * n_heads + h) * head_dim, head_dim, cos_table.data(), sin_table.data(), style);
        }
      }
    };
    if (n_tokens * n_heads * head_dim < kMinParallelElements) {
      run_tokens(0, n_tokens);
    } else {
      pool_.parallel_for(n_tokens, run_tokens);
    }
  }

  void swiglu(const float* gate, const float* up, int64_t n, float* out) override {
    run_elementwise(n, [&](int64_t begin, int64_t end) {
      kernels_.swiglu(gate + begin, up + begin, end - begin, out + begin);
    });
  }

  void add(float* x, const float* y, int64_t n) override {
    run_elementwise(n, [&](int64_t begin, int64_t end) { kernels_.add(x + begin, y + begin, end - begin); });
  }

  void store_kv(const KvPool& pool, int32_t layer, const float* k, const float* v, const int32_t* slots,
                int64_t n_tokens) override {
    BRASA_CHECK(layer >= 0 && layer < pool.n_layers, "store_kv: layer outside the KV pool");
    reference::store_kv(pool, layer, k, v, slots, 0, n_tokens);
  }

  void attention(const AttentionArgs& args) override { kernels_.attention(args, pool_); }

 private:
  template <typename Fn>
  void run_elementwise(int64_t n, const Fn& fn) {
    if (n < kMinParallelElements) {
      fn(0, n);
      return;
    }
    pool_.parallel_for(n, fn);
  }

  ThreadPool& pool_;
  const CpuKernels& kernels_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool) {
  return std::make_unique<CpuBackend>(pool, best_cpu_kernels());
}

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool, const std::string& isa) {
  std::string supported;
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    if (isa == kernels->isa) return std::make_unique<CpuBackend>(pool, *kernels);
    supported += supported.empty() ? kernels->isa : std::string(", ") + kernels->isa;
  }
  // Every kernel set brasa has, so that a typo reads differently from a set this CPU lacks.
  static const char* const kKnown[] = {"scalar", "avx2", "avx512", "avx512-vbmi", "amx"};
  const bool known = std::find(std::begin(kKnown), std::end(kKnown), isa) != std::end(kKnown);
  if (!known) throw Error("unknown kernel set '" + isa + "' (this CPU supports: " + supported + ")");
  throw Error("kernel set '" + isa + "' is not supported on this CPU (supported: " + supported + ")");
}

}  // namespace brasa
