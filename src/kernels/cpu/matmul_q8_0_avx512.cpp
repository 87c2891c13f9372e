// AVX-512 VNNI matmul for Q8_0 weights, 16 weight rows at a time. For each
// block of 32 columns, vpdpbusd multiplies two rows per register against the
// token's activation block, and a reduction tree sums each row's 8 lanes in
// int32. The exact block sums of the 16 rows then land in one vector, lane r
// for row r, and one F32 step per block follows:
//   acc[r] = fma(float(sum[r]), weight_scale[r] * activation_scale, acc[r]).
// The AMX path (matmul_q8_0_amx_avx512.cpp) performs the same F32 operations
// on the same exact sums, so a token's output does not depend on how many
// tokens share the product: greedy outputs stay equal alone and in a batch.
#include <immintrin.h>

#include "kernels/cpu/matmul_tiling.h"
#include "kernels/cpu/q8_0_blocks_avx512.h"
#include "kernels/cpu/quantized_activations.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx512.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

namespace {

constexpr int kTileRows = 16;
constexpr int kTileTokens = 4;  // 4 accumulators beside 8 weight and 8 product registers
constexpr int64_t kBlockBytes = avx512::kQ8_0BlockBytes;

// The reduction below leaves row slot 4j + k in lane 4k + j. Loading weight
// row 4k + j into slot 4j + k (a 4 x 4 transpose, its own inverse) puts row r
// in lane r.
constexpr int row_in_slot(int slot) { return (slot % 4) * 4 + slot / 4; }

// Sums the 8 int32 lanes of each 256-bit half of v[0..7] (half h of v[i] is
// row slot 2i + h). Lane 4k + j of the result contains slot 4j + k.
__attribute__((always_inline)) inline __m512i sum_row_halves(const __m512i v[8]) {
  __m512i quarters[4];  // 128-bit lane k of quarters[i]: 4 partial sums of slot 4i + k
  for (int i = 0; i < 4; ++i) {
    const __m512i even = _mm512_shuffle_i32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i odd = _mm512_shuffle_i32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1));
    quarters[i] = _mm512_add_epi32(even, odd);
  }

  __m512i pairs[2];  // 128-bit lane k: 2 partial sums of slot 8i + k, then 2 of slot 8i + 4 + k
  for (int i = 0; i < 2; ++i) {
    const __m512i low = _mm512_unpacklo_epi64(quarters[2 * i], quarters[2 * i + 1]);
    const __m512i high = _mm512_unpackhi_epi64(quarters[2 * i], quarters[2 * i + 1]);
    pairs[i] = _mm512_add_epi32(low, high);
  }

  const __m512 a = _mm512_castsi512_ps(pairs[0]);
  const __m512 b = _mm512_castsi512_ps(pairs[1]);
  const __m512i even = _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  const __m512i odd = _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_epi32(even, odd);
}

template <int T>
void tile_kernel(const Weight& w, int64_t row, int n_rows, const BlockQuantizedActivations& x, int64_t token,
                 float* y) {
  // Rows past the weight's end repeat its last row; their lanes are not stored.
  const uint8_t* slots[kTileRows];
  for (int s = 0; s < kTileRows; ++s) {
    const int r = row_in_slot(s);
    slots[s] = w.row(row + (r < n_rows ? r : n_rows - 1));
  }
  alignas(64) int32_t row_offsets[kTileRows];
  for (int r = 0; r < kTileRows; ++r) row_offsets[r] = int32_t((r < n_rows ? r : n_rows - 1) * w.row_stride_bytes);
  const __m512i scale_offsets = _mm512_load_si512(row_offsets);
  const uint8_t* first_row = w.row(row);

  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();

  // The next tile's rows follow these in memory, so they are prefetched into
  // L2 as in matmul_avx512.cpp, one prefetch per row and block. Every other
  // block would be about one per line, but 68 bytes skip a line now and then,
  // and the 202,048 x 1024 head of bench-moe streamed about 6% slower so.
  const char* next_tile = reinterpret_cast<const char*>(first_row) + kTileRows * w.row_stride_bytes;

  const __m512i flip = _mm512_set1_epi8(char(0x80));
  for (int64_t b = 0; b < x.n_blocks; ++b) {
    for (int r = 0; r < kTileRows; ++r) _mm_prefetch(next_tile + r * w.row_stride_bytes + b * kBlockBytes, _MM_HINT_T1);
    __m512i weights[8];
    for (int i = 0; i < 8; ++i) {
      const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(slots[2 * i] + b * kBlockBytes + 2));
      const __m256i high =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(slots[2 * i + 1] + b * kBlockBytes + 2));
      weights[i] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1), flip);  // w + 128
    }
    const __m512 weight_scales = avx512::q8_0_block_scales(first_row, scale_offsets, b);

    for (int t = 0; t < T; ++t) {
      const int64_t block = (token + t) * x.n_blocks + b;
      const __m512i activations =
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + block * 32)));
      __m512i products[8];
      for (int i = 0; i < 8; ++i) products[i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), weights[i], activations);
      const __m512i sums = _mm512_add_epi32(sum_row_halves(products), _mm512_set1_epi32(x.offset[size_t(block)]));
      const __m512 scale = _mm512_mul_ps(weight_scales, _mm512_set1_ps(x.scale[size_t(block)]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc[t]);
    }
  }

  const __mmask16 stored = avx512::first_lanes(n_rows);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (token + t) * w.rows + row, stored, acc[t]);
}

void tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens, float* y) {
  const auto& x = *static_cast<const BlockQuantizedActivations*>(activations);
  switch (n_tokens) {
    case 4: return tile_kernel<4>(w, row, n_rows, x, token, y);
    case 3: return tile_kernel<3>(w, row, n_rows, x, token, y);
    case 2: return tile_kernel<2>(w, row, n_rows, x, token, y);
    default: return tile_kernel<1>(w, row, n_rows, x, token, y);
  }
}

}  // namespace

// Follows quantize_block in quantized_activations.cpp step by step: the same
// max, the same F32 division and reciprocal, and conversion under the default
// round-to-nearest-even mode, as nearbyint rounds.
void quantize_blocks_avx512(const float* x, int64_t begin, int64_t end, int8_t* q, float* scale, int32_t* offset) {
  for (int64_t block = begin; block < end; ++block) {
    const __m512 first = _mm512_loadu_ps(x + block * 32);
    const __m512 second = _mm512_loadu_ps(x + block * 32 + 16);
    const float max_abs = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(first), _mm512_abs_ps(second)));
    const float d = max_abs / 127.0f;
    const __m512 inverse = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    const __m512i low = _mm512_cvtps_epi32(_mm512_mul_ps(first, inverse));
    const __m512i high = _mm512_cvtps_epi32(_mm512_mul_ps(second, inverse));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + block * 32), _mm512_cvtsepi32_epi8(low));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + block * 32 + 16), _mm512_cvtsepi32_epi8(high));
    scale[block] = d;
    offset[block] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(low, high));
  }
}

void matmul_q8_0_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.dtype != DType::Q8_0) reference::throw_unsupported_weight("Q8_0 VNNI matmul", w.dtype);
  BlockQuantizedActivations& quantized = thread_block_quantized_activations();
  quantize_activation_blocks(x, n_tokens, w.cols, pool, quantized, quantize_blocks_avx512);
  run_tiled_matmul(w, &quantized, n_tokens, y, pool, tile, kTileRows, kTileTokens);
}

}  // namespace brasa
