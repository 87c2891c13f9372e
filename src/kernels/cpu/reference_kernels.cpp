#include "kernels/cpu/reference_kernels.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace brasa::reference {

namespace {

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

void dequantize_row(const Weight& w, int64_t r, float* out) {
  const uint8_t* row = w.row(r);
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, row, size_t(w.cols) * sizeof(float));
      return;

    case DType::F16:
      for (int64_t c = 0; c < w.cols; ++c) out[c] = f16_to_f32(load_u16(row + 2 * c));
      return;

    case DType::BF16:
      for (int64_t c = 0; c < w.cols; ++c) out[c] = bf16_to_f32(load_u16(row + 2 * c));
      return;

    case DType::F8_E4M3: {
      // A missing row_scale means the checkpoint stored unscaled FP8 values.
      const float scale = w.row_scale != nullptr ? w.row_scale[r] : 1.0f;
      const float* table = fp8_e4m3_table();
      for (int64_t c = 0; c < w.cols; ++c) out[c] = table[row[c]] * scale;
      return;
    }

    case DType::Q8_0:
      // Block of 32: F16 scale d, then 32 int8 q; value = d * q.
      for (int64_t b = 0; b < w.cols / kQuantBlock; ++b) {
        const uint8_t* block = row + b * 34;
        const float d = f16_to_f32(load_u16(block));
        const auto* q = reinterpret_cast<const int8_t*>(block + 2);
        for (int i = 0; i < 32; ++i) out[b * 32 + i] = d * float(q[i]);
      }
      return;

    case DType::Q4_0:
      // Block of 32: F16 scale d, then 16 bytes; the low nibble of byte i is
      // weight i, the high nibble weight i + 16; value = d * (nibble - 8).
      for (int64_t b = 0; b < w.cols / kQuantBlock; ++b) {
        const uint8_t* block = row + b * 18;
        const float d = f16_to_f32(load_u16(block));
        for (int i = 0; i < 16; ++i) {
          out[b * 32 + i] = d * float(int(block[2 + i] & 0x0f) - 8);
          out[b * 32 + i + 16] = d * float(int(block[2 + i] >> 4) - 8);
        }
      }
      return;

    default:
      throw_unsupported_weight("matmul", w.dtype);
  }
}

void throw_unsupported_weight(const char* op, DType dtype) {
  throw Error(std::string(op) + ": unsupported weight type " + dtype_name(dtype) +
              "; expected F32, F16, BF16, F8_E4M3, Q8_0 or Q4_0");
}

void matmul_rows(const Weight& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin, int64_t row_end) {
  std::vector<float> row(size_t(w.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.cols;
      double sum = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) sum += double(row[c]) * double(xt[c]);
      y[t * w.rows + r] = float(sum);
    }
  }
}

// Rounds where ggml does: each square to F32, the sum in double, the mean
// and 1/sqrt to F32, then x * inv_rms and the weight product to F32 one at
// a time. With an F16 KV cache a one-ulp change here flips later F16
// roundings, so this order is what lets our logits match llama.cpp's.
void rms_norm_row(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  double sum_squares = 0.0;
  for (int64_t i = 0; i < dim; ++i) sum_squares += double(x[i] * x[i]);
  const float mean_square = float(sum_squares / double(dim));
  const float inv_rms = 1.0f / std::sqrt(mean_square + eps);
  for (int64_t i = 0; i < dim; ++i) {
    const float scaled = x[i] * inv_rms;
    out[i] = weight != nullptr ? scaled * weight[i] : scaled;
  }
}

void rope_head(float* head, int32_t position, int32_t head_dim, const float* inv_freq, RopeStyle style) {
  const int32_t half = head_dim / 2;
  for (int32_t i = 0; i < half; ++i) {
    const double angle = double(position) * double(inv_freq[i]);
    const double cos_a = std::cos(angle);
    const double sin_a = std::sin(angle);
    float* a = style == RopeStyle::Interleaved ? head + 2 * i : head + i;
    float* b = style == RopeStyle::Interleaved ? head + 2 * i + 1 : head + i + half;
    const double x0 = *a;
    const double x1 = *b;
    *a = float(x0 * cos_a - x1 * sin_a);
    *b = float(x0 * sin_a + x1 * cos_a);
  }
}

