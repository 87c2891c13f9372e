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
// 64-byte register that the weight decode fills.
int byte_position(DType weight_type, int h, int i) {
  if (weight_type == DType::Q8_0) return h * 32 + i;
  return i < 16 ? h * 16 + i : 32 + h * 16 + (i - 16);
}

}  // namespace

void quantize_activations(const float* x, int64_t n_tokens, int64_t cols, DType weight_type, ThreadPool& pool,
                          QuantizedActivations& out) {
  BRASA_CHECK(cols % 32 == 0, "quantize_activations: cols must be a multiple of 32");
  BRASA_CHECK(weight_type == DType::Q8_0 || weight_type == DType::Q4_0,
              "quantize_activations: weight type must be Q8_0 or Q4_0");
  const int64_t n_blocks = cols / 32;
  out.weight_type = weight_type;
  out.n_pairs = (n_blocks + 1) / 2;
  out.q.assign(size_t(n_tokens * out.n_pairs * 64), 0);
  out.bias.assign(size_t(n_tokens * out.n_pairs * 16), 0);
  out.scale.assign(size_t(n_tokens * out.n_pairs * 16), 0.0f);
  const int32_t offset = weight_type == DType::Q8_0 ? 128 : 8;

  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    int8_t block_q[32];
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float d = quantize_block(x + t * cols + b * 32, block_q);
        const int64_t pair = t * out.n_pairs + b / 2;
        const int h = int(b % 2);
        int8_t* q = out.q.data() + pair * 64;
        for (int i = 0; i < 32; ++i) {
          const int position = byte_position(weight_type, h, i);
          q[position] = block_q[i];
          out.bias[size_t(pair * 16 + position / 4)] -= offset * block_q[i];
          out.scale[size_t(pair * 16 + position / 4)] = d;
        }
      }
    }
  });
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
