// AVX2 paged attention: the AVX-512 design (one GQA group per call, one
// online-softmax rescale per KV block) with 8 lanes and scalar tails.
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

}  // namespace

void attention_avx2(const AttentionArgs& args, ThreadPool& pool) { run_attention_groups(args, pool, attention_group); }

}  // namespace brasa
