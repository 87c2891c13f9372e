#include "kernels/cpu/matmul_tiling.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "core/thread_pool.h"

namespace brasa {

namespace {

// Activation bytes a token block may take, sized to stay well inside a 1-2 MiB L2.
constexpr int64_t kTokenBlockBytes = 512 * 1024;

// Rows handed out together, so each thread's range starts on a full tile.
constexpr int64_t kRowGroup = 16;

// A growable 64-byte aligned buffer, freed when its thread exits.
struct AlignedBuffer {
  void* data = nullptr;
  size_t size = 0;
  ~AlignedBuffer() { std::free(data); }
};

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

void run_parallel(ThreadPool& pool, int64_t n, RangeTask task, const void* context) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) { task(context, begin, end); });
}

void* matmul_thread_scratch(ScratchSlot slot, size_t bytes) {
  thread_local AlignedBuffer buffers[size_t(ScratchSlot::Count)];
  AlignedBuffer& buffer = buffers[size_t(slot)];
  if (buffer.size < bytes) {
    std::free(buffer.data);
    buffer.data = nullptr;
    buffer.size = 0;
    const size_t rounded = (bytes + 63) / 64 * 64;
    buffer.data = std::aligned_alloc(64, rounded);
    if (buffer.data == nullptr) throw std::bad_alloc();
    buffer.size = rounded;
  }
  return buffer.data;
}

}  // namespace brasa
