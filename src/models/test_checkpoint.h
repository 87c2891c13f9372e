#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace brasa {

// Shape and hyperparameters of a generated Llama 4 test model. Field names
// follow the Hugging Face Llama4TextConfig keys they are written to.
struct TestModelPreset {
  std::string name;
  int32_t hidden_size = 64;
  int32_t intermediate_size = 64;      // each routed expert and the shared expert
  int32_t intermediate_size_mlp = 128; // dense MLP of the non-MoE layers
  int32_t num_hidden_layers = 4;
  int32_t num_attention_heads = 4;
  int32_t num_key_value_heads = 2;
  int32_t head_dim = 32;
  int32_t num_local_experts = 4;
  int32_t num_experts_per_tok = 1;
  int32_t interleave_moe_layer_step = 1;
  int32_t no_rope_layer_interval = 4;  // every 4th layer is NoPE
  int32_t attention_chunk_size = 32;
  int32_t floor_scale = 8;
  double attn_scale = 0.1;
  double rms_norm_eps = 1e-5;
  double rope_theta = 500000.0;
  bool use_qk_norm = true;
  bool llama3_rope_scaling = false;    // write a rope_scaling of type llama3 (Scout)
  int32_t max_position_embeddings = 8192;
  bool fused_experts = true;           // F32/BF16 layout; FP8 always writes one tensor per expert
  int32_t default_shards = 1;
};

struct TestModelOptions {
  std::string preset = "scout-tiny";
  std::string out_dir;
  std::string dtype = "f32";           // f32, bf16 or fp8
  uint64_t seed = 0;
  std::string tokenizer_path;          // empty: Meta's Llama 4 tokenizer.model under the shared test data
  std::string chat_template_path;      // empty: vLLM's Llama 4 pythonic tool template under the shared test data
  int32_t n_shards = 0;                // 0: the preset's default
};

// The presets: scout-tiny, maverick-tiny and bench-moe. Throws brasa::Error
// listing the valid names when `name` is unknown.
TestModelPreset find_test_model_preset(const std::string& name);
std::vector<std::string> test_model_preset_names();

// Writes a random Llama 4 checkpoint in the Hugging Face layout into
// options.out_dir: config.json, generation_config.json, tokenizer.model,
// tokenizer_config.json and the safetensors files. The weights depend only on
// the preset and the seed, so every dtype of one preset rounds the same F32
// values. Throws brasa::Error for a bad option or a missing input file.
void write_test_model(const TestModelOptions& options);

// The shared test data folder: $BRASA_SHARED_DIR when set, else ../shared.
std::string default_shared_dir();

}  // namespace brasa
