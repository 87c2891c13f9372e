#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace brasa {

class ThreadPool;

// The rounding a matmul applies to its operands before multiplying. A test
// builds from it the exact product that the matmul must reproduce up to F32
// rounding.
struct MatmulRounding {
  // x replaced by high + low, with high = bf16(x) and low = bf16(x - high),
  // both rounded to nearest even: 16 significant bits.
  bool activations_to_bf16_pair = false;
  bool activations_to_int8_blocks = false;  // x replaced by dequantize_activations(x)
  bool weights_to_bf16 = false;             // dequantized weights rounded to BF16
};

// The heavy CPU kernels of one instruction set. Each entry does a whole call,
// threading included, because a fast kernel may need a shared step first (for
// example quantizing the activations once for all threads).
struct CpuKernels {
  const char* isa = "scalar";
  // The rounding that matmul applies to this weight and token count; null
  // means none, so the result matches an exact matmul up to F32 rounding.
  MatmulRounding (*matmul_rounding)(const Weight& w, int64_t n_tokens) = nullptr;
  void (*matmul)(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) = nullptr;
  void (*attention)(const AttentionArgs& args, ThreadPool& pool) = nullptr;
  void (*rms_norm_row)(const float* x, const float* weight, int64_t dim, float eps, float* out) = nullptr;
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out) = nullptr;
  void (*add)(float* x, const float* y, int64_t n) = nullptr;
};

// The portable scalar kernels, threaded with the pool.
const CpuKernels& scalar_cpu_kernels();

// The fastest kernel set this CPU supports, chosen from CPUID once. AMX counts
// only when Linux grants this process the tile data state.
const CpuKernels& best_cpu_kernels();

// Every kernel set this CPU can run, scalar first, for tests and benchmarks:
// scalar, avx2, avx512, avx512-vbmi (adds the VBMI byte lookups of FP8
// decode) and amx.
std::vector<const CpuKernels*> supported_cpu_kernels();

// The supported kernel set named isa, or null.
const CpuKernels* find_cpu_kernels(const std::string& isa);

// Whether CPUID reports AMX-INT8, with which the amx set multiplies Q8_0
// weights for 8 or more tokens.
bool cpu_has_amx_int8();

}  // namespace brasa
