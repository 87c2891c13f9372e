// AMX BF16 matmul for products with many tokens (prefill, and MoE experts that
// received many tokens). Tile A contains 16 weight rows x 32 columns in BF16,
// which is a weight's own row-major layout. Tile B contains 16 tokens x 32
// columns of activations in the pair-interleaved layout tdpbf16ps expects
// (row p: the pairs of columns 2p and 2p + 1 for 16 tokens). So BF16 weights
// load straight from the checkpoint, and only the activations, which are
// fewer bytes than the weights, are rearranged, once per call. Each
// activation is split into two BF16 parts, x = high + low, and each weight
// tile meets both, so the activations keep 16 significant bits. Other weight
// types are converted to BF16 one 32-row panel at a time, and each panel then
// serves every token tile of the call. C is weights x tokens, so each finished
// C tile is transposed into y.
#pragma GCC target("avx512vbmi,amx-tile,amx-bf16")

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/amx_tile_config.h"
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

constexpr int kTileRows = 16;        // rows of every tile: weight rows, tokens or column pairs
constexpr int64_t kTileCols = 32;    // BF16 columns per A tile row (64 bytes)
constexpr int kPanelRows = 32;       // weight rows per panel: two A tiles
constexpr int kCallTokens = 256;     // tokens per tile call: 16 B tiles of activations
constexpr int64_t kTileElements = kTileRows * kTileCols;  // BF16 values per 1 KiB tile

// Tiles 0-3 accumulate C, 4-5 hold weights and 6-7 activations; all are 16 x 64 bytes.
void load_tile_config() {
  AmxTileConfig config;
  for (int i = 0; i < 8; ++i) config.set(i, kTileRows, 64);
  _tile_loadconfig(&config);
}

// Activations as B tiles: token tile j, column chunk c (32 columns) and part
// (0 high, 1 low) form the 1 KiB tile at
// data + ((j * n_chunks + c) * 2 + part) * kTileElements. Tokens past n_tokens
// and columns past cols are zero.
struct PackedActivations {
  const uint16_t* data = nullptr;
  int64_t n_chunks = 0;
};

struct PackJob {
  const float* x = nullptr;
  int64_t n_tokens = 0;
  int64_t cols = 0;
  uint16_t* out = nullptr;
  int64_t n_chunks = 0;
};

// Packs token tiles [begin, end). Converting 32 columns of one token gives 16
// BF16 pairs, and pair p belongs in row p of the tile at the token's column,
// so a scatter with a stride of one tile row (16 dwords) places them.
void pack_token_tiles(const void* context, int64_t begin, int64_t end) {
  const auto& job = *static_cast<const PackJob*>(context);
  __m512i row_offsets = _mm512_setzero_si512();
  alignas(64) int32_t offsets[16];
  for (int p = 0; p < 16; ++p) offsets[p] = p * 16;
  row_offsets = _mm512_load_si512(offsets);

  for (int64_t j = begin; j < end; ++j) {
    for (int t = 0; t < kTileRows; ++t) {
      const int64_t token = j * kTileRows + t;
      const float* row = job.x + token * job.cols;
      for (int64_t c = 0; c < job.n_chunks; ++c) {
        auto* high_tile = reinterpret_cast<int32_t*>(job.out + (j * job.n_chunks + c) * 2 * kTileElements);
        int32_t* low_tile = high_tile + kTileElements / 2;
        __m512i high = _mm512_setzero_si512();
        __m512i low = _mm512_setzero_si512();
        if (token < job.n_tokens) {
          const int64_t col = c * kTileCols;
          const __m512 first = _mm512_maskz_loadu_ps(avx512::first_lanes(job.cols - col), row + col);
          const __m512 second = _mm512_maskz_loadu_ps(avx512::first_lanes(job.cols - col - 16), row + col + 16);
          avx512::split_to_bf16(first, second, high, low);
        }
        _mm512_i32scatter_epi32(high_tile + t, row_offsets, high, 4);
        _mm512_i32scatter_epi32(low_tile + t, row_offsets, low, 4);
      }
    }
  }
}

// Weight rows in BF16, row-major, as A tiles read them: rows [0, 32) of a
// panel at base + r * stride bytes, with at least n_chunks * 32 columns each.
struct WeightPanel {
  const uint8_t* base = nullptr;
  size_t stride = 0;
  const uint8_t* next = nullptr;  // the next panel's first row where base is the weight itself, else nullptr
};

__m512i f32_pair_to_bf16(__m512 first, __m512 second) { return (__m512i)_mm512_cvtne2ps_pbh(second, first); }

