#include "kernels/cpu/attention_tiling.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/reference_kernels.h"

namespace brasa {

void run_attention_groups(const AttentionArgs& args, ThreadPool& pool, AttentionGroupKernel kernel) {
  reference::validate_attention(args);
  std::vector<int64_t> first_item(args.sequences.size() + 1, 0);
  for (size_t s = 0; s < args.sequences.size(); ++s) {
    first_item[s + 1] = first_item[s] + int64_t(args.sequences[s].n_tokens) * args.n_kv_heads;
  }

  pool.parallel_for(first_item.back(), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(size_t(attention_scratch_floats(args)));
    size_t s = size_t(std::upper_bound(first_item.begin(), first_item.end(), begin) - first_item.begin()) - 1;
    for (int64_t item = begin; item < end; ++item) {
      while (item >= first_item[s + 1]) ++s;
      const AttentionSequence& sequence = args.sequences[s];
      const int64_t local = item - first_item[s];
      kernel(args, sequence, int32_t(local % sequence.n_tokens), int32_t(local / sequence.n_tokens), scratch.data());
    }
  });
}

}  // namespace brasa
