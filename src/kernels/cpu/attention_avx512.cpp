// AVX-512 paged attention with online softmax. One call handles every query head
// of a GQA group at one token, so each key and value row is loaded once for the
// whole group. Scores are computed a KV block at a time, so the running max and
// the rescale of the accumulator happen once per block, not once per key.
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

using avx512::dot;
using avx512::exp_ps;
using avx512::first_lanes;

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
      for (int32_t j = 0; j < n; ++j) {
        scores[j] = dot(q, keys + size_t(j) * head_dim, head_dim) * args.scale;
        block_max = block_max > scores[j] ? block_max : scores[j];
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

}  // namespace

void attention_avx512(const AttentionArgs& args, ThreadPool& pool) { run_attention_groups(args, pool, attention_group); }

}  // namespace brasa
