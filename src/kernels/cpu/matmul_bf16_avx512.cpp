// AVX512-BF16 matmul for BF16 and E4M3 weights, built for decode. Each
// activation is converted once per call: split into two BF16 values,
// x = high + low, which keep 16 significant bits, or (E4M3 only, on request)
// rounded to one. Each vdpbf16ps multiplies 32 weights of a row with 32
// activation parts and adds pairs into F32 lanes, so a split weight chunk
// takes two of them. BF16 weights are multiplied as loaded. E4M3
// weights become BF16 through two byte lookups, a few instructions per 64
// weights, so FP8 decode streams its bytes about as fast as BF16 does.
#pragma GCC target("avx512vbmi")

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/fp8_bf16_avx512.h"
#include "kernels/cpu/matmul_tiling.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/vector_math_avx512.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

namespace {

// Columns per step of the E4M3 kernel; activation rows are padded to it.
constexpr int64_t kChunk = 64;

// BF16 weights: 24 accumulators, 4 weight vectors and 1 activation vector.
constexpr int kBf16TileRows = 4;
constexpr int kBf16TileTokens = 6;
// E4M3 weights: 16 accumulators (two per row and token, so that the four
// products of a chunk form two dependency chains), 8 converted weight
// vectors, 4 activation vectors and the 4 lookup tables.
constexpr int kFp8TileRows = 4;
constexpr int kFp8TileTokens = 2;

// x in BF16: token t's high parts (x rounded) at data + t * token_stride, its
// low parts (x - high, rounded) padded_cols further when split, zeros past cols. For
// E4M3 weights each 64-column chunk is stored in the order
// E4m3ToBf16::convert produces the weights, so one load serves each
// converted weight vector.
struct Bf16Activations {
  const uint16_t* data = nullptr;
  int64_t padded_cols = 0;
  int64_t token_stride = 0;  // 2 * padded_cols when split, else padded_cols
  bool split = true;
};

struct ConvertJob {
  const float* x = nullptr;
  int64_t cols = 0;
  uint16_t* out = nullptr;
  int64_t padded_cols = 0;
  bool e4m3_order = false;
  bool split = true;
};

// Indexes into a 64-value chunk that gather its even (odd) elements, the
// order of E4m3ToBf16::convert.
__m512i e4m3_order_index(bool odd) {
  alignas(64) int16_t index[32];
  for (int i = 0; i < 32; ++i) index[i] = int16_t(2 * i + (odd ? 1 : 0));
  return _mm512_load_si512(index);
}

void convert_tokens(const void* context, int64_t begin, int64_t end) {
  const auto& job = *static_cast<const ConvertJob*>(context);
  const __m512i even_index = e4m3_order_index(false);
  const __m512i odd_index = e4m3_order_index(true);
  for (int64_t t = begin; t < end; ++t) {
    const float* row = job.x + t * job.cols;
    uint16_t* high_out = job.out + t * (job.split ? 2 : 1) * job.padded_cols;
    uint16_t* low_out = high_out + job.padded_cols;
    for (int64_t c = 0; c < job.padded_cols; c += 32) {
      const __m512 first = _mm512_maskz_loadu_ps(avx512::first_lanes(job.cols - c), row + c);
      const __m512 second = _mm512_maskz_loadu_ps(avx512::first_lanes(job.cols - c - 16), row + c + 16);
      __m512i high, low;
      avx512::split_to_bf16(first, second, high, low);
      _mm512_store_si512(high_out + c, high);
      if (job.split) _mm512_store_si512(low_out + c, low);
    }
    if (!job.e4m3_order) continue;
    uint16_t* const planes[2] = {high_out, low_out};
    for (int plane = 0; plane < (job.split ? 2 : 1); ++plane) {
      uint16_t* out = planes[plane];
      for (int64_t c = 0; c < job.padded_cols; c += kChunk) {
        const __m512i a = _mm512_load_si512(out + c);
        const __m512i b = _mm512_load_si512(out + c + 32);
        _mm512_store_si512(out + c, _mm512_permutex2var_epi16(a, even_index, b));
        _mm512_store_si512(out + c + 32, _mm512_permutex2var_epi16(a, odd_index, b));
      }
    }
  }
}

template <int R, int T>
void bf16_tile_kernel(const Weight& w, int64_t row, const Bf16Activations& x, int64_t token, float* y) {
  const int64_t cols = w.cols;
  const uint16_t* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = reinterpret_cast<const uint16_t*>(w.row(row + r));
  const int64_t token_stride = x.token_stride;
  const uint16_t* xs = x.data + token * token_stride;

  __m512 acc[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }

  for (int64_t c = 0; c < cols; c += 32) {
    // The tail load is masked, so columns past the row never enter a product.
    const __mmask32 mask = cols - c >= 32 ? __mmask32(0xffffffff) : __mmask32((1u << (cols - c)) - 1);
    __m512i weights[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) weights[r] = _mm512_maskz_loadu_epi16(mask, rows[r] + c);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512i x_high = _mm512_load_si512(xs + t * token_stride + c);
      const __m512i x_low = _mm512_load_si512(xs + t * token_stride + x.padded_cols + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        acc[r][t] = _mm512_dpbf16_ps(acc[r][t], (__m512bh)weights[r], (__m512bh)x_high);
        acc[r][t] = _mm512_dpbf16_ps(acc[r][t], (__m512bh)weights[r], (__m512bh)x_low);
      }
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) y[(token + t) * w.rows + row + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

// Split selects the activation layout: two BF16 parts (4 vdpbf16ps per
// 64-column chunk) or one (2 vdpbf16ps).
template <int R, int T, bool Split>
void fp8_tile_kernel(const Weight& w, int64_t row, const Bf16Activations& x, int64_t token, float* y) {
  const int64_t cols = w.cols;
  const uint8_t* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = w.row(row + r);
  const int64_t token_stride = x.token_stride;
  const uint16_t* xs = x.data + token * token_stride;
  const avx512::E4m3ToBf16 converter;

  __m512 acc_first[R][T], acc_second[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      acc_first[r][t] = _mm512_setzero_ps();
      acc_second[r][t] = _mm512_setzero_ps();
    }
  }

  for (int64_t c = 0; c < cols; c += kChunk) {
    // Masked-off bytes load as code 0, which converts to +0.
    const __mmask64 mask = cols - c >= kChunk ? ~__mmask64(0) : (__mmask64(1) << (cols - c)) - 1;
    __m512i even[R], odd[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) converter.convert(_mm512_maskz_loadu_epi8(mask, rows[r] + c), even[r], odd[r]);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      // Parts of the activations that meet the `even` and `odd` weight vectors.
      const uint16_t* x_high_parts = xs + t * token_stride + c;
      const __m512i first_high = _mm512_load_si512(x_high_parts);
      const __m512i second_high = _mm512_load_si512(x_high_parts + 32);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        acc_first[r][t] = _mm512_dpbf16_ps(acc_first[r][t], (__m512bh)even[r], (__m512bh)first_high);
        acc_second[r][t] = _mm512_dpbf16_ps(acc_second[r][t], (__m512bh)odd[r], (__m512bh)second_high);
      }
      if constexpr (Split) {
        const uint16_t* x_low_parts = x_high_parts + x.padded_cols;
        const __m512i first_low = _mm512_load_si512(x_low_parts);
        const __m512i second_low = _mm512_load_si512(x_low_parts + 32);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          acc_first[r][t] = _mm512_dpbf16_ps(acc_first[r][t], (__m512bh)even[r], (__m512bh)first_low);
          acc_second[r][t] = _mm512_dpbf16_ps(acc_second[r][t], (__m512bh)odd[r], (__m512bh)second_low);
        }
      }
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float scale = w.row_scale != nullptr ? w.row_scale[row + r] : 1.0f;
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc_first[r][t], acc_second[r][t]));
      y[(token + t) * w.rows + row + r] = sum * scale;
    }
  }
}

