// AMX-INT8 matmul for Q8_0 weights and 8 or more tokens. Tile A contains 16
// weight rows x one block of 32 int8 values, loaded straight from the Q8_0
// rows with the row stride (the F16 scales between blocks are skipped). Tile B
// contains the same block of 16 tokens' int8 activations, in the 4-byte
// interleaved layout tdpbssd expects, packed once per call. tdpbssd gives the
// exact int32 block sums of 16 rows x 16 tokens, and each is then scaled and
// added as in matmul_q8_0_avx512.cpp:
//   acc = fma(float(sum), weight_scale * activation_scale, acc),
// block after block. Both paths therefore give the same bits for a token,
// whatever the number of tokens in the product.
#pragma GCC target("amx-tile,amx-int8")

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/amx_tile_config.h"
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

constexpr int kTileRows = 16;          // weight rows per A tile, tokens per B tile
constexpr int kCallTokens = 256;       // tokens per tile call
constexpr int64_t kBlockBytes = avx512::kQ8_0BlockBytes;
constexpr int64_t kPackedBlockBytes = 512;  // one B tile: 8 rows of 16 tokens x 4 bytes
constexpr int kTileElements = kTileRows * kTileRows;  // int32 values of a C tile

// Tiles 0-3 accumulate C (16 x 16 int32), 4 and 6 hold weights (16 rows x 32
// bytes), 5 and 7 activations (8 rows x 64 bytes). The C tiles form two sets
// of two blocks each, so the tile unit works on the next pair of blocks while
// the vector units scale the last one.
void load_tile_config() {
  AmxTileConfig config;
  for (int c = 0; c < 4; ++c) config.set(c, kTileRows, 64);
  for (int pair = 0; pair < 2; ++pair) {
    config.set(4 + 2 * pair, kTileRows, 32);
    config.set(5 + 2 * pair, 8, 64);
  }
  _tile_loadconfig(&config);
}

// Activations packed for B tiles. For token tile j and block b, the tile is
// the 512 bytes at q + (j * padded_blocks + b) * 512. Its row i contains, for
// each of the 16 tokens, the token's values 4i to 4i + 3 of the block. The 16
// tokens' scales are at scale + (j * padded_blocks + b) * 16. Tokens past
// n_tokens and the block that pads an odd count to padded_blocks are zero.
struct PackedBlocks {
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  int64_t n_blocks = 0;
  int64_t padded_blocks = 0;
};

int64_t padded_block_count(int64_t n_blocks) { return (n_blocks + 1) / 2 * 2; }

struct PackJob {
  const BlockQuantizedActivations* x = nullptr;
  int8_t* q = nullptr;
  float* scale = nullptr;
};

void pack_token_tiles(const void* context, int64_t begin, int64_t end) {
  const auto& job = *static_cast<const PackJob*>(context);
  const BlockQuantizedActivations& x = *job.x;
  const int64_t padded_blocks = padded_block_count(x.n_blocks);
  for (int64_t j = begin; j < end; ++j) {
    for (int64_t b = 0; b < padded_blocks; ++b) {
      auto* tile = reinterpret_cast<int32_t*>(job.q + (j * padded_blocks + b) * kPackedBlockBytes);
      float* scales = job.scale + (j * padded_blocks + b) * kTileRows;
      for (int n = 0; n < kTileRows; ++n) {
        const int64_t token = j * kTileRows + n;
        if (token >= x.n_tokens || b >= x.n_blocks) {
          for (int i = 0; i < 8; ++i) tile[i * kTileRows + n] = 0;
          scales[n] = 0.0f;
          continue;
        }
        int32_t words[8];
        std::memcpy(words, x.q.data() + (token * x.n_blocks + b) * 32, sizeof(words));
        for (int i = 0; i < 8; ++i) tile[i * kTileRows + n] = words[i];
        scales[n] = x.scale[size_t(token * x.n_blocks + b)];
      }
    }
  }
}

// One group of 16 weight rows as the tile loop reads them. The A tile of
// block b is 16 rows of 32 int8 values at q + b * 34 + r * stride. The rows'
// scales, as F32, are at scale + b * 16 for the n_blocks real blocks. A full group is read in place. A
// partial one is copied into scratch and padded with zero rows, so that tile
// loads stay inside the weight.
struct WeightPanel {
  const uint8_t* q = nullptr;
  size_t stride = 0;
  const float* scale = nullptr;
};

// Prefetches the next panel's rows into L2 a few lines at a time, spread over
// the tile loop. These rows follow the panel's own in memory and come from
// memory at decode sizes. Prefetching all 17 KB of them before the tile loop
// stalled the core until line fill buffers came free. bench-moe's 202,048 x
// 1024 head at 32 tokens then took 22 ms on two threads, against 17.7 ms now.
class NextPanelPrefetch {
 public:
  NextPanelPrefetch(const Weight& w, int64_t row, int64_t steps) {
    next_ = reinterpret_cast<const char*>(w.row(row)) + kTileRows * w.row_stride_bytes;
    const int64_t lines = int64_t(kTileRows * w.row_stride_bytes + 63) / 64;
    lines_per_step_ = (lines + steps - 1) / steps;
    end_ = next_ + lines * 64;
  }

