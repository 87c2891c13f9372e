#pragma once

// Vector helpers for the *_avx512.cpp files only: include it from no other file,
// because its inline functions need the AVX-512 compile flags.
#include <immintrin.h>

namespace brasa::avx512 {

// exp(x) for 16 floats: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-6
// Taylor polynomial (truncation error below 2e-7 relative), then scaled by 2^n.
// Inputs below -100 give 0, so -inf scores drop out of a softmax.
inline __m512 exp_ps(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-100.0f));
  x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Mask of the first n lanes: none for n <= 0, all 16 for n >= 16.
inline __mmask16 first_lanes(int64_t n) {
  if (n <= 0) return 0;
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
}

// Dot product of two float vectors of length n.
inline float dot(const float* a, const float* b, int64_t n) {
  __m512 sum0 = _mm512_setzero_ps();
  __m512 sum1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    sum0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), sum0);
    sum1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), sum1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = first_lanes(n - i);
    sum0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), sum0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1));
}

}  // namespace brasa::avx512