template <int R>
void bf16_tile_tokens(const Weight& w, int64_t row, const Bf16Activations& x, int64_t token, int n_tokens,
                      float* y) {
  switch (n_tokens) {
    case 6: return bf16_tile_kernel<R, 6>(w, row, x, token, y);
    case 5: return bf16_tile_kernel<R, 5>(w, row, x, token, y);
    case 4: return bf16_tile_kernel<R, 4>(w, row, x, token, y);
    case 3: return bf16_tile_kernel<R, 3>(w, row, x, token, y);
    case 2: return bf16_tile_kernel<R, 2>(w, row, x, token, y);
    default: return bf16_tile_kernel<R, 1>(w, row, x, token, y);
  }
}

template <int R, bool Split>
void fp8_tile_tokens(const Weight& w, int64_t row, const Bf16Activations& x, int64_t token, int n_tokens, float* y) {
  if (n_tokens == 2) return fp8_tile_kernel<R, 2, Split>(w, row, x, token, y);
  fp8_tile_kernel<R, 1, Split>(w, row, x, token, y);
}

void bf16_tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens,
               float* y) {
  const auto& x = *static_cast<const Bf16Activations*>(activations);
  if (n_rows == kBf16TileRows) return bf16_tile_tokens<kBf16TileRows>(w, row, x, token, n_tokens, y);
  for (int r = 0; r < n_rows; ++r) bf16_tile_tokens<1>(w, row + r, x, token, n_tokens, y);
}