float load_f16_scalar(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// Writes the first `cols` values of a weight row as BF16 into out, zero-filled
// up to padded_cols (a multiple of 64). BF16 and E4M3 convert exactly; F16,
// Q8_0 and Q4_0 values round to BF16 (8 significant bits).
void row_to_bf16(DType dtype, const uint8_t* row, int64_t cols, int64_t padded_cols, uint16_t* out) {
  switch (dtype) {
    case DType::BF16:
      for (int64_t c = 0; c < padded_cols; c += 32) {
        const __mmask32 mask = cols - c >= 32 ? __mmask32(0xffffffff)
                               : cols - c <= 0 ? __mmask32(0)
                                               : __mmask32((1u << (cols - c)) - 1);
        _mm512_store_si512(out + c, _mm512_maskz_loadu_epi16(mask, row + 2 * c));
      }
      return;
    case DType::F16:
      for (int64_t c = 0; c < padded_cols; c += 32) {
        const __m512 first = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(avx512::first_lanes(cols - c), row + 2 * c));
        const __m512 second =
            _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(avx512::first_lanes(cols - c - 16), row + 2 * (c + 16)));
        _mm512_store_si512(out + c, f32_pair_to_bf16(first, second));
      }
      return;
    case DType::F8_E4M3: {
      const avx512::E4m3ToBf16 converter;
      for (int64_t c = 0; c < padded_cols; c += 64) {
        const __mmask64 mask = cols - c >= 64 ? ~__mmask64(0)
                               : cols - c <= 0 ? __mmask64(0)
                                               : (__mmask64(1) << (cols - c)) - 1;
        __m512i first, second;
        converter.convert_in_order(_mm512_maskz_loadu_epi8(mask, row + c), first, second);
        _mm512_store_si512(out + c, first);
        _mm512_store_si512(out + c + 32, second);
      }
      return;
    }
    case DType::Q8_0:
    case DType::Q4_0: {
      // Block rows hold whole blocks of 32, so only the padding is zero-filled.
      const bool q8 = dtype == DType::Q8_0;
      const int64_t block_bytes = q8 ? 34 : 18;
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* block = row + b * block_bytes;
        const __m512 d = _mm512_set1_ps(load_f16_scalar(block));
        __m512i first, second;
        if (q8) {
          first = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
          second = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 18)));
        } else {
          const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
          const __m512i nibble = _mm512_set1_epi32(0x0f);
          const __m512i offset = _mm512_set1_epi32(8);
          first = _mm512_sub_epi32(_mm512_and_si512(bytes, nibble), offset);
          second = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bytes, 4), nibble), offset);
        }
        const __m512 low = _mm512_mul_ps(_mm512_cvtepi32_ps(first), d);
        const __m512 high = _mm512_mul_ps(_mm512_cvtepi32_ps(second), d);
        _mm512_store_si512(out + b * 32, f32_pair_to_bf16(low, high));
      }
      for (int64_t c = cols; c < padded_cols; c += 32) _mm512_store_si512(out + c, _mm512_setzero_si512());
      return;
    }
    default: return;
  }
}

WeightPanel make_panel(const Weight& w, int64_t row, int n_rows, int64_t n_chunks) {
  WeightPanel panel;
  if (w.dtype == DType::BF16 && n_rows == kPanelRows && w.cols % kTileCols == 0) {
    panel.base = w.row(row);
    panel.stride = w.row_stride_bytes;
    panel.next = panel.base + kPanelRows * panel.stride;
    return panel;
  }

  const int64_t padded_cols = (n_chunks * kTileCols + 63) / 64 * 64;
  auto* out = static_cast<uint16_t*>(
      matmul_thread_scratch(ScratchSlot::WeightPanel, size_t(kPanelRows * padded_cols) * sizeof(uint16_t)));
  for (int r = 0; r < kPanelRows; ++r) {
    uint16_t* out_row = out + r * padded_cols;
    if (r < n_rows) {
      row_to_bf16(w.dtype, w.row(row + r), w.cols, padded_cols, out_row);
    } else {
      std::memset(out_row, 0, size_t(padded_cols) * sizeof(uint16_t));
    }
  }
  panel.base = reinterpret_cast<const uint8_t*>(out);
  panel.stride = size_t(padded_cols) * sizeof(uint16_t);
  return panel;
}

// Adds the transposed C tile (weight rows x tokens) into y, times the row scales.
void store_c_tile(int tile, float* buffer, const Weight& w, int64_t row, int n_rows, int64_t token, int n_tokens,
                  float* y) {
  switch (tile) {
    case 0: _tile_stored(0, buffer, 64); break;
    case 1: _tile_stored(1, buffer, 64); break;
    case 2: _tile_stored(2, buffer, 64); break;
    default: _tile_stored(3, buffer, 64); break;
  }
  // The buffer is weight rows x tokens, and y is tokens x rows. Each token's
  // rows are gathered and stored in one contiguous write: writing row by row
  // would touch a page per token for every row, since tokens lie w.rows
  // floats apart.
  const __mmask16 row_mask = avx512::first_lanes(n_rows);
  const __m512 scales =
      w.row_scale != nullptr ? _mm512_maskz_loadu_ps(row_mask, w.row_scale + row) : _mm512_set1_ps(1.0f);
  alignas(64) int32_t offsets[kTileRows];
  for (int r = 0; r < kTileRows; ++r) offsets[r] = r * kTileRows;
  const __m512i row_offsets = _mm512_load_si512(offsets);
  for (int t = 0; t < n_tokens; ++t) {
    const __m512 values = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), row_mask, row_offsets, buffer + t, 4);
    _mm512_mask_storeu_ps(y + (token + t) * w.rows + row, row_mask, _mm512_mul_ps(values, scales));
  }
}

