// AVX-512 matmul for every weight type. Weights are decoded to F32 in registers,
// 16 columns at a time, and each decoded vector is multiplied with a tile of
// tokens, so no dequantized copy of a weight is ever written to memory.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/matmul_tiling.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/cpu/simd_kernels.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

namespace {

// A 4 x 6 tile keeps 24 accumulators, 4 weight vectors and 1 activation vector
// in the 32 ZMM registers.
constexpr int kTileRows = 4;
constexpr int kTileTokens = 6;

float load_f16_scalar(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// Each Decode names the bytes a row spends on 16 columns and how many columns
// one 64-byte line of the row contains (rounded down to a multiple of 16), which
// set where and how often the tile prefetches.
struct DecodeF32 {
  static constexpr int64_t kBytesPer16 = 64;
  static constexpr int64_t kColsPerLine = 16;
  static __m512 load(const uint8_t* row, int64_t c) { return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + c); }
  static __m512 load_masked(const uint8_t* row, int64_t c, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + c);
  }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

struct DecodeF16 {
  static constexpr int64_t kBytesPer16 = 32;
  static constexpr int64_t kColsPerLine = 32;
  static __m512 load(const uint8_t* row, int64_t c) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
  }
  static __m512 load_masked(const uint8_t* row, int64_t c, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * c));
  }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

struct DecodeBF16 {
  static constexpr int64_t kBytesPer16 = 32;
  static constexpr int64_t kColsPerLine = 32;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const uint8_t* row, int64_t c) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
  }
  static __m512 load_masked(const uint8_t* row, int64_t c, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, row + 2 * c));
  }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

// E4M3 moves into F16 by placing its sign at bit 15 and its 7 exponent and
// mantissa bits at bits 13..7. The F16 exponent bias is 15 instead of 7, so the
// result is the FP8 value times 2^-8, which scale() undoes together with the row
// scale. Subnormals map to F16 subnormals exactly. The NaN code 0x7f decodes as
// 480 / 256, which no valid checkpoint contains.
struct DecodeF8 {
  static constexpr int64_t kBytesPer16 = 16;
  static constexpr int64_t kColsPerLine = 64;
  static __m512 widen(__m128i bytes) {
    const __m256i h = _mm256_cvtepu8_epi16(bytes);
    const __m256i sign = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi16(0x80)), 8);
    const __m256i magnitude = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi16(0x7f)), 7);
    return _mm512_cvtph_ps(_mm256_or_si256(sign, magnitude));
  }
  static __m512 load(const uint8_t* row, int64_t c) {
    return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c)));
  }
  static __m512 load_masked(const uint8_t* row, int64_t c, __mmask16 m) { return widen(_mm_maskz_loadu_epi8(m, row + c)); }
  static float scale(const Weight& w, int64_t r) { return 256.0f * (w.row_scale != nullptr ? w.row_scale[r] : 1.0f); }
};

// Q8_0 block: F16 scale d, then 32 int8. Column c is in block c / 32, half (c / 16) % 2.
struct DecodeQ8_0 {
  static constexpr int64_t kBytesPer16 = 17;
  static constexpr int64_t kColsPerLine = 32;
  static __m512 load(const uint8_t* row, int64_t c) {
    const uint8_t* block = row + (c / 32) * 34;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2 + (c & 16)));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(load_f16_scalar(block)));
  }
  // Rows of block types are whole blocks, so the masked tail never runs.
  static __m512 load_masked(const uint8_t*, int64_t, __mmask16) { return _mm512_setzero_ps(); }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

// Q4_0 block: F16 scale d, then 16 bytes; weights 0..15 are the low nibbles and
// 16..31 the high nibbles, each stored as value + 8.
struct DecodeQ4_0 {
  static constexpr int64_t kBytesPer16 = 9;
  static constexpr int64_t kColsPerLine = 64;
  static __m512 load(const uint8_t* row, int64_t c) {
    const uint8_t* block = row + (c / 32) * 18;
    __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
    if (c & 16) q = _mm512_srli_epi32(q, 4);
    q = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x0f)), _mm512_set1_epi32(8));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(load_f16_scalar(block)));
  }
  static __m512 load_masked(const uint8_t*, int64_t, __mmask16) { return _mm512_setzero_ps(); }
  static float scale(const Weight&, int64_t) { return 1.0f; }
};

template <class Decode, int R, int T>
void tile_kernel(const Weight& w, int64_t row, const float* x, int64_t token, float* y) {
  const int64_t cols = w.cols;
  const float* xs = x + token * cols;
  const uint8_t* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = w.row(row + r);

  __m512 acc[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }

  // The rows of the next tile follow these in memory. Prefetching them into L2,
  // one line per row for each line read here, keeps memory busy between
  // tiles. The hardware prefetcher alone follows short rows badly: the
  // 202,048 x 1024 BF16 output head of bench-moe streamed at 21.7 GB/s without
  // this and 26.3 GB/s with it on two threads (kernels_bench
  // BM_DecodeFromMemory). Past the matrix a prefetch is a no-op, as it never faults.
  const int64_t next_tile = R * w.row_stride_bytes;

  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    if (c % Decode::kColsPerLine == 0) {
      const int64_t offset = next_tile + c / 16 * Decode::kBytesPer16;
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(rows[r]) + offset, _MM_HINT_T1);
    }
    __m512 weights[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) weights[r] = Decode::load(rows[r], c);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(xs + t * cols + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(weights[r], xv, acc[r][t]);
    }
  }

  if (c < cols) {
    const __mmask16 mask = __mmask16((1u << (cols - c)) - 1);
    __m512 weights[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) weights[r] = Decode::load_masked(rows[r], c, mask);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, xs + t * cols + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(weights[r], xv, acc[r][t]);
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float scale = Decode::scale(w, row + r);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) y[(token + t) * w.rows + row + r] = _mm512_reduce_add_ps(acc[r][t]) * scale;
  }
}

template <class Decode, int R>
void tile_tokens(const Weight& w, int64_t row, const float* x, int64_t token, int n_tokens, float* y) {
  switch (n_tokens) {
    case 6: return tile_kernel<Decode, R, 6>(w, row, x, token, y);
    case 5: return tile_kernel<Decode, R, 5>(w, row, x, token, y);
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

void matmul_avx512_float_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
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
