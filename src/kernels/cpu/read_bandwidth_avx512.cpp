// The load loop of the read-bandwidth probe, with the 64-byte loads that the
// decode kernels use to stream weights.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/simd_kernels.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

// Four independent sums keep four cache lines in flight per iteration.
uint64_t read_loop_avx512(const uint8_t* data, size_t bytes) {
  __m512i sum0 = _mm512_setzero_si512();
  __m512i sum1 = sum0, sum2 = sum0, sum3 = sum0;
  for (size_t i = 0; i + 256 <= bytes; i += 256) {
    sum0 = _mm512_add_epi64(sum0, _mm512_load_si512(data + i));
    sum1 = _mm512_add_epi64(sum1, _mm512_load_si512(data + i + 64));
    sum2 = _mm512_add_epi64(sum2, _mm512_load_si512(data + i + 128));
    sum3 = _mm512_add_epi64(sum3, _mm512_load_si512(data + i + 192));
  }
  return uint64_t(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(sum0, sum1), _mm512_add_epi64(sum2, sum3))));
}

}  // namespace brasa
