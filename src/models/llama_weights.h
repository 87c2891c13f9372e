#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "kernels/weight.h"
#include "models/model.h"
#include "models/model_config.h"

namespace brasa {

// The three projections of a SwiGLU feed-forward: down(silu(gate(x)) * up(x)).
struct FeedForwardWeights {
  Weight gate;  // [inter, hidden]
  Weight up;    // [inter, hidden]
  Weight down;  // [hidden, inter]
};

struct LayerWeights {
  Weight attn_norm;  // [hidden]
  Weight q;          // [n_heads * head_dim, hidden]
  Weight k;          // [n_kv_heads * head_dim, hidden]
  Weight v;          // [n_kv_heads * head_dim, hidden]
  Weight o;          // [hidden, n_heads * head_dim]
  Weight ffn_norm;   // [hidden]

  // A dense layer uses `mlp`; a MoE layer uses `mlp` as its shared expert.
  FeedForwardWeights mlp;
  Weight router;                             // [n_experts, hidden], MoE layers only
  std::vector<FeedForwardWeights> experts;   // MoE layers only
};

// All weights of a model, pointing into the checkpoint's mappings or into
// buffers owned here (transposed fused experts, F32 copies of FP8 scales).
struct ModelWeights {
  Weight embed;      // [vocab, hidden]
  Weight final_norm; // [hidden]
  Weight lm_head;    // [vocab, hidden]; the embedding table when tied
  std::vector<LayerWeights> layers;
  std::vector<float> rope_freq_factors;  // GGUF rope_freqs.weight (llama3 scaling), empty when absent

  int64_t n_params = 0;
  int64_t n_active_params = 0;
  DType matmul_dtype = DType::F32;  // the type that stores most parameters of the layer matrices
  WeightBytes bytes;

  std::vector<std::vector<uint8_t>> owned_bytes;
  std::vector<std::vector<float>> owned_scales;
};

// Finds, checks the shape of and wraps every tensor the config needs. Throws
// brasa::Error naming the tensor for a missing tensor, a shape that disagrees
// with the config (expected and actual shape) or an unsupported dtype.
std::unique_ptr<ModelWeights> load_weights(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace brasa
