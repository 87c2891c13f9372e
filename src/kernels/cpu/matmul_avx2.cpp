// AVX2 matmul for every weight type: the AVX-512 design with 8 lanes. Weights
// are decoded to F32 in registers, 8 columns at a time, and columns past the
// last multiple of 8 (float types only) are finished in scalar code.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/matmul_tiling.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx2.h"

namespace brasa {

namespace {

// A 2 x 4 tile keeps 8 accumulators, 2 weight vectors and 1 activation vector
// in the 16 YMM registers with room for the decode temporaries.
constexpr int kTileRows = 2;
constexpr int kTileTokens = 4;

uint16_t load_u16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

float load_f16_scalar(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

struct DecodeF32 {
  static __m256 load(const uint8_t* row, int64_t c) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c); }
  static float scalar(const uint8_t* row, int64_t c) { return reinterpret_cast<const float*>(row)[c]; }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

struct DecodeF16 {
  static __m256 load(const uint8_t* row, int64_t c) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c)));
  }
  static float scalar(const uint8_t* row, int64_t c) { return load_f16_scalar(row + 2 * c); }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

struct DecodeBF16 {
  static __m256 load(const uint8_t* row, int64_t c) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float scalar(const uint8_t* row, int64_t c) {
    const uint32_t bits = uint32_t(load_u16(row + 2 * c)) << 16;
    float value;
    std::memcpy(&value, &bits, 4);
    return value;
  }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

// E4M3 to F16 by moving bits, exact up to a factor 2^-8 that scale() undoes;
// see matmul_avx512.cpp for the derivation.
struct DecodeF8 {
  static __m256 load(const uint8_t* row, int64_t c) {
    const __m128i h = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + c)));
    const __m128i sign = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi16(0x80)), 8);
    const __m128i magnitude = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7f)), 7);
    return _mm256_cvtph_ps(_mm_or_si128(sign, magnitude));
  }
  static float scalar(const uint8_t* row, int64_t c) { return fp8_e4m3_to_f32(row[c]) / 256.0f; }
  static float scale(const Weight& w, int64_t r) { return 256.0f * (w.row_scale != nullptr ? w.row_scale[r] : 1.0f); }
};

// Q8_0 block: F16 scale d, then 32 int8.
struct DecodeQ8_0 {
  static __m256 load(const uint8_t* row, int64_t c) {
    const uint8_t* block = row + (c / 32) * 34;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + (c & 31)));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(load_f16_scalar(block)));
  }
  // Rows of block types are whole blocks, so the scalar tail never runs.
  static float scalar(const uint8_t*, int64_t) { return 0.0f; }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

// Q4_0 block: F16 scale d, then 16 bytes; columns 0..15 are the low nibbles
// and 16..31 the high nibbles, each stored as value + 8.
struct DecodeQ4_0 {
  static __m256 load(const uint8_t* row, int64_t c) {
    const uint8_t* block = row + (c / 32) * 18;
    __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + (c & 8))));
    if (c & 16) q = _mm256_srli_epi32(q, 4);
    q = _mm256_sub_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x0f)), _mm256_set1_epi32(8));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(load_f16_scalar(block)));
  }
  static float scalar(const uint8_t*, int64_t) { return 0.0f; }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

template <class Decode, int R, int T>
void tile_kernel(const Weight& w, int64_t row, const float* x, int64_t token, float* y) {
  const int64_t cols = w.cols;
  const float* xs = x + token * cols;
  const uint8_t* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = w.row(row + r);

  __m256 acc[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  }

  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    __m256 weights[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) weights[r] = Decode::load(rows[r], c);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_loadu_ps(xs + t * cols + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(weights[r], xv, acc[r][t]);
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float scale = Decode::scale(w, row + r);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      float sum = avx2::reduce_add(acc[r][t]);
      for (int64_t tail = c; tail < cols; ++tail) sum += Decode::scalar(rows[r], tail) * xs[t * cols + tail];
      y[(token + t) * w.rows + row + r] = sum * scale;
    }
  }
}

template <class Decode, int R>
void tile_tokens(const Weight& w, int64_t row, const float* x, int64_t token, int n_tokens, float* y) {
  switch (n_tokens) {
    case 4: return tile_kernel<Decode, R, 4>(w, row, x, token, y);
    case 3: return tile_kernel<Decode, R, 3>(w, row, x, token, y);
    case 2: return tile_kernel<Decode, R, 2>(w, row, x, token, y);
    default: return tile_kernel<Decode, R, 1>(w, row, x, token, y);
  }
}

template <class Decode>
void tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens, float* y) {
  const auto* x = static_cast<const float*>(activations);
  if (n_rows == kTileRows) return tile_tokens<Decode, kTileRows>(w, row, x, token, n_tokens, y);
  for (int r = 0; r < n_rows; ++r) tile_tokens<Decode, 1>(w, row + r, x, token, n_tokens, y);
}

}  // namespace

void matmul_avx2(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  MatmulTile kernel = nullptr;
  switch (w.dtype) {
    case DType::F32: kernel = tile<DecodeF32>; break;
    case DType::F16: kernel = tile<DecodeF16>; break;
    case DType::BF16: kernel = tile<DecodeBF16>; break;
    case DType::F8_E4M3: kernel = tile<DecodeF8>; break;
    case DType::Q8_0: kernel = tile<DecodeQ8_0>; break;
    case DType::Q4_0: kernel = tile<DecodeQ4_0>; break;
    default: reference::throw_unsupported_weight("matmul", w.dtype);
  }
  run_tiled_matmul(w, x, n_tokens, y, pool, kernel, kTileRows, kTileTokens);
}

}  // namespace brasa
