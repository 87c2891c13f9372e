#pragma once

#include <cstdint>
#include <vector>

#include "kernels/backend.h"

namespace brasa {

class ThreadPool;

// The heavy CPU kernels of one instruction set. Each entry does a whole call,
// threading included, because a fast kernel may need a shared step first (for
// example quantizing the activations once for all threads).
struct CpuKernels {
  const char* isa = "scalar";
  // Whether matmul quantizes the activations for Q8_0 and Q4_0 weights, so its
  // result matches an exact matmul with dequantize_activations(x), not with x.
  bool quantizes_activations = false;
  void (*matmul)(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) = nullptr;
  void (*attention)(const AttentionArgs& args, ThreadPool& pool) = nullptr;
  void (*rms_norm_row)(const float* x, const float* weight, int64_t dim, float eps, float* out) = nullptr;
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out) = nullptr;
  void (*add)(float* x, const float* y, int64_t n) = nullptr;
};

// The portable scalar kernels, threaded with the pool.
const CpuKernels& scalar_cpu_kernels();

// The fastest kernel set this CPU supports, chosen from CPUID once.
const CpuKernels& best_cpu_kernels();

// Every kernel set this CPU can run, scalar first, for tests and benchmarks.
std::vector<const CpuKernels*> supported_cpu_kernels();

}  // namespace brasa