void rope_angles(int32_t position, int32_t head_dim, const float* inv_freq, float* cos_table, float* sin_table) {
  for (int32_t i = 0; i < head_dim / 2; ++i) {
    const double angle = double(position) * double(inv_freq[i]);
    cos_table[i] = float(std::cos(angle));
    sin_table[i] = float(std::sin(angle));
  }
}

void rope_rotate(float* head, int32_t head_dim, const float* cos_table, const float* sin_table, RopeStyle style) {
  const int32_t half = head_dim / 2;
  for (int32_t i = 0; i < half; ++i) {
    float* a = style == RopeStyle::Interleaved ? head + 2 * i : head + i;
    float* b = style == RopeStyle::Interleaved ? head + 2 * i + 1 : head + i + half;
    const float x0 = *a;
    const float x1 = *b;
    *a = x0 * cos_table[i] - x1 * sin_table[i];
    *b = x0 * sin_table[i] + x1 * cos_table[i];
  }
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = float(g / (1.0 + std::exp(-g)) * double(up[i]));
  }
}

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void store_kv(const KvPool& pool, int32_t layer, const float* k, const float* v, const int32_t* slots,
              int64_t token_begin, int64_t token_end) {
  const bool f16 = pool.dtype == DType::F16;
  for (int64_t t = token_begin; t < token_end; ++t) {
    const int32_t slot = slots[t];
    BRASA_CHECK(slot >= 0 && slot < pool.n_blocks * pool.block_size, "store_kv: slot outside the KV pool");
    const int32_t block = slot / pool.block_size;
    const int32_t offset = slot % pool.block_size;
    for (int32_t h = 0; h < pool.n_kv_heads; ++h) {
      const size_t source = (size_t(t) * pool.n_kv_heads + h) * pool.head_dim;
      const size_t target = h * pool.head_stride() + size_t(offset) * pool.head_dim;
      if (f16) {
        // Round to nearest even, as F16C's vcvtps2ph and llama.cpp's F16 cache do.
        uint16_t* key = pool.keys_f16(block, layer) + target;
        uint16_t* value = pool.values_f16(block, layer) + target;
        for (int32_t i = 0; i < pool.head_dim; ++i) {
          key[i] = f32_to_f16(k[source + size_t(i)]);
          value[i] = f32_to_f16(v[source + size_t(i)]);
        }
      } else {
        const size_t head_bytes = size_t(pool.head_dim) * sizeof(float);
        std::memcpy(pool.keys(block, layer) + target, k + source, head_bytes);
        std::memcpy(pool.values(block, layer) + target, v + source, head_bytes);
      }
    }
  }
}

void validate_attention(const AttentionArgs& args) {
  BRASA_CHECK(args.pool != nullptr && args.q != nullptr && args.out != nullptr, "attention: null argument");
  BRASA_CHECK(args.n_kv_heads > 0 && args.n_heads % args.n_kv_heads == 0,
              "attention: n_heads must be a multiple of n_kv_heads");
  BRASA_CHECK(args.n_kv_heads == args.pool->n_kv_heads && args.head_dim == args.pool->head_dim,
              "attention: head shape differs from the KV pool's");
  BRASA_CHECK(args.layer >= 0 && args.layer < args.pool->n_layers, "attention: layer outside the KV pool");
  BRASA_CHECK(args.pool->dtype == DType::F32 || args.pool->dtype == DType::F16,
              "attention: the KV pool must store F32 or F16");
  for (const AttentionSequence& s : args.sequences) {
    const int64_t last = int64_t(s.start_pos) + s.n_tokens - 1;
    BRASA_CHECK(s.n_tokens == 0 || last / args.pool->block_size < s.n_blocks,
                "attention: block table shorter than the sequence");
  }
}

