#pragma once

#include <cstdint>
#include <functional>

#include "kernels/backend.h"

namespace brasa {

class ThreadPool;

// Attention for the query heads of one KV head (a GQA group) at one token of one
// sequence: reads args.q and writes args.out for heads
// [kv_head * group, (kv_head + 1) * group), where group = n_heads / n_kv_heads.
using AttentionGroupKernel = void (*)(const AttentionArgs& args, const AttentionSequence& sequence, int32_t token,
                                      int32_t kv_head);

// Validates the arguments and runs the kernel for every (sequence, KV head, token)
// in parallel. Items are numbered KV-head-major inside each sequence, so a long
// prompt splits by heads and each thread gets about the same causal work.
void run_attention_groups(const AttentionArgs& args, ThreadPool& pool, AttentionGroupKernel kernel);

}  // namespace brasa
