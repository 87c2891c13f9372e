#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace brasa {

class ThreadPool;

// Activations quantized to int8 in blocks of 32 (one F32 scale each, as
// llama.cpp's Q8_0), laid out for the VNNI matmul against Q8_0 or Q4_0
// weights. Blocks go in pairs, one pair per 512-bit register of 64 bytes:
//   q:        the 64 int8 values, in the byte order of that weight type's decode
//             (Q8_0: block A then block B; Q4_0: A 0..15, B 0..15, A 16..31, B 16..31);
//   bias:     per 32-bit lane, -offset * (sum of the lane's 4 values). The
//             offset is 128 for Q8_0, whose weights are fed as w + 128, and 8 for
//             Q4_0, whose nibbles store w + 8. An unsigned-by-signed dot product
//             started from bias then equals the signed dot product.
//   scale:    per 32-bit lane, the F32 scale of the block that lane belongs to.
// A row with an odd number of blocks ends with a half-empty pair of zeros.
struct QuantizedActivations {
  DType weight_type = DType::Q8_0;
  int64_t n_pairs = 0;  // per token
  std::vector<int8_t> q;        // [n_tokens][n_pairs][64]
  std::vector<int32_t> bias;    // [n_tokens][n_pairs][16]
  std::vector<float> scale;     // [n_tokens][n_pairs][16]
};

// Quantizes x [n_tokens][cols] for a matmul with weights of type weight_type
// (Q8_0 or Q4_0); cols must be a multiple of 32. Tokens are split over the pool.
void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, DType weight_type, ThreadPool& pool,
                          QuantizedActivations& out);

// A buffer per calling thread, reused across calls so decode steps do not
// allocate. It lives in portable code because the SIMD files must not
// instantiate standard-library templates (see attention_tiling.h).
QuantizedActivations& thread_quantized_activations();

// The values the quantized activations stand for, in the original order: the
// F32 input a reference matmul needs to reproduce the VNNI result exactly.
std::vector<float> dequantize_activations(const float* x, int64_t n_tokens, int64_t cols);

}  // namespace brasa