  // Past the matrix a prefetch is a no-op, as it never faults.
  void step() {
    for (int64_t i = 0; i < lines_per_step_ && next_ < end_; ++i, next_ += 64) _mm_prefetch(next_, _MM_HINT_T1);
  }

 private:
  const char* next_ = nullptr;
  const char* end_ = nullptr;
  int64_t lines_per_step_ = 0;
};

WeightPanel prepare_weight_panel(const Weight& w, int64_t row, int n_rows, int64_t n_blocks) {
  const size_t scale_bytes = size_t(n_blocks * kTileRows) * sizeof(float);
  const size_t copy_bytes = n_rows < kTileRows ? kTileRows * w.row_stride_bytes : 0;
  auto* scratch = static_cast<uint8_t*>(matmul_thread_scratch(ScratchSlot::WeightPanel, scale_bytes + copy_bytes));
  auto* scale = reinterpret_cast<float*>(scratch);

  const uint8_t* rows = w.row(row);
  if (copy_bytes > 0) {
    uint8_t* copy = scratch + scale_bytes;
    std::memset(copy, 0, copy_bytes);
    std::memcpy(copy, rows, size_t(n_rows) * w.row_stride_bytes);
    rows = copy;
  }

  alignas(64) int32_t offsets[kTileRows];
  for (int r = 0; r < kTileRows; ++r) offsets[r] = int32_t(r * w.row_stride_bytes);
  const __m512i row_offsets = _mm512_load_si512(offsets);
  for (int64_t b = 0; b < n_blocks; ++b) {
    _mm512_store_ps(scale + b * kTileRows, avx512::q8_0_block_scales(rows, row_offsets, b));
  }
  return WeightPanel{rows + 2, w.row_stride_bytes, scale};
}

// Adds one block's C tile (weight rows x tokens, int32) into acc[r], which
// contains weight row r for the 16 tokens.
// TODO: at decode batches these steps bound the product: bench-moe's 202,048
// x 1024 head takes 22 ms at 32 tokens on two threads, against 7.4 ms to read it.
// Inlined and unrolled, so that acc stays in 16 registers.
__attribute__((always_inline)) inline void scale_block(const int32_t* c, const float* weight_scales,
                                                       const float* token_scales, __m512 acc[kTileRows]) {
  const __m512 activation_scales = _mm512_load_ps(token_scales);
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) {
    const __m512 sums = _mm512_cvtepi32_ps(_mm512_load_si512(c + r * kTileRows));
    const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(weight_scales[r]), activation_scales);
    acc[r] = _mm512_fmadd_ps(sums, scale, acc[r]);
  }
}

// Multiplies two blocks into C tile set `set` (tiles 0 and 1, or 2 and 3):
// weights a0 and a1 (rows `stride` bytes apart) against the two B tiles at b.
// GCC's tile intrinsics are macros that paste the tile number into the
// instruction, so each set needs literal numbers and no template parameter.
void multiply_pair(int set, const uint8_t* a0, const uint8_t* a1, size_t stride, const int8_t* b) {
  _tile_loadd(4, a0, stride);
  _tile_loadd(5, b, 64);
  _tile_loadd(6, a1, stride);
  _tile_loadd(7, b + kPackedBlockBytes, 64);
  if (set == 0) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_dpbssd(0, 4, 5);
    _tile_dpbssd(1, 6, 7);
  } else {
    _tile_zero(2);
    _tile_zero(3);
    _tile_dpbssd(2, 4, 5);
    _tile_dpbssd(3, 6, 7);
  }
}

// Stores C tile set `set` to c: its first tile, then its second.
void store_pair(int set, int32_t* c) {
  if (set == 0) {
    _tile_stored(0, c, 64);
    _tile_stored(1, c + kTileElements, 64);
  } else {
    _tile_stored(2, c, 64);
    _tile_stored(3, c + kTileElements, 64);
  }
}

