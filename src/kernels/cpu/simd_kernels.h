#pragma once

#include <cstdint>

#include "kernels/backend.h"

// Entry points of the SIMD kernel files. Each *_avx2.cpp and *_avx512.cpp file is
// compiled with its instruction set's flags, so call these only after CPUID
// reports that set (best_cpu_kernels does).
namespace brasa {

class ThreadPool;

void matmul_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void attention_avx512(const AttentionArgs& args, ThreadPool& pool);
void rms_norm_row_avx512(const float* x, const float* weight, int64_t dim, float eps, float* out);
void swiglu_avx512(const float* gate, const float* up, int64_t n, float* out);
void add_avx512(float* x, const float* y, int64_t n);

void matmul_avx2(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void attention_avx2(const AttentionArgs& args, ThreadPool& pool);
void rms_norm_row_avx2(const float* x, const float* weight, int64_t dim, float eps, float* out);
void swiglu_avx2(const float* gate, const float* up, int64_t n, float* out);
void add_avx2(float* x, const float* y, int64_t n);

}  // namespace brasa
