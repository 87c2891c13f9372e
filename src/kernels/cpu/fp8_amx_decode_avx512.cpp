// E4M3 and BF16 matmul for decode on AMX BF16 tiles. With F32 FMA, each extra
// token costs four FMAs per 64 weights of a row on top of the conversion, so
// the FMA kernel slows down almost linearly with the token count. Here the
// vector units only convert: the byte lookups of E4m3ToBf16 turn 64 weights
// of a row into 64 BF16 values (BF16 weights are only rearranged), which are
// stored into A tiles of 16 rows. tdpbf16ps
// then does the multiply-adds for up to 16 tokens on the tile unit.
// On a 4096 x 4096 weight (kernels_bench BM_DecodeFp8VsBf16, one Sapphire
// Rapids thread, CPU time) it took 1.05 ms for 2 tokens, 1.12 ms for 3 and
// 1.69 ms for 8, against 1.18, 2.05 and 4.54 ms with FMA. For 1 token both
// took about 1.0 ms: the tile loads and tdpbf16ps add to the conversion
// instead of running beside it.
//
// Each F32 activation x is split into three BF16 parts, x = high + middle +
// low, which is exact: high keeps the top 8 significant bits, and each
// remainder is exact in F32 and has at most 16, then 8, significant bits left.
// Every (token, part) pair is one column of B and C, so one token takes 3 of
// the 16 columns of a tile, and the three columns of each row are added at
// the end. BF16 products are exact in F32, so the result is an exact matmul
// up to the F32 rounding of the sums, in a different order than the FMA path.
#pragma GCC target("avx512vbmi,amx-tile,amx-bf16")

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/amx_tile_config.h"
#include "kernels/cpu/fp8_amx_decode.h"
#include "kernels/cpu/fp8_bf16_avx512.h"
#include "kernels/cpu/matmul_tiling.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/cpu/vector_math_avx512.h"

// GCC 12 flags the self-initialized placeholder inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace brasa {

namespace {

constexpr int64_t kChunk = 64;           // E4M3 columns per A tile pair: an even and an odd half
constexpr int kBlockRows = 16;           // weight rows per A tile
constexpr int kTileRows = 16;            // column pairs per B tile
constexpr int kParts = 3;                // BF16 parts per activation
constexpr int kGroupTokens = 16;         // tokens per pass over the weight
constexpr int kMaxTileColumns = 16;      // F32 columns of a C tile

// Tile registers for 2 and 3 column tiles: the even and odd halves of the
// weights in 0 and 1, the matching halves of the activations in 2 and 3, and
// C accumulators in 4-7. Each column tile gets as many accumulators as the
// four allow (kAccumulatorsPerColumnTile), and their sums are added at the
// end. One column tile (up to 5 tokens) uses the layout of
// multiply_block_pairs instead. GCC's AMX intrinsics paste the tile number
// into the assembly text, so the calls below spell these numbers as literals.
constexpr int kAccumulatorTiles = 4;
constexpr int kLastTile = 7;

template <int ColumnTiles>
constexpr int kAccumulatorsPerColumnTile = kAccumulatorTiles / ColumnTiles;

// Configures A tiles as 16 x 64 bytes and the other tiles with `columns` F32
// or BF16-pair columns. A tiles are 0 and 1, and with `paired_blocks` also 4
// and 5 (see multiply_block_pairs).
void load_tile_config(int columns, bool paired_blocks) {
  AmxTileConfig config;
  for (int tile = 0; tile <= kLastTile; ++tile) {
    const bool weights = tile == 0 || tile == 1 || (paired_blocks && (tile == 4 || tile == 5));
    config.set(tile, kTileRows, weights ? 64 : 4 * columns);
  }
  _tile_loadconfig(&config);
}

// Activations of one token group as B tiles. Column g of the group is part
// g % 3 of token g / 3, and the columns are dealt into column_tiles tiles of
// `columns` each, zero past 3 * n_tokens. Column tile j is a row-major matrix
// of n_chunks * 2 * 16 rows of `columns` dwords at data + j * matrix_dwords.
// For column chunk c, row (2 * c + half) * 16 + i contains the pair of
// activation columns 64c + 4i + half and 64c + 4i + 2 + half. That matches
// E4m3ToBf16::convert, which puts weight columns 4i and 4i + 2 (even) or
// 4i + 1 and 4i + 3 (odd) into dword i of its outputs.
struct PackedActivations {
  const uint32_t* data = nullptr;
  int64_t n_chunks = 0;
  int64_t matrix_dwords = 0;
  int columns = 0;
  int column_tiles = 0;
  int n_tokens = 0;
};

__m512 bf16_to_f32(__m256i bf16) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bf16), 16)); }

