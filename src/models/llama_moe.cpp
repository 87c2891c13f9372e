#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/llama_model.h"

namespace brasa {

// Llama 4 MoE feed-forward, as HF transformers' Llama4TextMoe computes it. Each
// token keeps its top-k router logits, and the sigmoid of a kept logit scales the
// token's INPUT to that expert. The shared expert runs on the unscaled input, and
// its output is added to the sum of the routed outputs.
void LlamaModel::moe(const LayerWeights& w, int64_t n_tokens, const float* x, float* out) {
  const int64_t hidden = config_.hidden_size;
  const int32_t n_experts = config_.n_experts;
  const int32_t top_k = config_.n_experts_per_tok;
  const int64_t inter = w.mlp.gate.rows;

  // 1. Router logits and the top-k choice per token (ties go to the lower expert id).
  float* logits = scratch(router_logits_, size_t(n_tokens * n_experts));
  // Rounded activations could flip a near-tied top-k choice, which changes
  // the token's output far more than the rounding itself.
  Weight router = w.router;
  router.exact_activations = true;
  backend_.matmul(router, x, n_tokens, logits);

  auto& by_expert = expert_assignments_;
  by_expert.resize(static_cast<size_t>(n_experts));
  for (auto& assigned : by_expert) assigned.clear();
  std::vector<int32_t>& order = expert_order_;
  order.resize(static_cast<size_t>(n_experts));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* row = logits + t * n_experts;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [row](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    for (int32_t j = 0; j < top_k; ++j) {
      int32_t e = order[size_t(j)];
      float score = 1.0f / (1.0f + std::exp(-row[e]));
      by_expert[size_t(e)].push_back({int32_t(t), score});
    }
  }

  // 2. Each chosen expert runs once on all its tokens, so its weights are read
  // once per step; experts no token chose are never touched.
  float* routed = scratch(moe_out_, size_t(n_tokens * hidden));
  std::fill_n(routed, n_tokens * hidden, 0.0f);
  for (int32_t e = 0; e < n_experts; ++e) {
    const auto& assigned = by_expert[size_t(e)];
    if (assigned.empty()) continue;
    const int64_t n = int64_t(assigned.size());

    float* input = scratch(moe_in_, size_t(n * hidden));
    for (int64_t j = 0; j < n; ++j) {
      const float* src = x + int64_t(assigned[size_t(j)].first) * hidden;
      float score = assigned[size_t(j)].second;
      for (int64_t i = 0; i < hidden; ++i) input[j * hidden + i] = src[i] * score;
    }

    const FeedForwardWeights& expert = w.experts[size_t(e)];
    float* gate = scratch(gate_, size_t(n * inter));
    float* up = scratch(up_, size_t(n * inter));
    float* expert_out = scratch(expert_out_, size_t(n * hidden));
    backend_.matmul(expert.gate, input, n, gate);
    backend_.matmul(expert.up, input, n, up);
    backend_.swiglu(gate, up, n * inter, gate);
    backend_.matmul(expert.down, gate, n, expert_out);
    for (int64_t j = 0; j < n; ++j) {
      backend_.add(routed + int64_t(assigned[size_t(j)].first) * hidden, expert_out + j * hidden, hidden);
    }
  }

  // 3. Shared expert on the unscaled input, plus the routed sum.
  float* gate = scratch(gate_, size_t(n_tokens * inter));
  float* up = scratch(up_, size_t(n_tokens * inter));
  backend_.matmul(w.mlp.gate, x, n_tokens, gate);
  backend_.matmul(w.mlp.up, x, n_tokens, up);
  backend_.swiglu(gate, up, n_tokens * inter, gate);
  backend_.matmul(w.mlp.down, gate, n_tokens, out);
  backend_.add(out, routed, n_tokens * hidden);
}

}  // namespace brasa
