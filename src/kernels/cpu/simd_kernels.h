#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backend.h"

// Entry points of the SIMD kernel files. Each *_avx2.cpp and *_avx512.cpp file is
// compiled with its instruction set's flags, so call these only after CPUID
// reports that set (best_cpu_kernels does).
namespace brasa {

class ThreadPool;

// Q8_0 weights go through matmul_q8_0_avx512, Q4_0 through
// matmul_q4_0_avx512, the rest through matmul_avx512_float_decode.
void matmul_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// Decodes every weight type to F32 in registers; exact up to F32 rounding.
void matmul_avx512_float_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// Q4_0 only: quantizes the activations to int8 blocks of 32 and uses VNNI
// int8 dot products, as llama.cpp does. The result equals an exact matmul
// with dequantize_activations(x) up to F32 rounding.
void matmul_q4_0_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// Q8_0 only: quantizes the activations as matmul_q4_0_avx512 does and sums
// each block in int32 before scaling it. matmul_q8_0_amx gives the same bits
// with AMX-INT8 tiles. Call that one only in a process granted AMX tile data
// and where cpu_has_amx_int8().
void matmul_q8_0_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void matmul_q8_0_amx(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// A BlockQuantizer with the same bits as the portable one, 16 values per step.
void quantize_blocks_avx512(const float* x, int64_t begin, int64_t end, int8_t* q, float* scale, int32_t* offset);
// BF16 and F8_E4M3 only: splits each activation into two BF16 parts, or for
// F8_E4M3 with split_activations false rounds it to one, and multiplies with
// vdpbf16ps. E4M3 converts to BF16 exactly. Needs AVX512-VBMI as well.
// No kernel set calls it, because it measured slower than the F32 paths
// (kernel_dispatch.cpp); tests and kernels_bench still run it.
void matmul_bf16_dot_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
                            bool split_activations = true);
// F8_E4M3 only: converts weights to F32 in registers through BF16 and
// multiplies exact F32 activations with FMA. Needs AVX512-VBMI as well.
void matmul_fp8_fma_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// AMX BF16 tiles for the weight types amx_matmul_supports: activations are
// split into two BF16 parts, and weights are rounded to BF16 (exact for BF16
// and E4M3 weights). Call only in
// a process that has been granted AMX tile data and on a CPU with AVX512-VBMI.
bool amx_matmul_supports(DType dtype);
void matmul_amx(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
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
// The same with vdpbf16ps (2 multiply-adds per F32 lane), and with tdpbf16ps
// on four 16 x 16 accumulator tiles (16 x 16 x 32 multiply-adds each).
float bf16_dot_loop_avx512(int64_t iterations);
float amx_bf16_loop(int64_t iterations);
// The same with tdpbssd on int8 tiles (16 x 16 x 64 multiply-adds each). Call
// only where CPUID reports AMX-INT8.
float amx_int8_loop(int64_t iterations);
float fma_loop_avx2(int64_t iterations);

// Reads `bytes` (a multiple of 256) from 64-byte aligned `data` with AVX-512
// loads and returns a sum of them, so the reads cannot be dropped.
uint64_t read_loop_avx512(const uint8_t* data, size_t bytes);

}  // namespace brasa