// Splits 16 floats into three BF16 parts with x = high + middle + low. Each
// subtraction is exact, so only tdpbf16ps's flushing of BF16 subnormals can
// lose a part, for |x| below about 2^-110.
void split_three(__m512 x, __m256i& high, __m256i& middle, __m256i& low) {
  high = (__m256i)_mm512_cvtneps_pbh(x);
  const __m512 rest = _mm512_sub_ps(x, bf16_to_f32(high));
  middle = (__m256i)_mm512_cvtneps_pbh(rest);
  low = (__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(rest, bf16_to_f32(middle)));
}

// Writes the activations of tokens [0, n_tokens) of x into `out` in the
// PackedActivations layout. `out` has room for column_tiles * matrix_dwords.
void pack_activations(const float* x, int64_t cols, const PackedActivations& layout, uint32_t* out) {
  std::memset(out, 0, size_t(layout.column_tiles * layout.matrix_dwords) * sizeof(uint32_t));

  for (int t = 0; t < layout.n_tokens; ++t) {
    const float* row = x + t * cols;
    for (int64_t c = 0; c < layout.n_chunks; ++c) {
      // The three parts of the chunk's 64 columns, in column order.
      alignas(64) uint16_t parts[kParts][kChunk];
      for (int q = 0; q < 4; ++q) {
        const int64_t col = c * kChunk + 16 * q;
        __m256i split[kParts];
        split_three(_mm512_maskz_loadu_ps(avx512::first_lanes(cols - col), row + col), split[0], split[1], split[2]);
        for (int p = 0; p < kParts; ++p) _mm256_store_si256(reinterpret_cast<__m256i*>(parts[p] + 16 * q), split[p]);
      }

      for (int p = 0; p < kParts; ++p) {
        const int column = kParts * t + p;
        uint32_t* matrix = out + (column / layout.columns) * layout.matrix_dwords + column % layout.columns;
        for (int half = 0; half < 2; ++half) {
          for (int i = 0; i < kTileRows; ++i) {
            const uint32_t pair = uint32_t(parts[p][4 * i + half]) | uint32_t(parts[p][4 * i + 2 + half]) << 16;
            matrix[((2 * c + half) * kTileRows + i) * layout.columns] = pair;
          }
        }
      }
    }
  }
}

struct RowBlockJob {
  const Weight* w = nullptr;
  PackedActivations activations;
  int64_t first_token = 0;
  float* y = nullptr;
};

// E4M3 weights: 64 codes of a row become the even and odd A tile halves
// through the byte lookups of E4m3ToBf16. Masked-off bytes load as code 0,
// which converts to +0.
struct Fp8Rows {
  avx512::E4m3ToBf16 converter;

  void convert(const uint8_t* row, int64_t c, __mmask64 mask, __m512i& even, __m512i& odd) const {
    converter.convert(_mm512_maskz_loadu_epi8(mask, row + c), even, odd);
  }
};

// BF16 weights: 64 values of a row are only rearranged into the layout that
// Fp8Rows produces. There dword i of the even half contains columns 4i and
// 4i + 2, and dword i of the odd half columns 4i + 1 and 4i + 3.
struct Bf16Rows {
  __m512i even_index;
  __m512i odd_index;

  Bf16Rows() {
    alignas(64) uint16_t even_words[32];
    alignas(64) uint16_t odd_words[32];
    for (int i = 0; i < 16; ++i) {
      even_words[2 * i] = uint16_t(4 * i);
      even_words[2 * i + 1] = uint16_t(4 * i + 2);
      odd_words[2 * i] = uint16_t(4 * i + 1);
      odd_words[2 * i + 1] = uint16_t(4 * i + 3);
    }
    even_index = _mm512_load_si512(even_words);
    odd_index = _mm512_load_si512(odd_words);
  }

  void convert(const uint8_t* row, int64_t c, __mmask64 mask, __m512i& even, __m512i& odd) const {
    const auto* values = reinterpret_cast<const uint16_t*>(row) + c;
    const __m512i low = _mm512_maskz_loadu_epi16(__mmask32(mask), values);
    const __m512i high = _mm512_maskz_loadu_epi16(__mmask32(mask >> 32), values + 32);
    even = _mm512_permutex2var_epi16(low, even_index, high);
    odd = _mm512_permutex2var_epi16(low, odd_index, high);
  }
};

