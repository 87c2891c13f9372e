// AVX-512 paged attention with online softmax. One call handles every query head
// of a GQA group at one token, so each key and value row is loaded once for the
// whole group. Scores are computed a KV block at a time, so the running max and
// the rescale of the accumulator happen once per block, not once per key.
// An F16 KV pool takes attention_group_f16, which rescales once per key.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/attention_tiling.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx512.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

namespace {

using avx512::exp_ps;
using avx512::first_lanes;

// Returns a vector whose lane j is the sum of the lanes of v[j].
__m512 reduce_16(const __m512 (&v)[16]) {
  // Pairs within each 128-bit lane, then quads: u[k] contains, per 128-bit
  // lane, that lane's partial sums of v[4k] .. v[4k + 3].
  __m512 t[8];
  for (int k = 0; k < 8; ++k) {
    t[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  }
  __m512 u[4];
  for (int k = 0; k < 4; ++k) {
    u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }

  // Sum across the four 128-bit lanes, so 128-bit lane k gets the totals of u[k].
  const __m512 u01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 u23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Returns q.k_j for the n <= 16 key rows in lane j; lanes from n on are 0.
// Reducing 16 keys together takes 45 shuffles and adds, against about 128
// when each dot product is reduced on its own.
__m512 score_keys(const float* q, const float* keys, int32_t n, int32_t head_dim) {
  __m512 v[16];
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) v[j] = _mm512_setzero_ps();
  for (int32_t i = 0; i < head_dim; i += 16) {
    const __mmask16 m = first_lanes(head_dim - i);
    const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) {
      if (j < n) v[j] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, keys + size_t(j) * head_dim + i), v[j]);
    }
  }
  return reduce_16(v);
}

// acc[i] = acc[i] * correction + sum_j weights[j] * values[j][i].
void scale_and_accumulate(float* acc, float correction, const float* weights, const float* values, int32_t n_values,
                          int32_t head_dim) {
  for (int32_t i = 0; i < head_dim; i += 16) {
    const __mmask16 m = first_lanes(head_dim - i);
    __m512 sum = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), _mm512_set1_ps(correction));
    for (int32_t j = 0; j < n_values; ++j) {
      sum = _mm512_fmadd_ps(_mm512_set1_ps(weights[j]), _mm512_maskz_loadu_ps(m, values + size_t(j) * head_dim + i), sum);
    }
    _mm512_mask_storeu_ps(acc + i, m, sum);
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

  // Per query head: running max, running sum of exp(score - max), and the
  // unnormalized output; then the scores of one KV block.
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
      for (int32_t j = 0; j < n; j += 16) {
        const int32_t count = n - j < 16 ? n - j : 16;
        const __mmask16 m = first_lanes(count);
        const __m512 s = _mm512_mul_ps(score_keys(q, keys + size_t(j) * head_dim, count, head_dim),
                                       _mm512_set1_ps(args.scale));
        _mm512_mask_storeu_ps(scores + j, m, s);
        const float s_max = _mm512_mask_reduce_max_ps(m, s);
        block_max = block_max > s_max ? block_max : s_max;
      }

      const float new_max = running_max[g] > block_max ? running_max[g] : block_max;
      const float correction = std::exp(running_max[g] - new_max);
      __m512 block_sum = _mm512_setzero_ps();
      for (int32_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_lanes(n - j);
        const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + j), _mm512_set1_ps(new_max)));
        _mm512_mask_storeu_ps(scores + j, m, e);
        block_sum = _mm512_add_ps(block_sum, _mm512_maskz_mov_ps(m, e));
      }
      running_sum[g] = running_sum[g] * correction + _mm512_reduce_add_ps(block_sum);
      running_max[g] = new_max;
      scale_and_accumulate(acc + size_t(g) * head_dim, correction, scores, values, n, head_dim);
    }
  }

  for (int32_t g = 0; g < group; ++g) {
    float* out = args.out + (row + g) * head_dim;
    const __m512 inv_sum = _mm512_set1_ps(1.0f / running_sum[g]);
    for (int32_t i = 0; i < head_dim; i += 16) {
      const __mmask16 m = first_lanes(head_dim - i);
      _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + size_t(g) * head_dim + i), inv_sum));
    }
  }
}

