// The E4M3 to BF16 conversion of the FP8 kernels on its own, over a whole
// weight, without any multiply, and the plain read of the same bytes.
// kernels_bench times both to show what bounds FP8 decode.
#pragma GCC target("avx512vbmi")

#include <immintrin.h>

#include "kernels/cpu/fp8_amx_decode.h"
#include "kernels/cpu/fp8_bf16_avx512.h"
#include "kernels/cpu/reference_kernels.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

uint32_t read_fp8_weight_avx512(const Weight& w, bool convert) {
  if (w.dtype != DType::F8_E4M3) reference::throw_unsupported_weight("FP8 conversion probe", w.dtype);

  const avx512::E4m3ToBf16 converter;
  // Four independent XOR chains keep the conversions free of a dependency
  // on each other, as they are in the matmul kernels.
  __m512i sums[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                     _mm512_setzero_si512()};
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* row = w.row(r);
    int64_t c = 0;
    for (; c + 64 <= w.cols; c += 64) {
      const __m512i codes = _mm512_loadu_si512(row + c);
      const int chain = int((c / 64) & 3);
      if (!convert) {
        sums[chain] = _mm512_xor_si512(sums[chain], codes);
        continue;
      }
      __m512i even, odd;
      converter.convert(codes, even, odd);
      sums[chain] = _mm512_ternarylogic_epi32(sums[chain], even, odd, 0x96);
    }
    if (c < w.cols) {
      __m512i even, odd;
      const __mmask64 mask = (__mmask64(1) << (w.cols - c)) - 1;
      converter.convert(_mm512_maskz_loadu_epi8(mask, row + c), even, odd);
      sums[0] = _mm512_ternarylogic_epi32(sums[0], even, odd, 0x96);
    }
  }
  const __m512i total = _mm512_xor_si512(_mm512_xor_si512(sums[0], sums[1]), _mm512_xor_si512(sums[2], sums[3]));
  return uint32_t(_mm512_reduce_or_epi32(total));
}

}  // namespace brasa
