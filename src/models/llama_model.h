#pragma once

#include <memory>
#include <span>
#include <vector>

#include "formats/checkpoint.h"
#include "models/llama_weights.h"
#include "models/model.h"
#include "models/model_config.h"

namespace brasa {

// Llama 1-3 and Llama 4 text models: one forward pass for both, where Llama 4
// adds per-layer choices (RoPE or NoPE, chunked local attention, QK norm,
// query temperature, MoE or dense feed-forward). All math goes through Backend.
class LlamaModel final : public Model {
 public:
  LlamaModel(std::unique_ptr<Checkpoint> checkpoint, const ModelConfig& config, Backend& backend, std::string name);

  const ModelInfo& info() const override { return info_; }
  const ModelConfig& config() const { return config_; }

  void forward(std::span<const SequenceStep> batch, const KvPools& kv, StepOutput& out) override;

 private:
  // A layer's KV location: the local pool for chunked layers, else the global one.
  struct KvPlace {
    bool local = false;
    int32_t index = 0;  // layer index inside that pool
  };

  void prepare_step(std::span<const SequenceStep> batch, const KvPools& kv);
  void attention_block(int32_t layer, const KvPools& kv);
  void feed_forward_block(int32_t layer);
  void moe(const LayerWeights& weights, int64_t n_tokens, const float* x, float* out);
  void compute_logits(std::span<const SequenceStep> batch, StepOutput& out);

  // Grows a scratch buffer to at least n floats and returns it.
  static float* scratch(std::vector<float>& buffer, size_t n);

  std::unique_ptr<Checkpoint> checkpoint_;
  ModelConfig config_;
  Backend& backend_;
  std::unique_ptr<ModelWeights> weights_;
  ModelInfo info_;
  std::vector<float> inv_freq_;
  std::vector<KvPlace> kv_place_;

  // Per-step token layout, rebuilt by prepare_step.
  int64_t n_tokens_ = 0;
  std::vector<int32_t> tokens_;
  std::vector<int32_t> positions_;
  std::vector<int32_t> global_slots_;
  std::vector<int32_t> local_slots_;
  std::vector<AttentionSequence> global_sequences_;
  std::vector<AttentionSequence> local_sequences_;

  // Scratch activations, grown as needed and reused across steps.
  std::vector<float> x_, norm_, q_, k_, v_, attn_, proj_;
  std::vector<float> gate_, up_, router_logits_, moe_in_, moe_out_, expert_out_, rows_;
  std::vector<std::vector<std::pair<int32_t, float>>> expert_assignments_;  // per expert: (token, score)
  std::vector<int32_t> expert_order_;
};

}  // namespace brasa
