#pragma once

// E4M3 to BF16 conversion and BF16 splitting of activations in registers, for the *_avx512.cpp files that enable
// AVX512-VBMI with `#pragma GCC target`; include it from no other file.
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

// Converts 64 E4M3 bytes to 64 BF16 values with two vpermi2b lookups (the byte
// index uses bits 0..6, so the sign bit is ignored there and ORed in after).
// The byte interleave works inside each 128-bit lane, so `low` receives
// elements 16k + j and `high` elements 16k + 8 + j at word 8k + j (k < 4, j < 8).
struct E4m3ToBf16 {
  __m512i high_bytes_0, high_bytes_1, low_bytes_0, low_bytes_1;

  // A user-provided constructor, because GCC 12 compiles an implicit one
  // without the file's `#pragma GCC target` and then rejects the intrinsics.
  E4m3ToBf16()
      : high_bytes_0(_mm512_load_si512(kE4m3HighBytes[0].bytes)),
        high_bytes_1(_mm512_load_si512(kE4m3HighBytes[1].bytes)),
        low_bytes_0(_mm512_load_si512(kE4m3LowBytes[0].bytes)),
        low_bytes_1(_mm512_load_si512(kE4m3LowBytes[1].bytes)) {}

  void convert(__m512i codes, __m512i& low, __m512i& high) const {
    __m512i high_byte = _mm512_permutex2var_epi8(high_bytes_0, codes, high_bytes_1);
    const __m512i low_byte = _mm512_permutex2var_epi8(low_bytes_0, codes, low_bytes_1);
    // high_byte | (codes & 0x80): truth table A | (B & C) with A, B, C = 0xf0, 0xcc, 0xaa.
    high_byte = _mm512_ternarylogic_epi32(high_byte, codes, _mm512_set1_epi8(char(0x80)), 0xf8);
    low = _mm512_unpacklo_epi8(low_byte, high_byte);
    high = _mm512_unpackhi_epi8(low_byte, high_byte);
  }

  // The same 64 values in their original order, as two vectors of 32 BF16.
  void convert_in_order(__m512i codes, __m512i& first, __m512i& second) const {
    __m512i low, high;
    convert(codes, low, high);
    first = _mm512_permutex2var_epi64(low, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), high);
    second = _mm512_permutex2var_epi64(low, _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15), high);
  }
};

// Position of element e (0..63) of a 64-column chunk in the order that
// E4m3ToBf16::convert produces: low vector first, then high.
constexpr int e4m3_interleaved_position(int e) {
  const int lane = e / 16;
  const int j = e % 16;
  return j < 8 ? 8 * lane + j : 32 + 8 * lane + (j - 8);
}

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