// Rounds each lane to the nearest F16 value (ties to even), as a store to an
// F16 buffer and a load back would.
__m512 round_to_f16(__m512 x) {
  return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Converts n consecutive F16 values to F32.
void widen_f16(const uint16_t* source, int64_t n, float* target) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_lanes(n - i);
    _mm512_mask_storeu_ps(target + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, source + i)));
  }
}

// The F16 KV path. It follows llama.cpp's CPU flash attention for F16 K and V
// (ggml_compute_forward_flash_attn_ext_f16_one_chunk in ggml 0.25.1), so that
// brasa's logits can be compared with llama.cpp's, the common reference
// engine. q is rounded to F16 for the q.k product. Keys are visited
// one at a time in position order, and the output accumulator is rounded to
// F16 after each rescale and after each added value row, as llama.cpp's F16
// accumulator (ggml_vec_scale_f16, ggml_vec_mad_f16) does. Only the order of
// the F32 sums in q.k differs, which moves a score by F32 rounding.
// Scores and the exp weights are still computed a KV block at a time: the
// weight of key j is exp(score_j - max of the scores up to j), which is what
// the key-at-a-time loop computes.
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
  for (int64_t i = 0; i < int64_t(group) * head_dim; i += 16) {
    const __mmask16 m = first_lanes(int64_t(group) * head_dim - i);
    _mm512_mask_storeu_ps(acc + i, m, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(queries + i, m, round_to_f16(_mm512_maskz_loadu_ps(m, args.q + row * head_dim + i)));
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
      for (int32_t j = 0; j < n; j += 16) {
        const int32_t count = n - j < 16 ? n - j : 16;
        const __m512 s = _mm512_mul_ps(score_keys(q, keys + size_t(j) * head_dim, count, head_dim),
                                       _mm512_set1_ps(args.scale));
        _mm512_mask_storeu_ps(scores + j, first_lanes(count), s);
      }

      float prefix_max = running_max[g];
      for (int32_t j = 0; j < n; ++j) {
        prefix_max = scores[j] > prefix_max ? scores[j] : prefix_max;
        weights[j] = scores[j] - prefix_max;
      }
      for (int32_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_lanes(n - j);
        _mm512_mask_storeu_ps(weights + j, m, exp_ps(_mm512_maskz_loadu_ps(m, weights + j)));
      }

      // One online-softmax step per key. A new max rescales the accumulator
      // first, and its own weight is exp(0) = 1.
      float* a = acc + size_t(g) * head_dim;
      for (int32_t j = 0; j < n; ++j) {
        float correction = 1.0f;
        if (scores[j] > running_max[g]) {
          correction = std::exp(running_max[g] - scores[j]);
          running_max[g] = scores[j];
        }
        running_sum[g] = running_sum[g] * correction + weights[j];
        const __m512 c = _mm512_set1_ps(correction);
        const __m512 w = _mm512_set1_ps(weights[j]);
        const float* v = values + size_t(j) * head_dim;
        for (int32_t i = 0; i < head_dim; i += 16) {
          const __mmask16 m = first_lanes(head_dim - i);
          __m512 sum = _mm512_maskz_loadu_ps(m, a + i);
          if (correction != 1.0f) sum = round_to_f16(_mm512_mul_ps(sum, c));
          sum = round_to_f16(_mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, v + i), w, sum));
          _mm512_mask_storeu_ps(a + i, m, sum);
        }
      }
    }
  }

  for (int32_t g = 0; g < group; ++g) {
    float* out = args.out + (row + g) * head_dim;
    const __m512 inv_sum = _mm512_set1_ps(1.0f / running_sum[g]);
    for (int32_t i = 0; i < head_dim; i += 16) {
      const __mmask16 m = first_lanes(head_dim - i);
      _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + size_t(g) * head_dim + i), inv_sum));
    }
  }
}

}  // namespace

void attention_avx512(const AttentionArgs& args, ThreadPool& pool) {
  run_attention_groups(args, pool, args.pool->dtype == DType::F16 ? attention_group_f16 : attention_group);
}

}  // namespace brasa