// TODO: this reaches about 290 GFLOP/s on 4096 x 4096 x 512 (kernels_bench,
// one thread), about 10% of one thread's tdpbf16ps peak. Split activations
// double the tdpbf16ps count, and weight tiles are reloaded from L2 for every
// pair of token tiles. Blocking over more token tiles would raise it.
void amx_tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens,
              float* y) {
  const auto& x = *static_cast<const PackedActivations*>(activations);
  load_tile_config();
  const WeightPanel panel = make_panel(w, row, n_rows, x.n_chunks);
  const uint8_t* weights_top = panel.base;
  const uint8_t* weights_bottom = panel.base + kTileRows * panel.stride;
  const int rows_top = n_rows < kTileRows ? n_rows : kTileRows;
  const int rows_bottom = n_rows - rows_top;
  alignas(64) float c_buffer[kTileRows * kTileRows];

  // run_tiled_matmul starts every call on a multiple of kCallTokens, so
  // `token` begins a whole B tile.
  const int64_t first_tile = token / kTileRows;
  const int n_tiles = (n_tokens + kTileRows - 1) / kTileRows;

  // With one pair of token tiles (decode batches up to 32), reading the BF16
  // panel from memory bounds the call. The next panel's rows follow it there,
  // so the first pass prefetches them into L2, one line per row and chunk, as
  // the vector decode kernels do (matmul_avx512.cpp). bench-moe BF16 decoded
  // batch 32 at 459 to 470 tokens/s with it and 366 to 407 without (three
  // runs each). Longer calls reuse the panel from L2 for every further pair
  // of tiles. On them the prefetch measured about 7% slower for prefill of 512
  // tokens, which is within this VM's run-to-run spread.
  const bool prefetch_next = panel.next != nullptr && n_tiles <= 2;

  for (int j = 0; j < n_tiles; j += 2) {
    const bool pair = j + 1 < n_tiles;
    const uint16_t* b0 = x.data + (first_tile + j) * x.n_chunks * 2 * kTileElements;
    const uint16_t* b1 = b0 + x.n_chunks * 2 * kTileElements;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t c = 0; c < x.n_chunks; ++c) {
      if (j == 0 && prefetch_next) {
        for (int r = 0; r < kPanelRows; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(panel.next) + r * panel.stride + c * 64, _MM_HINT_T1);
        }
      }
      _tile_loadd(4, weights_top + c * 64, panel.stride);
      _tile_loadd(5, weights_bottom + c * 64, panel.stride);
      _tile_loadd(6, b0 + c * 2 * kTileElements, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, b0 + (c * 2 + 1) * kTileElements, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
      if (pair) {
        _tile_loadd(7, b1 + c * 2 * kTileElements, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(3, 5, 7);
        _tile_loadd(7, b1 + (c * 2 + 1) * kTileElements, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(3, 5, 7);
      }
    }

    const int64_t token0 = token + int64_t(j) * kTileRows;
    const int tokens0 = n_tokens - j * kTileRows < kTileRows ? n_tokens - j * kTileRows : kTileRows;
    store_c_tile(0, c_buffer, w, row, rows_top, token0, tokens0, y);
    if (rows_bottom > 0) store_c_tile(2, c_buffer, w, row + kTileRows, rows_bottom, token0, tokens0, y);
    if (pair) {
      const int64_t token1 = token0 + kTileRows;
      const int tokens1 = n_tokens - (j + 1) * kTileRows < kTileRows ? n_tokens - (j + 1) * kTileRows : kTileRows;
      store_c_tile(1, c_buffer, w, row, rows_top, token1, tokens1, y);
      if (rows_bottom > 0) store_c_tile(3, c_buffer, w, row + kTileRows, rows_bottom, token1, tokens1, y);
    }
  }
}

}  // namespace

bool amx_matmul_supports(DType dtype) {
  return dtype == DType::BF16 || dtype == DType::F16 || dtype == DType::F8_E4M3 || dtype == DType::Q8_0 ||
         dtype == DType::Q4_0;
}

void matmul_amx(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (!amx_matmul_supports(w.dtype)) reference::throw_unsupported_weight("AMX matmul", w.dtype);

  PackJob job;
  job.x = x;
  job.n_tokens = n_tokens;
  job.cols = w.cols;
  job.n_chunks = (w.cols + kTileCols - 1) / kTileCols;
  const int64_t n_token_tiles = (n_tokens + kTileRows - 1) / kTileRows;
  job.out = static_cast<uint16_t*>(matmul_thread_scratch(
      ScratchSlot::Activations, size_t(n_token_tiles * job.n_chunks * 2 * kTileElements) * sizeof(uint16_t)));
  run_parallel(pool, n_token_tiles, pack_token_tiles, &job);

  PackedActivations activations;
  activations.data = job.out;
  activations.n_chunks = job.n_chunks;
  run_tiled_matmul(w, &activations, n_tokens, y, pool, amx_tile, kPanelRows, kCallTokens);
}

}  // namespace brasa
