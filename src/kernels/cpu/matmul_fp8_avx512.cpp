// E4M3 matmul for decode with exact F32 activations. Each 64-weight chunk of a
// row becomes BF16 through the two byte lookups of E4m3ToBf16 (exact), then
// F32 by moving each 16-bit half of a dword into its high half. Four F32 FMAs
// per chunk and token follow, which the two FMA ports issue twice as fast as
// the four vdpbf16ps that split activations would need.
#pragma GCC target("avx512vbmi")

#include <immintrin.h>

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

constexpr int64_t kChunk = 64;

// 16 accumulators (two per row and token, so that the four FMAs of a chunk
// form two dependency chains), 4 F32 weight vectors of the current row and
// the 4 lookup tables.
constexpr int kTileRows = 4;
constexpr int kTileTokens = 2;

// x in F32, [n_tokens][padded_cols] with zeros past cols. Each 64-column chunk
// is stored as four vectors of 16 in the order the weights come out of
// E4m3ToBf16::convert: elements 4j, 4j + 2, 4j + 1, 4j + 3 for j < 16.
struct PermutedActivations {
  const float* data = nullptr;
  int64_t padded_cols = 0;
};

struct PermuteJob {
  const float* x = nullptr;
  int64_t cols = 0;
  float* out = nullptr;
  int64_t padded_cols = 0;
};

void permute_tokens(const void* context, int64_t begin, int64_t end) {
  const auto& job = *static_cast<const PermuteJob*>(context);
  alignas(64) int32_t index[4][16];
  const int offsets[4] = {0, 2, 1, 3};
  for (int v = 0; v < 4; ++v) {
    for (int j = 0; j < 16; ++j) index[v][j] = 4 * j + offsets[v];
  }

  for (int64_t t = begin; t < end; ++t) {
    const float* row = job.x + t * job.cols;
    float* out = job.out + t * job.padded_cols;
    for (int64_t c = 0; c < job.padded_cols; c += kChunk) {
      // The chunk's 64 values (zero past cols) gathered into four vectors.
      alignas(64) float chunk[64];
      for (int q = 0; q < 4; ++q) {
        _mm512_store_ps(chunk + 16 * q, _mm512_maskz_loadu_ps(avx512::first_lanes(job.cols - c - 16 * q), row + c + 16 * q));
      }
      for (int v = 0; v < 4; ++v) {
        _mm512_store_ps(out + c + 16 * v, _mm512_i32gather_ps(_mm512_load_si512(index[v]), chunk, 4));
      }
    }
  }
}

template <int R, int T>
void tile_kernel(const Weight& w, int64_t row, const PermutedActivations& x, int64_t token, float* y) {
  const int64_t cols = w.cols;
  const uint8_t* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = w.row(row + r);
  const float* xs = x.data + token * x.padded_cols;
  const avx512::E4m3ToBf16 converter;
  const __m512i high_half = _mm512_set1_epi32(int(0xffff0000u));

  __m512 acc_first[R][T], acc_second[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      acc_first[r][t] = _mm512_setzero_ps();
      acc_second[r][t] = _mm512_setzero_ps();
    }
  }

  // The next tile's rows follow these in memory, so they are prefetched into
  // L2, one line per row for each chunk read, as in matmul_avx512.cpp.
  const int64_t next_tile = R * w.row_stride_bytes;

  for (int64_t c = 0; c < cols; c += kChunk) {
    // Masked-off bytes load as code 0, which converts to +0.
    const __mmask64 mask = cols - c >= kChunk ? ~__mmask64(0) : (__mmask64(1) << (cols - c)) - 1;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(rows[r]) + next_tile + c, _MM_HINT_T1);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512i even, odd;
      converter.convert(_mm512_maskz_loadu_epi8(mask, rows[r] + c), even, odd);
      // A BF16 value in the high half of a dword is the same F32 value.
      const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(even, 16));
      const __m512 w1 = _mm512_castsi512_ps(_mm512_and_si512(even, high_half));
      const __m512 w2 = _mm512_castsi512_ps(_mm512_slli_epi32(odd, 16));
      const __m512 w3 = _mm512_castsi512_ps(_mm512_and_si512(odd, high_half));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const float* xc = xs + t * x.padded_cols + c;
        acc_first[r][t] = _mm512_fmadd_ps(w0, _mm512_load_ps(xc), acc_first[r][t]);
        acc_second[r][t] = _mm512_fmadd_ps(w1, _mm512_load_ps(xc + 16), acc_second[r][t]);
        acc_first[r][t] = _mm512_fmadd_ps(w2, _mm512_load_ps(xc + 32), acc_first[r][t]);
        acc_second[r][t] = _mm512_fmadd_ps(w3, _mm512_load_ps(xc + 48), acc_second[r][t]);
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
void tile_tokens(const Weight& w, int64_t row, const PermutedActivations& x, int64_t token, int n_tokens, float* y) {
  if (n_tokens == 2) return tile_kernel<R, 2>(w, row, x, token, y);
  tile_kernel<R, 1>(w, row, x, token, y);
}

void tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens, float* y) {
  const auto& x = *static_cast<const PermutedActivations*>(activations);
  if (n_rows == kTileRows) return tile_tokens<kTileRows>(w, row, x, token, n_tokens, y);
  for (int r = 0; r < n_rows; ++r) tile_tokens<1>(w, row + r, x, token, n_tokens, y);
}

}  // namespace

void matmul_fp8_fma_avx512(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.dtype != DType::F8_E4M3) reference::throw_unsupported_weight("FP8 FMA matmul", w.dtype);

  PermuteJob job;
  job.x = x;
  job.cols = w.cols;
  job.padded_cols = (w.cols + kChunk - 1) / kChunk * kChunk;
  job.out = static_cast<float*>(
      matmul_thread_scratch(ScratchSlot::Activations, size_t(n_tokens * job.padded_cols) * sizeof(float)));
  run_parallel(pool, n_tokens, permute_tokens, &job);

  PermutedActivations activations;
  activations.data = job.out;
  activations.padded_cols = job.padded_cols;
  run_tiled_matmul(w, &activations, n_tokens, y, pool, tile, kTileRows, kTileTokens);
}

}  // namespace brasa
