#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx2.h"

namespace brasa {

// 12 independent accumulators hide the FMA latency on two FMA ports.
float fma_loop_avx2(int64_t iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  for (int64_t n = 0; n < iterations; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  return avx2::reduce_add(sum);
}

}  // namespace brasa