// Converts 64 columns of 16 rows into the even and odd A tile halves, 64
// bytes per row each.
template <class Rows>
void convert_chunk(const Rows& source, const uint8_t* const* rows, int64_t c, __mmask64 mask, uint16_t* even,
                   uint16_t* odd) {
#pragma GCC unroll 16
  for (int r = 0; r < kBlockRows; ++r) {
    __m512i even_values, odd_values;
    source.convert(rows[r], c, mask, even_values, odd_values);
    _mm512_store_si512(even + r * 32, even_values);
    _mm512_store_si512(odd + r * 32, odd_values);
  }
}

// Multiplies the A tile halves of column chunk c with its activations, for
// 2 or 3 column tiles.
template <int ColumnTiles>
void multiply_chunk(const PackedActivations& x, int64_t c, const uint16_t* even, const uint16_t* odd) {
  const int stride = 4 * x.columns;
  const uint32_t* even_rows = x.data + 2 * c * kTileRows * x.columns;
  const uint32_t* odd_rows = even_rows + kTileRows * x.columns;
  _tile_loadd(0, even, 64);
  _tile_loadd(1, odd, 64);
  _tile_loadd(2, even_rows, stride);
  _tile_loadd(3, odd_rows, stride);

  if constexpr (ColumnTiles == 2) {
    _tile_dpbf16ps(4, 0, 2);
    _tile_dpbf16ps(5, 1, 3);
    _tile_loadd(2, even_rows + x.matrix_dwords, stride);
    _tile_loadd(3, odd_rows + x.matrix_dwords, stride);
    _tile_dpbf16ps(6, 0, 2);
    _tile_dpbf16ps(7, 1, 3);
  } else {
    _tile_dpbf16ps(4, 0, 2);
    _tile_dpbf16ps(4, 1, 3);
    _tile_loadd(2, even_rows + x.matrix_dwords, stride);
    _tile_loadd(3, odd_rows + x.matrix_dwords, stride);
    _tile_dpbf16ps(5, 0, 2);
    _tile_dpbf16ps(5, 1, 3);
    _tile_loadd(2, even_rows + 2 * x.matrix_dwords, stride);
    _tile_loadd(3, odd_rows + 2 * x.matrix_dwords, stride);
    _tile_dpbf16ps(6, 0, 2);
    _tile_dpbf16ps(6, 1, 3);
  }
}

// Stores accumulator tiles 4-7 one after another into `out`, 16 rows of
// `columns` floats each.
void store_accumulators(int columns, float* out) {
  const int stride = int(sizeof(float)) * columns;
  const int tile_floats = kTileRows * columns;
  _tile_stored(4, out, stride);
  _tile_stored(5, out + tile_floats, stride);
  _tile_stored(6, out + 2 * tile_floats, stride);
  _tile_stored(7, out + 3 * tile_floats, stride);
}

__mmask64 chunk_mask(int64_t cols, int64_t col) {
  return cols - col >= kChunk ? ~__mmask64(0) : (__mmask64(1) << (cols - col)) - 1;
}

// Points rows at the 16 rows of `block`. Rows past the weight repeat its last
// row, and their sums are dropped. Returns the number of real rows.
int block_rows(const Weight& w, int64_t block, const uint8_t** rows) {
  const int64_t first_row = block * kBlockRows;
  const int n_rows = int(kBlockRows < w.rows - first_row ? kBlockRows : w.rows - first_row);
  for (int r = 0; r < kBlockRows; ++r) rows[r] = w.row(first_row + (r < n_rows ? r : n_rows - 1));
  return n_rows;
}

