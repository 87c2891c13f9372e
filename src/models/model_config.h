#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/backend.h"

namespace brasa {

class GgufFile;

// RoPE frequency scaling of type "llama3" (Llama 3.1+ and Llama 4 Scout).
struct RopeScaling {
  bool enabled = false;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// Hyperparameters of a Llama or Llama 4 text model, from config.json or GGUF
// key/values, with per-layer choices already resolved.
struct ModelConfig {
  std::string architecture;  // "llama" or "llama4"
  int32_t hidden_size = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t intermediate_size = 0;      // dense MLP (llama), routed and shared experts (llama4)
  int32_t intermediate_size_mlp = 0;  // dense MLP of llama4's non-MoE layers
  int32_t vocab_size = 0;
  int32_t max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  RopeStyle rope_style = RopeStyle::Interleaved;
  bool tie_word_embeddings = false;

  // Llama 4 only; the defaults describe a dense Llama.
  int32_t n_experts = 0;
  int32_t n_experts_per_tok = 0;
  std::vector<bool> moe_layer;   // per layer: MoE feed-forward
  std::vector<bool> rope_layer;  // per layer: RoPE (true) or NoPE (false)
  int32_t attention_chunk_size = 0;  // 0: no chunked attention
  bool use_qk_norm = false;
  bool attn_temperature_tuning = false;
  double floor_scale = 8192.0;
  double attn_scale = 0.1;

  // Tensor names: the prefix of "layers.N..." and the LM head's full name.
  std::string tensor_prefix = "model.";
  std::string lm_head_name = "lm_head.weight";

  // Chunked local attention applies to the RoPE layers when a chunk size is set.
  bool is_local_layer(int32_t layer) const { return attention_chunk_size > 0 && rope_layer[size_t(layer)]; }
};

// Parses a Hugging Face config.json (model_type llama, llama4 with text_config,
// or llama4_text). `path` names the file in errors. Throws brasa::Error for an
// unknown model_type or a missing or invalid field.
ModelConfig parse_hf_config(const nlohmann::json& config, const std::string& path);

// Parses the key/values of a GGUF file of architecture "llama" or "llama4".
ModelConfig parse_gguf_config(const GgufFile& gguf);

// RoPE inverse frequencies theta^(-2i/d) for i < head_dim / 2, with llama3
// scaling applied as Meta's reference code does.
std::vector<float> rope_inv_freq(const ModelConfig& config);

// Llama 4's query scale in NoPE layers at position pos:
// log(floor((pos + 1) / floor_scale) + 1) * attn_scale + 1.
float attn_temperature_scale(const ModelConfig& config, int32_t pos);

}  // namespace brasa