namespace {

float round_to_f16(float x) { return f16_to_f32(f32_to_f16(x)); }

// The F16 KV path of attention_row, in F32 arithmetic like llama.cpp's
// ggml_compute_forward_flash_attn_ext_f16_one_chunk (ggml 0.25.1, llama.cpp
// v0.5.0). q is rounded to F16 for the q.k product. Keys are visited in
// position order with one online-softmax update each. The output accumulator
// is kept in F16, so it is rounded after every rescale and every added value row.
// NOTE: llama.cpp runs this path for batches of 2 to 63 query rows, and for
// single-row decode over fewer than 512 KV cells. From 64 rows it uses a tiled
// path with F32 queries and an F32 accumulator, and longer decodes split the
// keys into one chunk per thread, merged in F32. brasa keeps this arithmetic
// for every batch, so its output does not depend on how a prompt is chunked.
void attention_row_f16(const AttentionArgs& args, const AttentionSequence& sequence, int32_t position, int32_t first,
                       int32_t kv_head, const float* q, float* out) {
  const KvPool& pool = *args.pool;
  const int32_t head_dim = args.head_dim;
  std::vector<float> q16(static_cast<size_t>(head_dim));
  for (int32_t i = 0; i < head_dim; ++i) q16[size_t(i)] = round_to_f16(q[i]);

  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  std::vector<float> accumulator(static_cast<size_t>(head_dim), 0.0f);
  for (int32_t p = first; p <= position; ++p) {
    const int32_t block = sequence.block_table[p / pool.block_size];
    const size_t offset = kv_head * pool.head_stride() + size_t(p % pool.block_size) * head_dim;
    const uint16_t* k = pool.keys_f16(block, args.layer) + offset;
    const uint16_t* v = pool.values_f16(block, args.layer) + offset;

    // Each product of two F16 values is exact in F32 and in double.
    double dot = 0.0;
    for (int32_t i = 0; i < head_dim; ++i) dot += double(q16[size_t(i)]) * double(f16_to_f32(k[i]));
    const float score = float(dot) * args.scale;

    float correction = 1.0f;
    float weight = 1.0f;
    if (score > running_max) {
      correction = std::exp(running_max - score);
      running_max = score;
      for (float& a : accumulator) a = round_to_f16(a * correction);
    } else {
      weight = std::exp(score - running_max);
    }
    for (int32_t i = 0; i < head_dim; ++i) {
      accumulator[size_t(i)] = round_to_f16(accumulator[size_t(i)] + f16_to_f32(v[i]) * weight);
    }
    running_sum = running_sum * correction + weight;
  }

  const float inv_sum = 1.0f / running_sum;
  for (int32_t i = 0; i < head_dim; ++i) out[i] = accumulator[size_t(i)] * inv_sum;
}

}  // namespace

void attention_row(const AttentionArgs& args, const AttentionSequence& sequence, int32_t token, int32_t head) {
  const KvPool& pool = *args.pool;
  const int32_t head_dim = args.head_dim;
  const int32_t kv_head = head / (args.n_heads / args.n_kv_heads);
  const int64_t row = (sequence.token_offset + token) * args.n_heads + head;
  const float* q = args.q + row * head_dim;
  float* out = args.out + row * head_dim;

  const int32_t position = sequence.start_pos + token;
  const int32_t first = args.chunk_size > 0 ? position - position % args.chunk_size : 0;
  if (pool.dtype == DType::F16) {
    attention_row_f16(args, sequence, position, first, kv_head, q, out);
    return;
  }

  // Online softmax: keep the running max score, the sum of exp(score - max) and
  // the weighted sum of values, rescaling both whenever the max grows.
  double running_max = -std::numeric_limits<double>::infinity();
  double running_sum = 0.0;
  std::vector<double> accumulator(size_t(head_dim), 0.0);
  for (int32_t p = first; p <= position; ++p) {
    const int32_t block = sequence.block_table[p / pool.block_size];
    const size_t offset = kv_head * pool.head_stride() + size_t(p % pool.block_size) * head_dim;
    const float* k = pool.keys(block, args.layer) + offset;
    const float* v = pool.values(block, args.layer) + offset;

    double score = 0.0;
    for (int32_t i = 0; i < head_dim; ++i) score += double(q[i]) * double(k[i]);
    score *= double(args.scale);

    if (score > running_max) {
      const double correction = std::exp(running_max - score);
      running_sum *= correction;
      for (double& a : accumulator) a *= correction;
      running_max = score;
    }
    const double weight = std::exp(score - running_max);
    running_sum += weight;
    for (int32_t i = 0; i < head_dim; ++i) accumulator[i] += weight * double(v[i]);
  }

  for (int32_t i = 0; i < head_dim; ++i) out[i] = float(accumulator[i] / running_sum);
}

}  // namespace brasa::reference