// Writes y for the n_rows rows of `block` from stored C tiles: for column
// tile j, `accumulators` tiles of 16 rows of x.columns floats, one after
// another from sums + j * accumulators * 16 * x.columns.
void write_block(const RowBlockJob& job, int64_t block, int n_rows, const float* sums, int accumulators) {
  const Weight& w = *job.w;
  const PackedActivations& x = job.activations;
  const int tile_floats = kTileRows * x.columns;
  const int64_t first_row = block * kBlockRows;
  for (int r = 0; r < n_rows; ++r) {
    const float scale = w.row_scale != nullptr ? w.row_scale[first_row + r] : 1.0f;
    for (int t = 0; t < x.n_tokens; ++t) {
      float parts[kParts];
      for (int p = 0; p < kParts; ++p) {
        const int column = kParts * t + p;
        const float* tiles = sums + (column / x.columns) * accumulators * tile_floats;
        const int offset = r * x.columns + column % x.columns;
        parts[p] = 0.0f;
        for (int a = 0; a < accumulators; ++a) parts[p] += tiles[a * tile_floats + offset];
      }
      // Smallest part first, so that the small sums are not rounded away.
      const float sum = (parts[2] + parts[1]) + parts[0];
      job.y[(job.first_token + t) * w.rows + first_row + r] = sum * scale;
    }
  }
}

// Multiplies the A tile halves of chunk c of two row blocks with the
// chunk's activations, loaded once for both (see multiply_block_pairs).
inline void multiply_chunk_pair(const PackedActivations& x, int64_t c, const uint16_t* first_even,
                                const uint16_t* first_odd, const uint16_t* second_even, const uint16_t* second_odd) {
  const int stride = 4 * x.columns;
  const uint32_t* even_activations = x.data + 2 * c * kTileRows * x.columns;
  const uint32_t* odd_activations = even_activations + kTileRows * x.columns;
  _tile_loadd(2, even_activations, stride);
  _tile_loadd(3, odd_activations, stride);
  _tile_loadd(0, first_even, 64);
  _tile_loadd(1, first_odd, 64);
  _tile_dpbf16ps(6, 0, 2);
  _tile_dpbf16ps(6, 1, 3);
  _tile_loadd(4, second_even, 64);
  _tile_loadd(5, second_odd, 64);
  _tile_dpbf16ps(7, 4, 2);
  _tile_dpbf16ps(7, 5, 3);
}

// Row blocks 2p and 2p + 1 for p in [begin, end), with a single column tile
// (up to 5 tokens). Both blocks share each load of the activation tiles:
// weights in tiles 0-1 and 4-5, activations in 2-3, C in 6 and 7. On one
// Sapphire Rapids thread this took about 1.0 ms for a 4096 x 4096 weight and
// 1 token, against 1.10 ms with one block per pass.
template <class Rows>
void multiply_block_pairs(const void* context, int64_t begin, int64_t end) {
  const auto& job = *static_cast<const RowBlockJob*>(context);
  const Weight& w = *job.w;
  const PackedActivations& x = job.activations;
  load_tile_config(x.columns, true);
  const Rows converter;
  const int64_t n_blocks = (w.rows + kBlockRows - 1) / kBlockRows;
  const int64_t full_chunks = w.cols / kChunk;
  const int stride = 4 * x.columns;

  // A tile halves of the first and second block by chunk parity, so that
  // converting chunk c + 1 need not wait for the tile loads of chunk c.
  alignas(64) uint16_t first_even[2][kBlockRows * 32];
  alignas(64) uint16_t first_odd[2][kBlockRows * 32];
  alignas(64) uint16_t second_even[2][kBlockRows * 32];
  alignas(64) uint16_t second_odd[2][kBlockRows * 32];
  alignas(64) float sums[2 * kTileRows * kMaxTileColumns];
  float* second_sums = sums + kTileRows * x.columns;

  for (int64_t pair = begin; pair < end; ++pair) {
    // An odd block count pairs the last block with itself, and the copy's
    // sums are dropped.
    const int64_t first_block = 2 * pair;
    const int64_t second_block = (first_block + 1 < n_blocks ? first_block + 1 : n_blocks - 1);
    const uint8_t* first_rows[kBlockRows];
    const uint8_t* second_rows[kBlockRows];
    const int first_n_rows = block_rows(w, first_block, first_rows);
    const int second_n_rows = block_rows(w, second_block, second_rows);

    // Whole chunks take an all-ones mask and the partial chunk its own, so
    // that the loop computes no mask per chunk.
    _tile_zero(6);
    _tile_zero(7);
    for (int64_t c = 0; c < full_chunks; ++c) {
      const int parity = int(c & 1);
      convert_chunk(converter, first_rows, c * kChunk, ~__mmask64(0), first_even[parity], first_odd[parity]);
      convert_chunk(converter, second_rows, c * kChunk, ~__mmask64(0), second_even[parity], second_odd[parity]);
      multiply_chunk_pair(x, c, first_even[parity], first_odd[parity], second_even[parity], second_odd[parity]);
    }
    if (full_chunks < x.n_chunks) {
      const int64_t col = full_chunks * kChunk;
      const __mmask64 mask = chunk_mask(w.cols, col);
      convert_chunk(converter, first_rows, col, mask, first_even[0], first_odd[0]);
      convert_chunk(converter, second_rows, col, mask, second_even[0], second_odd[0]);
      multiply_chunk_pair(x, full_chunks, first_even[0], first_odd[0], second_even[0], second_odd[0]);
    }
    _tile_stored(6, sums, stride);
    _tile_stored(7, second_sums, stride);

    write_block(job, first_block, first_n_rows, sums, 1);
    if (second_block != first_block) write_block(job, second_block, second_n_rows, second_sums, 1);
  }
  _tile_release();
}

