// AVX-512 versions of the small fused ops: RMSNorm, SwiGLU and add.
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx512.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

using avx512::exp_ps;
using avx512::first_lanes;

// Squares are rounded to F32 and summed in double, as in ggml and in
// reference::rms_norm_row: with an F16 KV cache a one-ulp change of the
// scale shows up in the logits (see reference_kernels.cpp).
void rms_norm_row_avx512(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  __m512d sum_lo = _mm512_setzero_pd();
  __m512d sum_hi = _mm512_setzero_pd();
  for (int64_t i = 0; i < dim; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(first_lanes(dim - i), x + i);
    const __m512 square = _mm512_mul_ps(v, v);
    sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(square)));
    sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(square), 1))));
  }
  const float mean_square = float(_mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi)) / double(dim));
  const __m512 inv_rms = _mm512_set1_ps(1.0f / std::sqrt(mean_square + eps));
  for (int64_t i = 0; i < dim; i += 16) {
    const __mmask16 m = first_lanes(dim - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv_rms);
    if (weight != nullptr) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i));
    _mm512_mask_storeu_ps(out + i, m, v);
  }
}

void swiglu_avx512(const float* gate, const float* up, int64_t n, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_lanes(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 sigmoid = _mm512_div_ps(one, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(g, sigmoid), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

void add_avx512(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_lanes(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace brasa
