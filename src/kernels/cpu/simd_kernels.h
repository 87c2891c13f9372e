#pragma once

#include <cstdint>

#include "kernels/backend.h"

// Entry points of the SIMD kernel files. Each *_avx2.cpp and *_avx512.cpp file is
// compiled with its instruction set's flags, so call these only after CPUID
// reports that set (best_cpu_kernels does).
namespace brasa {

class ThreadPool;

// Q8_0 and Q4_0 weights go through matmul_q8_vnni_avx512, the rest through
// matmul_avx512_float_decode.
void matmul_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// Decodes every weight type to F32 in registers; exact up to F32 rounding.
void matmul_avx512_float_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// Q8_0 and Q4_0 only: quantizes the activations to int8 blocks of 32 and uses
// VNNI int8 dot products, as llama.cpp does. The result equals an exact matmul
// with dequantize_activations(x) up to F32 rounding.
void matmul_q8_vnni_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void attention_avx512(const AttentionArgs& args, ThreadPool& pool);
void rms_norm_row_avx512(const float* x, const float* weight, int64_t dim, float eps, float* out);
void swiglu_avx512(const float* gate, const float* up, int64_t n, float* out);
void add_avx512(float* x, const float* y, int64_t n);

void matmul_avx2(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void attention_avx2(const AttentionArgs& args, ThreadPool& pool);
void rms_norm_row_avx2(const float* x, const float* weight, int64_t dim, float eps, float* out);
void swiglu_avx2(const float* gate, const float* up, int64_t n, float* out);
void add_avx2(float* x, const float* y, int64_t n);

// Runs `iterations` rounds of independent FMAs (16 x 16 lanes for AVX-512,
// 12 x 8 lanes for AVX2) and returns a sum of the results.
float fma_loop_avx512(int64_t iterations);
float fma_loop_avx2(int64_t iterations);

}  // namespace brasa