void fp8_tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens,
              float* y) {
  const auto& x = *static_cast<const Bf16Activations*>(activations);
  if (x.split) {
    if (n_rows == kFp8TileRows) return fp8_tile_tokens<kFp8TileRows, true>(w, row, x, token, n_tokens, y);
    for (int r = 0; r < n_rows; ++r) fp8_tile_tokens<1, true>(w, row + r, x, token, n_tokens, y);
    return;
  }
  if (n_rows == kFp8TileRows) return fp8_tile_tokens<kFp8TileRows, false>(w, row, x, token, n_tokens, y);
  for (int r = 0; r < n_rows; ++r) fp8_tile_tokens<1, false>(w, row + r, x, token, n_tokens, y);
}

}  // namespace

void matmul_bf16_dot_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
                            bool split_activations) {
  const bool e4m3 = w.dtype == DType::F8_E4M3;
  if (!e4m3 && w.dtype != DType::BF16) reference::throw_unsupported_weight("BF16 dot-product matmul", w.dtype);

  ConvertJob job;
  job.x = x;
  job.cols = w.cols;
  job.padded_cols = (w.cols + kChunk - 1) / kChunk * kChunk;
  job.e4m3_order = e4m3;
  // The BF16 kernel reads split activations only.
  job.split = split_activations || !e4m3;
  const int64_t token_stride = (job.split ? 2 : 1) * job.padded_cols;
  job.out = static_cast<uint16_t*>(
      matmul_thread_scratch(ScratchSlot::Activations, size_t(n_tokens * token_stride) * sizeof(uint16_t)));
  run_parallel(pool, n_tokens, convert_tokens, &job);

  Bf16Activations activations;
  activations.data = job.out;
  activations.padded_cols = job.padded_cols;
  activations.token_stride = token_stride;
  activations.split = job.split;
  if (e4m3) {
    run_tiled_matmul(w, &activations, n_tokens, y, pool, fp8_tile, kFp8TileRows, kFp8TileTokens);
  } else {
    run_tiled_matmul(w, &activations, n_tokens, y, pool, bf16_tile, kBf16TileRows, kBf16TileTokens);
  }
}

}  // namespace brasa
