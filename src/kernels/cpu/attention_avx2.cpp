// AVX2 paged attention: the AVX-512 design (one GQA group per call, one
// online-softmax rescale per KV block) with 8 lanes and scalar tails. An F16
// KV pool takes attention_group_f16, which rescales once per key.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/attention_tiling.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx2.h"

namespace brasa {

namespace {

// acc[i] = acc[i] * correction + sum_j weights[j] * values[j][i].
void scale_and_accumulate(float* acc, float correction, const float* weights, const float* values, int32_t n_values,
                          int32_t head_dim) {
  int32_t i = 0;
  for (; i + 8 <= head_dim; i += 8) {
    __m256 sum = _mm256_mul_ps(_mm256_loadu_ps(acc + i), _mm256_set1_ps(correction));
    for (int32_t j = 0; j < n_values; ++j) {
      sum = _mm256_fmadd_ps(_mm256_set1_ps(weights[j]), _mm256_loadu_ps(values + size_t(j) * head_dim + i), sum);
    }
    _mm256_storeu_ps(acc + i, sum);
  }
  for (; i < head_dim; ++i) {
    float sum = acc[i] * correction;
    for (int32_t j = 0; j < n_values; ++j) sum += weights[j] * values[size_t(j) * head_dim + i];
    acc[i] = sum;
  }
}

void attention_group(const AttentionArgs& args, const AttentionSequence& sequence, int32_t token, int32_t kv_head,
                     float* scratch) {
  const KvPool& pool = *args.pool;
  const int32_t head_dim = args.head_dim;
  const int32_t group = args.n_heads / args.n_kv_heads;
  const int32_t position = sequence.start_pos + token;
  const int32_t first = args.chunk_size > 0 ? position - position % args.chunk_size : 0;
  const int64_t row = (sequence.token_offset + token) * args.n_heads + int64_t(kv_head) * group;

  float* running_max = scratch;
  float* running_sum = running_max + group;
  float* acc = running_sum + group;
  float* scores = acc + size_t(group) * head_dim;
  for (int32_t g = 0; g < group; ++g) {
    running_max[g] = -std::numeric_limits<float>::infinity();
    running_sum[g] = 0.0f;
  }
  for (int64_t i = 0; i < int64_t(group) * head_dim; ++i) acc[i] = 0.0f;

  for (int32_t block_start = first - first % pool.block_size; block_start <= position; block_start += pool.block_size) {
    const int32_t block = sequence.block_table[block_start / pool.block_size];
    const int32_t begin = (first > block_start ? first : block_start) - block_start;
    const int32_t end = (position + 1 < block_start + pool.block_size ? position + 1 : block_start + pool.block_size) -
                        block_start;
    const int32_t n = end - begin;
    const size_t offset = kv_head * pool.head_stride() + size_t(begin) * head_dim;
    const float* keys = pool.keys(block, args.layer) + offset;
    const float* values = pool.values(block, args.layer) + offset;

    for (int32_t g = 0; g < group; ++g) {
      const float* q = args.q + (row + g) * head_dim;
      float block_max = -std::numeric_limits<float>::infinity();
      for (int32_t j = 0; j < n; ++j) {
        scores[j] = avx2::dot(q, keys + size_t(j) * head_dim, head_dim) * args.scale;
        block_max = block_max > scores[j] ? block_max : scores[j];
      }

      const float new_max = running_max[g] > block_max ? running_max[g] : block_max;
      const float correction = std::exp(running_max[g] - new_max);
      float block_sum = 0.0f;
      int32_t j = 0;
      for (; j + 8 <= n; j += 8) {
        const __m256 e = avx2::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(scores + j), _mm256_set1_ps(new_max)));
        _mm256_storeu_ps(scores + j, e);
        block_sum += avx2::reduce_add(e);
      }
      for (; j < n; ++j) block_sum += (scores[j] = std::exp(scores[j] - new_max));
      running_sum[g] = running_sum[g] * correction + block_sum;
      running_max[g] = new_max;
      scale_and_accumulate(acc + size_t(g) * head_dim, correction, scores, values, n, head_dim);
    }
  }

  for (int32_t g = 0; g < group; ++g) {
    float* out = args.out + (row + g) * head_dim;
    const float inv_sum = 1.0f / running_sum[g];
    for (int32_t i = 0; i < head_dim; ++i) out[i] = acc[size_t(g) * head_dim + i] * inv_sum;
  }
}

float round_to_f16(float x) { return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT)); }

__m256 round_to_f16(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

// Converts n consecutive F16 values to F32.
void widen_f16(const uint16_t* source, int64_t n, float* target) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(target + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(source + i))));
  }
  for (; i < n; ++i) target[i] = _cvtsh_ss(source[i]);
}

