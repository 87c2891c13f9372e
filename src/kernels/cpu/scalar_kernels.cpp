#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/reference_kernels.h"

namespace brasa {

namespace {

void scalar_matmul(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  pool.parallel_for(w.rows, [&](int64_t begin, int64_t end) { reference::matmul_rows(w, x, n_tokens, y, begin, end); });
}

// Work items are (sequence, head, token) triples, numbered head-major inside each
// sequence, so contiguous ranges split a long prompt by heads and keep each
// thread's causal work about equal.
void scalar_attention(const AttentionArgs& args, ThreadPool& pool) {
  reference::validate_attention(args);
  std::vector<int64_t> first_item(args.sequences.size() + 1, 0);
  for (size_t s = 0; s < args.sequences.size(); ++s) {
    first_item[s + 1] = first_item[s] + int64_t(args.sequences[s].n_tokens) * args.n_heads;
  }

  pool.parallel_for(first_item.back(), [&](int64_t begin, int64_t end) {
    size_t s = size_t(std::upper_bound(first_item.begin(), first_item.end(), begin) - first_item.begin()) - 1;
    for (int64_t item = begin; item < end; ++item) {
      while (item >= first_item[s + 1]) ++s;
      const AttentionSequence& sequence = args.sequences[s];
      const int64_t local = item - first_item[s];
      const int32_t head = int32_t(local / sequence.n_tokens);
      const int32_t token = int32_t(local % sequence.n_tokens);
      reference::attention_row(args, sequence, token, head);
    }
  });
}

}  // namespace

const CpuKernels& scalar_cpu_kernels() {
  static const CpuKernels kernels = [] {
    CpuKernels k;
    k.isa = "scalar";
    k.matmul = scalar_matmul;
    k.attention = scalar_attention;
    k.rms_norm_row = reference::rms_norm_row;
    k.swiglu = reference::swiglu;
    k.add = reference::add;
    return k;
  }();
  return kernels;
}

}  // namespace brasa
