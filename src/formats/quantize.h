#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace brasa {

// Conversions between F32 values and the stored weight types, one row at a time.
//
// Q8_0 and Q4_0 follow GGML's block layout (ggml-common.h, block_q8_0 and
// block_q4_0): blocks of 32 weights, each an F16 scale d followed by the quants.
// - Q8_0: d = max|x| / 127, q = round(x / d) as int8; 34 bytes a block.
// - Q4_0: m = the x of largest magnitude, with its sign; d = m / -8,
//   q = min(15, trunc(x / d + 8.5)) as 4 bits; x = (q - 8) * d. Byte j of the
//   16 holds weight j in its low nibble and weight j + 16 in its high nibble;
//   18 bytes a block.
// Both round as GGML's reference quantizers (quantize_row_q8_0_ref and
// quantize_row_q4_0_ref) do, computing x / d as x * (1 / d) in F32. On
// stories260K every Q8_0 and Q4_0 tensor came out byte-identical to the
// output of llama.cpp v0.5.0's llama-quantize; a compiler that contracts
// x * (1 / d) + 8.5 into an FMA could still differ in rare last-bit cases.

// Appends the encoding of n values (a multiple of 32 for the block types) to `out`.
// Supported targets: F32, F16, BF16, Q8_0, Q4_0. FP8 needs a row scale; use quantize_fp8_row.
void quantize_row(DType dtype, const float* values, int64_t n, std::vector<uint8_t>& out);

// Decodes n values of a row stored as `dtype` into `out`. Supported sources:
// F32, F16, BF16, F8_E4M3 (times `fp8_scale`), Q8_0, Q4_0.
void dequantize_row(DType dtype, const uint8_t* data, int64_t n, float* out, float fp8_scale = 1.0f);

void quantize_q4_0(const float* values, int64_t n, std::vector<uint8_t>& out);

// Encodes one row as FP8 E4M3 with one F32 scale: scale = max|x| / 448 (1 for an
// all-zero row), so the row's largest magnitude maps to E4M3's largest finite
// value. Returns the scale. This is the per-output-row layout of Meta's FP8
// Llama 4 checkpoints that brasa's safetensors loader reads.
float quantize_fp8_row(const float* values, int64_t n, std::vector<uint8_t>& out);

}  // namespace brasa
