#pragma once

#include <cstdint>

#include "kernels/backend.h"

namespace brasa {

class ThreadPool;

// F8_E4M3 only: a matmul for decode-sized products on AMX BF16 tiles. E4M3
// weights convert to BF16 exactly, and each F32 activation is split into
// three BF16 parts whose sum is the activation itself. So the result equals
// an exact matmul up to F32 rounding of the sums, as matmul_fp8_fma_avx512
// does. It outruns that kernel from 2 tokens on and matches it at 1
// (fp8_amx_decode_avx512.cpp has the figures), so the amx set sends FP8
// products of 2 to 15 tokens here. Any n_tokens works, in passes of 16
// tokens. Call it only in a process that has been granted AMX tile data, on
// a CPU with AMX-BF16 and AVX512-VBMI (find_cpu_kernels("amx") returns a set
// only then).
void matmul_fp8_amx_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// BF16 only: the same kernel with BF16 weights, which only need rearranging
// into the A tile layout. Exact up to F32 rounding of the sums, like the F32
// FMA path. The amx set sends BF16 products of 5 to 15 tokens here. Same
// requirements as matmul_fp8_amx_decode.
void matmul_bf16_amx_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// F8_E4M3 only: reads every weight byte, converts it to BF16 with E4m3ToBf16
// unless `convert` is false, and returns an XOR of the results. kernels_bench
// times it to separate the conversion and the memory read from the multiply.
// Needs AVX512-VBMI.
uint32_t read_fp8_weight_avx512(const Weight& w, bool convert);

}  // namespace brasa