void amx_tile(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token, int n_tokens,
              float* y) {
  const auto& x = *static_cast<const PackedBlocks*>(activations);
  load_tile_config();
  const WeightPanel panel = prepare_weight_panel(w, row, n_rows, x.n_blocks);
  // The padding block repeats the last block's weights, which stay inside the
  // rows, against zero activations; its scaling is skipped.
  const int64_t last_block = x.n_blocks - 1;
  alignas(64) int32_t c_buffers[2][2 * kTileElements];  // two pairs of C tiles
  alignas(64) int32_t row_offsets[kTileRows];
  for (int r = 0; r < kTileRows; ++r) row_offsets[r] = r * kTileRows;
  const __m512i transpose_offsets = _mm512_load_si512(row_offsets);
  const __mmask16 row_mask = avx512::first_lanes(n_rows);
  alignas(64) float transposed[kTileElements];

  // run_tiled_matmul starts every call on a multiple of kCallTokens, so
  // `token` begins a whole B tile.
  const int64_t first_tile = token / kTileRows;
  const int n_tiles = (n_tokens + kTileRows - 1) / kTileRows;
  const int64_t n_pairs = x.padded_blocks / 2;
  NextPanelPrefetch prefetch(w, row, n_tiles * (n_pairs + 2));
  for (int j = 0; j < n_tiles; ++j) {
    const int8_t* b_tiles = x.q + (first_tile + j) * x.padded_blocks * kPackedBlockBytes;
    const float* scales = x.scale + (first_tile + j) * x.padded_blocks * kTileRows;
    __m512 acc[kTileRows];
    for (int r = 0; r < kTileRows; ++r) acc[r] = _mm512_setzero_ps();

    // A two-stage pipeline over pairs of blocks. Iteration k multiplies pair
    // k into C tile set k % 2 and stores pair k - 1 to memory. It then scales
    // pair k - 2, whose stores have had a whole iteration to complete. The
    // scaling skips the padding block.
    for (int64_t k = 0; k < n_pairs + 2; ++k) {
      prefetch.step();
      if (k < n_pairs) {
        const int64_t b = 2 * k;
        const uint8_t* a0 = panel.q + b * kBlockBytes;
        const uint8_t* a1 = panel.q + (b + 1 <= last_block ? b + 1 : last_block) * kBlockBytes;
        const int8_t* bt = b_tiles + b * kPackedBlockBytes;
        multiply_pair(int(k % 2), a0, a1, panel.stride, bt);
      }
      if (k >= 1 && k <= n_pairs) {
        store_pair(int((k - 1) % 2), c_buffers[(k - 1) % 2]);
      }
      if (k >= 2) {
        const int64_t b = 2 * (k - 2);
        const int32_t* c = c_buffers[k % 2];
        scale_block(c, panel.scale + b * kTileRows, scales + b * kTileRows, acc);
        if (b + 1 < x.n_blocks) {
          scale_block(c + kTileElements, panel.scale + (b + 1) * kTileRows, scales + (b + 1) * kTileRows, acc);
        }
      }
    }

    // acc[r] contains row r for 16 tokens, and y is tokens x rows. Each
    // token's 16 rows are gathered from a copy of acc and stored in one
    // contiguous write. Scattering acc[r] instead would touch a page per token
    // for every row, since tokens lie w.rows floats apart (808 KB for a
    // 202,048-row output head).
    const int64_t token0 = token + int64_t(j) * kTileRows;
    const int tokens = n_tokens - j * kTileRows < kTileRows ? n_tokens - j * kTileRows : kTileRows;
    for (int r = 0; r < kTileRows; ++r) _mm512_store_ps(transposed + r * kTileRows, acc[r]);
    for (int n = 0; n < tokens; ++n) {
      const __m512 rows_of_token =
          _mm512_mask_i32gather_ps(_mm512_setzero_ps(), row_mask, transpose_offsets, transposed + n, 4);
      _mm512_mask_storeu_ps(y + (token0 + n) * w.rows + row, row_mask, rows_of_token);
    }
  }
}

}  // namespace

void matmul_q8_0_amx(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.dtype != DType::Q8_0) reference::throw_unsupported_weight("AMX-INT8 matmul", w.dtype);
  BlockQuantizedActivations& quantized = thread_block_quantized_activations();
  quantize_activation_blocks(x, n_tokens, w.cols, pool, quantized, quantize_blocks_avx512);

  const int64_t n_token_tiles = (n_tokens + kTileRows - 1) / kTileRows;
  const int64_t padded_blocks = padded_block_count(quantized.n_blocks);
  const size_t q_bytes = size_t(n_token_tiles * padded_blocks * kPackedBlockBytes);
  const size_t scale_bytes = size_t(n_token_tiles * padded_blocks * kTileRows) * sizeof(float);
  auto* packed = static_cast<uint8_t*>(matmul_thread_scratch(ScratchSlot::Activations, q_bytes + scale_bytes));
  PackJob job;
  job.x = &quantized;
  job.q = reinterpret_cast<int8_t*>(packed);
  job.scale = reinterpret_cast<float*>(packed + q_bytes);
  run_parallel(pool, n_token_tiles, pack_token_tiles, &job);

  PackedBlocks blocks;
  blocks.q = job.q;
  blocks.scale = job.scale;
  blocks.n_blocks = quantized.n_blocks;
  blocks.padded_blocks = padded_blocks;
  run_tiled_matmul(w, &blocks, n_tokens, y, pool, amx_tile, kTileRows, kCallTokens);
}

}  // namespace brasa
