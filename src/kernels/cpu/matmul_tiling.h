#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight.h"

namespace brasa {

class ThreadPool;

// Computes y[t][r] for rows [row, row + n_rows) and tokens [token, token + n_tokens)
// of a matmul, with n_rows <= the tiling's tile_rows and n_tokens <= tile_tokens.
// activations (the F32 x, or its quantized form) and y are the whole matrices.
using MatmulTile = void (*)(const Weight& w, int64_t row, int n_rows, const void* activations, int64_t token,
                            int n_tokens, float* y);

// Runs a matmul as a grid of register tiles: threads split the rows, and each
// thread walks token blocks small enough that their activations stay in L2,
// so a weight row loaded once serves every token of a tile.
void run_tiled_matmul(const Weight& w, const void* activations, int64_t n_tokens, float* y, ThreadPool& pool,
                      MatmulTile tile, int tile_rows, int tile_tokens);

// A task that processes items [begin, end), with its shared state in context.
using RangeTask = void (*)(const void* context, int64_t begin, int64_t end);

// Splits items [0, n) over the pool. The SIMD files call this instead of
// ThreadPool::parallel_for, whose std::function they must not instantiate.
void run_parallel(ThreadPool& pool, int64_t n, RangeTask task, const void* context);

// Scratch that belongs to the calling thread, 64-byte aligned and reused across
// calls. Each slot is a separate buffer; its contents are undefined on return.
enum class ScratchSlot { Activations, WeightPanel, Count };
void* matmul_thread_scratch(ScratchSlot slot, size_t bytes);

}  // namespace brasa
