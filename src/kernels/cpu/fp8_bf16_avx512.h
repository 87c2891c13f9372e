#pragma once

// E4M3 to BF16 conversion and BF16 splitting of activations in registers.
// Include it only from *_avx512.cpp files that enable AVX512-VBMI with
// `#pragma GCC target`, because its inline functions need those flags.
#include <immintrin.h>

#include <cstdint>

namespace brasa::avx512 {

// BF16 bits of the E4M3 magnitude code m (sign bit clear). Every E4M3 value,
// subnormals included, is a normal BF16 number, so the conversion is exact.
// Code 0x7f (NaN) maps to 480, which no valid checkpoint contains.
constexpr uint16_t e4m3_magnitude_to_bf16(int m) {
  const int exponent = m >> 3;
  int mantissa = m & 7;
  if (exponent != 0) return uint16_t(((exponent + 120) << 7) | (mantissa << 4));
  if (mantissa == 0) return 0;

  // A subnormal is mantissa * 2^-9: shift the leading one up to bit 3.
  int shift = 0;
  while (mantissa < 8) {
    mantissa <<= 1;
    ++shift;
  }
  return uint16_t(((121 - shift) << 7) | ((mantissa - 8) << 4));
}

// The high or low bytes of e4m3_magnitude_to_bf16 for codes [first, first + 64).
struct alignas(64) ByteTable {
  uint8_t bytes[64];
};

constexpr ByteTable e4m3_bf16_byte_table(int first, bool high) {
  ByteTable table{};
  for (int i = 0; i < 64; ++i) {
    const uint16_t bits = e4m3_magnitude_to_bf16(first + i);
    table.bytes[i] = uint8_t(high ? bits >> 8 : bits & 0xff);
  }
  return table;
}

inline constexpr ByteTable kE4m3HighBytes[2] = {e4m3_bf16_byte_table(0, true), e4m3_bf16_byte_table(64, true)};
inline constexpr ByteTable kE4m3LowBytes[2] = {e4m3_bf16_byte_table(0, false), e4m3_bf16_byte_table(64, false)};

// Converts 64 E4M3 bytes to 64 BF16 values with byte lookups: vpermb indexes
// a 64-entry table with bits 0..5 of each code, and a second, merge-masked
// vpermb takes the codes whose bit 6 is set from the upper table. The sign bit
// is ORed in after. Shifts then pair each low byte with its high byte inside
// 16-bit lanes, so `even` receives element 2k and `odd` element 2k + 1 at
// word k. Shifts run on a different port from the shuffles that byte unpacks
// would need. A two-table vpermt2b does each lookup in one instruction, but it
// measured two cycles per instruction on Sapphire Rapids against one for
// vpermb. This conversion took 1.68 ns per 64 codes in a register-only loop
// there, and the vpermt2b version 1.82 ns.
struct E4m3ToBf16 {
  __m512i high_bytes_0, high_bytes_1, low_bytes_0, low_bytes_1;

  // A user-provided constructor, because GCC 12 compiles an implicit one
  // without the file's `#pragma GCC target` and then rejects the intrinsics.
  E4m3ToBf16()
      : high_bytes_0(_mm512_load_si512(kE4m3HighBytes[0].bytes)),
        high_bytes_1(_mm512_load_si512(kE4m3HighBytes[1].bytes)),
        low_bytes_0(_mm512_load_si512(kE4m3LowBytes[0].bytes)),
        low_bytes_1(_mm512_load_si512(kE4m3LowBytes[1].bytes)) {}

  void convert(__m512i codes, __m512i& even, __m512i& odd) const {
    const __mmask64 upper = _mm512_test_epi8_mask(codes, _mm512_set1_epi8(0x40));
    __m512i high_bytes = _mm512_permutexvar_epi8(codes, high_bytes_0);
    high_bytes = _mm512_mask_permutexvar_epi8(high_bytes, upper, codes, high_bytes_1);
    __m512i low_bytes = _mm512_permutexvar_epi8(codes, low_bytes_0);
    low_bytes = _mm512_mask_permutexvar_epi8(low_bytes, upper, codes, low_bytes_1);
    // Truth tables for vpternlog with A, B, C = 0xf0, 0xcc, 0xaa:
    // A | (B & C) = 0xf8 and (A & C) | B = 0xec.
    high_bytes = _mm512_ternarylogic_epi32(high_bytes, codes, _mm512_set1_epi8(char(0x80)), 0xf8);
    even = _mm512_ternarylogic_epi32(low_bytes, _mm512_slli_epi16(high_bytes, 8), _mm512_set1_epi16(0x00ff), 0xec);
    odd = _mm512_ternarylogic_epi32(_mm512_srli_epi16(low_bytes, 8), high_bytes, _mm512_set1_epi16(short(0xff00)),
                                    0xf8);
  }

  // The same 64 values in their original order, as two vectors of 32 BF16.
  void convert_in_order(__m512i codes, __m512i& first, __m512i& second) const {
    __m512i even, odd;
    convert(codes, even, odd);
    alignas(64) int16_t first_index[32];
    alignas(64) int16_t second_index[32];
    for (int e = 0; e < 32; ++e) {
      first_index[e] = int16_t((e % 2 != 0 ? 32 : 0) + e / 2);
      second_index[e] = int16_t((e % 2 != 0 ? 32 : 0) + 16 + e / 2);
    }
    first = _mm512_permutex2var_epi16(even, _mm512_load_si512(first_index), odd);
    second = _mm512_permutex2var_epi16(even, _mm512_load_si512(second_index), odd);
  }
};


// Splits 32 floats (first: 0..15, second: 16..31) into BF16 parts with
// x = high + low up to 2^-16 of |x|: high is x rounded to nearest even, low
// is the remainder rounded again.
inline void split_to_bf16(__m512 first, __m512 second, __m512i& high, __m512i& low) {
  high = (__m512i)_mm512_cvtne2ps_pbh(second, first);
  const __m512 first_high = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(high)), 16));
  const __m512 second_high =
      _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(high, 1)), 16));
  low = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(second, second_high), _mm512_sub_ps(first, first_high));
}

}  // namespace brasa::avx512
