#include "kernels/cpu/quantized_activations.h"

#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"

namespace brasa {

namespace {

// Quantizes one block of 32 values with scale max|x| / 127, rounding to nearest even.
float quantize_block(const float* x, int8_t* q) {
  float max_abs = 0.0f;
  for (int i = 0; i < 32; ++i) max_abs = std::fmax(max_abs, std::fabs(x[i]));
  const float d = max_abs / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < 32; ++i) q[i] = int8_t(std::nearbyint(x[i] * inverse));
  return d;
}

// Byte of element i (0..31) of pair half h (0 = block A, 1 = block B) in the
// 64-byte register that the Q4_0 nibble decode fills.
int byte_position(int h, int i) { return i < 16 ? h * 16 + i : 32 + h * 16 + (i - 16); }

}  // namespace

void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, ThreadPool& pool,
                          QuantizedActivations& out) {
  BRASA_CHECK(cols % 32 == 0, "quantize_activations: cols must be a multiple of 32");
  const int64_t n_blocks = cols / 32;
  out.n_pairs = (n_blocks + 1) / 2;
  out.q.assign(size_t(n_tokens * out.n_pairs * 64), 0);
  out.bias.assign(size_t(n_tokens * out.n_pairs * 16), 0);
  out.scale.assign(size_t(n_tokens * out.n_pairs * 16), 0.0f);
  const int32_t offset = 8;

  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    int8_t block_q[32];
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float d = quantize_block(x + t * cols + b * 32, block_q);
        const int64_t pair = t * out.n_pairs + b / 2;
        const int h = int(b % 2);
        int8_t* q = out.q.data() + pair * 64;
        for (int i = 0; i < 32; ++i) {
          const int position = byte_position(h, i);
          q[position] = block_q[i];
          out.bias[size_t(pair * 16 + position / 4)] -= offset * block_q[i];
          out.scale[size_t(pair * 16 + position / 4)] = d;
        }
      }
    }
  });
}

void quantize_blocks_portable(const float* x, int64_t begin, int64_t end, int8_t* q, float* scale, int32_t* offset) {
  for (int64_t block = begin; block < end; ++block) {
    int8_t* block_q = q + block * 32;
    scale[block] = quantize_block(x + block * 32, block_q);
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) sum += block_q[i];
    offset[block] = -128 * sum;
  }
}

void quantize_activation_blocks(const float* x, int64_t n_tokens, int64_t cols, ThreadPool& pool,
                                BlockQuantizedActivations& out, BlockQuantizer quantizer) {
  BRASA_CHECK(cols % 32 == 0, "quantize_activation_blocks: cols must be a multiple of 32");
  out.n_tokens = n_tokens;
  out.n_blocks = cols / 32;
  out.q.resize(size_t(n_tokens * cols));
  out.scale.resize(size_t(n_tokens * out.n_blocks));
  out.offset.resize(size_t(n_tokens * out.n_blocks));
  if (quantizer == nullptr) quantizer = quantize_blocks_portable;

  const int64_t n_blocks = n_tokens * out.n_blocks;
  if (n_blocks <= 256) {
    // A decode step: waking the pool costs more than the work.
    quantizer(x, 0, n_blocks, out.q.data(), out.scale.data(), out.offset.data());
    return;
  }
  pool.parallel_for(n_blocks, [&](int64_t begin, int64_t end) {
    quantizer(x, begin, end, out.q.data(), out.scale.data(), out.offset.data());
  });
}

BlockQuantizedActivations& thread_block_quantized_activations() {
  thread_local BlockQuantizedActivations buffer;
  return buffer;
}

QuantizedActivations& thread_quantized_activations() {
  thread_local QuantizedActivations buffer;
  return buffer;
}

std::vector<float> dequantize_activations(const float* x, int64_t n_tokens, int64_t cols) {
  std::vector<float> out(size_t(n_tokens * cols));
  int8_t q[32];
  for (int64_t b = 0; b < n_tokens * cols / 32; ++b) {
    const float d = quantize_block(x + b * 32, q);
    for (int i = 0; i < 32; ++i) out[size_t(b * 32 + i)] = d * float(q[i]);
  }
  return out;
}

}  // namespace brasa
