#pragma once

#include <cstdint>
#include <vector>


namespace brasa {

class ThreadPool;

// Activations quantized to int8 in blocks of 32 (one F32 scale each, as
// llama.cpp's Q8_0), laid out for the VNNI matmul against Q4_0 weights.
// Blocks go in pairs, one pair per 512-bit register of 64 bytes:
//   q:        the 64 int8 values, in the byte order of the nibble decode
//             (A 0..15, B 0..15, A 16..31, B 16..31);
//   bias:     per 32-bit lane, -8 * (sum of the lane's 4 values), because the
//             nibbles store w + 8. An unsigned-by-signed dot product started
//             from bias then equals the signed dot product.
//   scale:    per 32-bit lane, the F32 scale of the block that lane belongs to.
// A row with an odd number of blocks ends with a half-empty pair of zeros.
struct QuantizedActivations {
  int64_t n_pairs = 0;  // per token
  std::vector<int8_t> q;        // [n_tokens][n_pairs][64]
  std::vector<int32_t> bias;    // [n_tokens][n_pairs][16]
  std::vector<float> scale;     // [n_tokens][n_pairs][16]
};

// Activations quantized to int8 in blocks of 32 as quantize_activations does,
// laid out for the Q8_0 kernels that sum each block in int32 before scaling
// it (matmul_q8_0_avx512.cpp and matmul_q8_0_amx_avx512.cpp):
//   q:      [n_tokens][n_blocks * 32], each token's values in column order;
//   scale:  [n_tokens][n_blocks], the F32 scale of each block;
//   offset: [n_tokens][n_blocks], -128 times the sum of the block's values. A
//           dot product of weights fed as w + 128 plus this offset equals the
//           signed dot product.
struct BlockQuantizedActivations {
  int64_t n_tokens = 0;
  int64_t n_blocks = 0;  // per token
  std::vector<int8_t> q;
  std::vector<float> scale;
  std::vector<int32_t> offset;
};

// Quantizes blocks [begin, end) of 32 values each, from x + 32 * begin, into
// q + 32 * begin, scale + begin and offset + begin.
using BlockQuantizer = void (*)(const float* x, int64_t begin, int64_t end, int8_t* q, float* scale, int32_t* offset);

// Quantizes x [n_tokens][cols] into out; cols must be a multiple of 32. The
// values and scales equal those of quantize_activations. A SIMD quantizer
// may replace the portable one if it gives the same bits.
void quantize_activation_blocks(const float* x, int64_t n_tokens, int64_t cols, ThreadPool& pool,
                                BlockQuantizedActivations& out, BlockQuantizer quantizer = nullptr);
BlockQuantizedActivations& thread_block_quantized_activations();

// Quantizes x [n_tokens][cols] for a matmul with Q4_0 weights; cols must be a
// multiple of 32. Tokens are split over the pool.
void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, ThreadPool& pool,
                          QuantizedActivations& out);

// A buffer per calling thread, reused across calls so decode steps do not
// allocate. It lives in portable code because the SIMD files must not
// instantiate standard-library templates (see attention_tiling.h).
QuantizedActivations& thread_quantized_activations();

// The values the quantized activations stand for, in the original order: the
// F32 input a reference matmul needs to reproduce the VNNI result exactly.
std::vector<float> dequantize_activations(const float* x, int64_t n_tokens, int64_t cols);

}  // namespace brasa