// Row blocks [begin, end) one at a time, for 2 or 3 column tiles.
template <class Rows, int ColumnTiles>
void multiply_row_blocks(const void* context, int64_t begin, int64_t end) {
  const auto& job = *static_cast<const RowBlockJob*>(context);
  const Weight& w = *job.w;
  const PackedActivations& x = job.activations;
  load_tile_config(x.columns, false);
  const Rows converter;

  alignas(64) uint16_t even[kBlockRows * 32];
  alignas(64) uint16_t odd[kBlockRows * 32];
  alignas(64) float sums[kAccumulatorTiles * kTileRows * kMaxTileColumns];

  for (int64_t block = begin; block < end; ++block) {
    const uint8_t* rows[kBlockRows];
    const int n_rows = block_rows(w, block, rows);

    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
    for (int64_t c = 0; c < x.n_chunks; ++c) {
      const int64_t col = c * kChunk;
      convert_chunk(converter, rows, col, chunk_mask(w.cols, col), even, odd);
      multiply_chunk<ColumnTiles>(x, c, even, odd);
    }
    store_accumulators(x.columns, sums);
    write_block(job, block, n_rows, sums, kAccumulatorsPerColumnTile<ColumnTiles>);
  }
  _tile_release();
}

template <class Rows>
void amx_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.rows == 0 || n_tokens == 0) return;

  const int64_t n_chunks = (w.cols + kChunk - 1) / kChunk;
  const int64_t n_blocks = (w.rows + kBlockRows - 1) / kBlockRows;
  for (int64_t first_token = 0; first_token < n_tokens; first_token += kGroupTokens) {
    // Spread the group's columns evenly over the fewest C tiles, so that the
    // last tile has the least padding.
    const int group = int(kGroupTokens < n_tokens - first_token ? kGroupTokens : n_tokens - first_token);
    const int total_columns = kParts * group;
    RowBlockJob job;
    job.w = &w;
    job.first_token = first_token;
    job.y = y;
    PackedActivations& layout = job.activations;
    layout.n_tokens = group;
    layout.n_chunks = n_chunks;
    layout.column_tiles = (total_columns + kMaxTileColumns - 1) / kMaxTileColumns;
    layout.columns = (total_columns + layout.column_tiles - 1) / layout.column_tiles;
    layout.matrix_dwords = n_chunks * 2 * kTileRows * layout.columns;

    auto* packed = static_cast<uint32_t*>(matmul_thread_scratch(
        ScratchSlot::Activations, size_t(layout.column_tiles * layout.matrix_dwords) * sizeof(uint32_t)));
    pack_activations(x + first_token * w.cols, w.cols, layout, packed);
    layout.data = packed;

    switch (layout.column_tiles) {
      case 1: run_parallel(pool, (n_blocks + 1) / 2, multiply_block_pairs<Rows>, &job); break;
      case 2: run_parallel(pool, n_blocks, multiply_row_blocks<Rows, 2>, &job); break;
      default: run_parallel(pool, n_blocks, multiply_row_blocks<Rows, 3>, &job); break;
    }
  }
}

}  // namespace

void matmul_fp8_amx_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.dtype != DType::F8_E4M3) reference::throw_unsupported_weight("FP8 AMX decode matmul", w.dtype);
  amx_decode<Fp8Rows>(w, x, n_tokens, y, pool);
}

void matmul_bf16_amx_decode(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.dtype != DType::BF16) reference::throw_unsupported_weight("BF16 AMX decode matmul", w.dtype);
  amx_decode<Bf16Rows>(w, x, n_tokens, y, pool);
}

}  // namespace brasa
