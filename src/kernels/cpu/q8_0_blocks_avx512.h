#pragma once

// Q8_0 block access shared by the VNNI and AMX-INT8 Q8_0 kernels. Include it
// only from *_avx512.cpp files, because its inline function needs the AVX-512
// compile flags.
#include <immintrin.h>

#include <cstdint>

namespace brasa::avx512 {

// Bytes of one Q8_0 block: an F16 scale, then 32 int8 values.
constexpr int64_t kQ8_0BlockBytes = 34;

// Returns the F32 scales of block `block` of 16 rows, the rows starting at
// rows + row_offsets[r] bytes.
inline __m512 q8_0_block_scales(const uint8_t* rows, __m512i row_offsets, int64_t block) {
  // Each row's F16 scale is the first two bytes of the 4 that the gather reads.
  const __m512i words = _mm512_i32gather_epi32(row_offsets, rows + block * kQ8_0BlockBytes, 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(words));
}

}  // namespace brasa::avx512
