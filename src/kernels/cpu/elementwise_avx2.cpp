// AVX2 versions of the small fused ops: RMSNorm, SwiGLU and add, with scalar tails.
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx2.h"

namespace brasa {

// Squares are rounded to F32 and summed in double, as in ggml and in
// reference::rms_norm_row (see the note there).
void rms_norm_row_avx2(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  __m256d sum_lo = _mm256_setzero_pd();
  __m256d sum_hi = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= dim; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256 square = _mm256_mul_ps(v, v);
    sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(square)));
    sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(square, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(sum_lo, sum_hi));
  double sum_squares = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; j < dim; ++j) sum_squares += double(x[j] * x[j]);
  const float inv_rms = 1.0f / std::sqrt(float(sum_squares / double(dim)) + eps);
  const __m256 inv_rms_v = _mm256_set1_ps(inv_rms);
  int64_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), inv_rms_v);
    if (weight != nullptr) v = _mm256_mul_ps(v, _mm256_loadu_ps(weight + i));
    _mm256_storeu_ps(out + i, v);
  }
  for (; i < dim; ++i) out[i] = x[i] * inv_rms * (weight != nullptr ? weight[i] : 1.0f);
}

void swiglu_avx2(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 sigmoid = _mm256_div_ps(one, _mm256_add_ps(one, avx2::exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, sigmoid), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add_avx2(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

}  // namespace brasa