// acc = round_f16(round_f16(acc * correction) + value * weight), the
// rescale skipped when correction is 1.
void update_f16_accumulator(float* acc, float correction, float weight, const float* value, int32_t head_dim) {
  const bool rescale = correction != 1.0f;
  int32_t i = 0;
  for (; i + 8 <= head_dim; i += 8) {
    __m256 sum = _mm256_loadu_ps(acc + i);
    if (rescale) sum = round_to_f16(_mm256_mul_ps(sum, _mm256_set1_ps(correction)));
    sum = round_to_f16(_mm256_fmadd_ps(_mm256_loadu_ps(value + i), _mm256_set1_ps(weight), sum));
    _mm256_storeu_ps(acc + i, sum);
  }
  for (; i < head_dim; ++i) {
    const float sum = rescale ? round_to_f16(acc[i] * correction) : acc[i];
    acc[i] = round_to_f16(std::fma(value[i], weight, sum));
  }
}

// The F16 KV path, with the numerics of attention_group_f16 in
// attention_avx512.cpp (llama.cpp's CPU flash attention for F16 K and V).
void attention_group_f16(const AttentionArgs& args, const AttentionSequence& sequence, int32_t token, int32_t kv_head,
                         float* scratch) {
  const KvPool& pool = *args.pool;
  const int32_t head_dim = args.head_dim;
  const int32_t group = args.n_heads / args.n_kv_heads;
  const int32_t position = sequence.start_pos + token;
  const int32_t first = args.chunk_size > 0 ? position - position % args.chunk_size : 0;
  const int64_t row = (sequence.token_offset + token) * args.n_heads + int64_t(kv_head) * group;

  // Scratch layout: see attention_scratch_floats.
  float* running_max = scratch;
  float* running_sum = running_max + group;
  float* acc = running_sum + group;
  float* queries = acc + size_t(group) * head_dim;
  float* keys = queries + size_t(group) * head_dim;
  float* values = keys + size_t(pool.block_size) * head_dim;
  float* scores = values + size_t(pool.block_size) * head_dim;
  float* weights = scores + pool.block_size + 16;
  for (int32_t g = 0; g < group; ++g) {
    running_max[g] = -std::numeric_limits<float>::infinity();
    running_sum[g] = 0.0f;
  }
  for (int64_t i = 0; i < int64_t(group) * head_dim; ++i) {
    acc[i] = 0.0f;
    queries[i] = round_to_f16(args.q[row * head_dim + i]);
  }

  for (int32_t block_start = first - first % pool.block_size; block_start <= position; block_start += pool.block_size) {
    const int32_t block = sequence.block_table[block_start / pool.block_size];
    const int32_t begin = (first > block_start ? first : block_start) - block_start;
    const int32_t end = (position + 1 < block_start + pool.block_size ? position + 1 : block_start + pool.block_size) -
                        block_start;
    const int32_t n = end - begin;
    const size_t offset = kv_head * pool.head_stride() + size_t(begin) * head_dim;
    widen_f16(pool.keys_f16(block, args.layer) + offset, int64_t(n) * head_dim, keys);
    widen_f16(pool.values_f16(block, args.layer) + offset, int64_t(n) * head_dim, values);

    for (int32_t g = 0; g < group; ++g) {
      const float* q = queries + size_t(g) * head_dim;
      float prefix_max = running_max[g];
      for (int32_t j = 0; j < n; ++j) {
        scores[j] = avx2::dot(q, keys + size_t(j) * head_dim, head_dim) * args.scale;
        prefix_max = scores[j] > prefix_max ? scores[j] : prefix_max;
        weights[j] = scores[j] - prefix_max;
      }
      int32_t j = 0;
      for (; j + 8 <= n; j += 8) _mm256_storeu_ps(weights + j, avx2::exp_ps(_mm256_loadu_ps(weights + j)));
      for (; j < n; ++j) weights[j] = std::exp(weights[j]);

      float* a = acc + size_t(g) * head_dim;
      for (j = 0; j < n; ++j) {
        float correction = 1.0f;
        if (scores[j] > running_max[g]) {
          correction = std::exp(running_max[g] - scores[j]);
          running_max[g] = scores[j];
        }
        running_sum[g] = running_sum[g] * correction + weights[j];
        update_f16_accumulator(a, correction, weights[j], values + size_t(j) * head_dim, head_dim);
      }
    }
  }

  for (int32_t g = 0; g < group; ++g) {
    float* out = args.out + (row + g) * head_dim;
    const float inv_sum = 1.0f / running_sum[g];
    for (int32_t i = 0; i < head_dim; ++i) out[i] = acc[size_t(g) * head_dim + i] * inv_sum;
  }
}

}  // namespace

void attention_avx2(const AttentionArgs& args, ThreadPool& pool) {
  run_attention_groups(args, pool, args.pool->dtype == DType::F16 ? attention_group_f16 : attention_group);
}

}  // namespace brasa
