#include "kernels/cpu/matmul_tiling.h"

#include <algorithm>

#include "core/thread_pool.h"

namespace brasa {

namespace {

// Activation bytes a token block may take, sized to stay well inside a 1-2 MiB L2.
constexpr int64_t kTokenBlockBytes = 512 * 1024;

// Rows handed out together, so each thread's range starts on a full tile.
constexpr int64_t kRowGroup = 16;

}  // namespace

void run_tiled_matmul(const Weight& w, const void* activations, int64_t n_tokens, float* y, ThreadPool& pool,
                      MatmulTile tile, int tile_rows, int tile_tokens) {
  const int64_t row_bytes = std::max<int64_t>(1, w.cols * int64_t(sizeof(float)));
  int64_t token_block = std::max<int64_t>(tile_tokens, kTokenBlockBytes / row_bytes);
  token_block = token_block / tile_tokens * tile_tokens;

  const int64_t n_groups = (w.rows + kRowGroup - 1) / kRowGroup;
  pool.parallel_for(n_groups, [&](int64_t group_begin, int64_t group_end) {
    const int64_t row_begin = group_begin * kRowGroup;
    const int64_t row_end = std::min(w.rows, group_end * kRowGroup);
    for (int64_t block = 0; block < n_tokens; block += token_block) {
      const int64_t block_end = std::min(n_tokens, block + token_block);
      for (int64_t r = row_begin; r < row_end; r += tile_rows) {
        const int rows = int(std::min<int64_t>(tile_rows, row_end - r));
        for (int64_t t = block; t < block_end; t += tile_tokens) {
          const int tokens = int(std::min<int64_t>(tile_tokens, block_end - t));
          tile(w, r, rows, activations, t, tokens, y);
        }
      }
    }
  });
}

}  // namespace brasa
