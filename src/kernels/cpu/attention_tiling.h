#pragma once

#include <cstdint>
#include <functional>

#include "kernels/backend.h"

namespace brasa {

class ThreadPool;

// Attention for the query heads of one KV head (a GQA group) at one token of one
// sequence: reads args.q and writes args.out for heads
// [kv_head * group, (kv_head + 1) * group), where group = n_heads / n_kv_heads.
// scratch has attention_scratch_floats(args) floats owned by the calling thread.
// The SIMD files take scratch from here and never allocate, because a standard
// library template they instantiate could be linked into portable code.
using AttentionGroupKernel = void (*)(const AttentionArgs& args, const AttentionSequence& sequence, int32_t token,
                                      int32_t kv_head, float* scratch);

// Scratch floats: per query head a running max, a running sum and a head_dim
// accumulator, then one KV block of scores with 16 floats of padding. An F16
// pool adds the F16-rounded queries of the group, one KV block of keys and of
// values widened to F32, and one KV block of softmax weights.
inline int64_t attention_scratch_floats(const AttentionArgs& args) {
  const int64_t group = args.n_heads / args.n_kv_heads;
  const int64_t block_size = args.pool->block_size;
  const int64_t f32_floats = group * (args.head_dim + 2) + block_size + 16;
  if (args.pool->dtype != DType::F16) return f32_floats;
  return f32_floats + group * args.head_dim + 2 * block_size * args.head_dim + block_size + 16;
}

// Validates the arguments and runs the kernel for every (sequence, KV head, token)
// in parallel. Items are numbered KV-head-major inside each sequence, so a long
// prompt splits by heads and each thread gets about the same causal work.
void run_attention_groups(const AttentionArgs& args, ThreadPool& pool, AttentionGroupKernel kernel);

}  // namespace brasa
