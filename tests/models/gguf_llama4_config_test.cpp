// Parses the key/values of llama4 GGUF files: those brasa convert writes, and
// those of llama.cpp's converter, which leaves out the chunk size, the NoPE
// interval and the temperature keys (llama.cpp v0.5.0 fixes those values).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "test_work_dir.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "models/model_config.h"

namespace brasa {
namespace {

// A metadata-only llama4 GGUF with the keys llama.cpp's converter writes,
// except the context length, RoPE base and RMSNorm epsilon.
GgufWriter llama4_keys_without_reals(uint32_t n_experts, uint32_t n_experts_used = 1) {
  GgufWriter w;
  w.add_string("general.architecture", "llama4");
  w.add_uint32("llama4.embedding_length", 256);
  w.add_uint32("llama4.block_count", 8);
  w.add_uint32("llama4.feed_forward_length", 512);
  w.add_uint32("llama4.expert_feed_forward_length", 128);
  w.add_uint32("llama4.attention.head_count", 8);
  w.add_uint32("llama4.attention.head_count_kv", 2);
  w.add_uint32("llama4.attention.key_length", 32);
  w.add_uint32("llama4.rope.dimension_count", 32);
  w.add_uint32("llama4.expert_count", n_experts);
  w.add_uint32("llama4.expert_used_count", n_experts_used);
  w.add_uint32("llama4.interleave_moe_layer_step", 2);
  w.add_uint32("llama4.vocab_size", 1000);
  return w;
}

// A metadata-only llama4 GGUF with the keys llama.cpp's converter writes.
GgufWriter llama4_keys(uint32_t n_experts, uint32_t n_experts_used = 1) {
  GgufWriter w = llama4_keys_without_reals(n_experts, n_experts_used);
  w.add_uint32("llama4.context_length", 4096);
  w.add_float32("llama4.rope.freq_base", 500000.0f);
  w.add_float32("llama4.attention.layer_norm_rms_epsilon", 1e-5f);
  return w;
}

ModelConfig parse(const GgufWriter& writer, const std::string& name) {
  const std::string path = ::brasa::test::work_dir() + "/" + name + ".gguf";
  writer.write(path);
  return parse_gguf_config(GgufFile(path));
}

TEST(GgufLlama4Config, LlamaCppDefaults) {
  const ModelConfig c = parse(llama4_keys(16), "llama4-config-defaults");
  EXPECT_EQ(c.architecture, "llama4");
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.intermediate_size_mlp, 512);
  EXPECT_EQ(c.n_experts, 16);
  EXPECT_EQ(c.n_experts_per_tok, 1);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_EQ(c.attention_chunk_size, 8192);
  EXPECT_DOUBLE_EQ(c.floor_scale, 8192.0);
  EXPECT_NEAR(c.attn_scale, 0.1, 1e-9);
  EXPECT_TRUE(c.attn_temperature_tuning);
  EXPECT_TRUE(c.use_qk_norm);
  EXPECT_EQ(c.tensor_prefix, "blk.");
  EXPECT_TRUE(c.tie_word_embeddings);  // no output.weight tensor

  // MoE on every second layer; NoPE on every fourth.
  for (int32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(c.moe_layer[size_t(i)], (i + 1) % 2 == 0) << "layer " << i;
    EXPECT_EQ(c.rope_layer[size_t(i)], (i + 1) % 4 != 0) << "layer " << i;
  }
}

// llama.cpp turns QK norm off only for the 128-expert model (Maverick).
TEST(GgufLlama4Config, NoQkNormWith128Experts) {
  EXPECT_FALSE(parse(llama4_keys(128), "llama4-config-128").use_qk_norm);
}

TEST(GgufLlama4Config, BrasaKeysOverrideDefaults) {
  GgufWriter w = llama4_keys(4);
  w.add_uint32("llama4.attention.sliding_window", 32);
  w.add_uint32("llama4.attention.sliding_window_pattern", 3);
  w.add_uint32("llama4.attention.temperature_length", 8);
  w.add_float32("llama4.attention.temperature_scale", 0.0f);
  w.add_bool("llama4.attention.use_qk_norm", false);
  const ModelConfig c = parse(w, "llama4-config-brasa");
  EXPECT_EQ(c.attention_chunk_size, 32);
  EXPECT_DOUBLE_EQ(c.floor_scale, 8.0);
  EXPECT_FALSE(c.attn_temperature_tuning);
  EXPECT_FALSE(c.use_qk_norm);
  EXPECT_FALSE(c.rope_layer[2]);
  EXPECT_TRUE(c.rope_layer[3]);
  EXPECT_FALSE(c.rope_layer[5]);
}

// sliding_window 0 means no chunked attention, and then every layer uses RoPE.
TEST(GgufLlama4Config, ZeroWindowDisablesChunks) {
  GgufWriter w = llama4_keys(16);
  w.add_uint32("llama4.attention.sliding_window", 0);
  const ModelConfig c = parse(w, "llama4-config-no-chunks");
  EXPECT_EQ(c.attention_chunk_size, 0);
  for (int32_t i = 0; i < 8; ++i) EXPECT_TRUE(c.rope_layer[size_t(i)]) << "layer " << i;
}

TEST(GgufLlama4Config, RejectsBadValues) {
  GgufWriter too_many = llama4_keys(4, 5);
  try {
    parse(too_many, "llama4-config-bad");
    ADD_FAILURE() << "expected an error for expert_used_count above expert_count";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds llama4.expert_count"), std::string::npos) << e.what();
  }

  GgufWriter other;
  other.add_string("general.architecture", "qwen3");
  try {
    parse(other, "llama4-config-arch");
    ADD_FAILURE() << "expected an error for architecture qwen3";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("supported: llama, llama4"), std::string::npos) << e.what();
  }
}

// A zero, negative or NaN RoPE base or RMSNorm epsilon, and a zero context
// length, are load errors rather than garbage logits.
TEST(GgufLlama4Config, RejectsNonPositiveReals) {
  struct Case {
    const char* key;
    float value;
  };
  const Case cases[] = {{"llama4.rope.freq_base", -1.0f},
                        {"llama4.rope.freq_base", 0.0f},
                        {"llama4.attention.layer_norm_rms_epsilon", NAN},
                        {"llama4.attention.layer_norm_rms_epsilon", -1e-5f}};
  for (const Case& c : cases) {
    GgufWriter w = llama4_keys_without_reals(4);
    w.add_uint32("llama4.context_length", 4096);
    const bool is_epsilon = std::string(c.key) == "llama4.attention.layer_norm_rms_epsilon";
    w.add_float32("llama4.rope.freq_base", is_epsilon ? 500000.0f : c.value);
    w.add_float32("llama4.attention.layer_norm_rms_epsilon", is_epsilon ? c.value : 1e-5f);
    try {
      parse(w, "llama4-config-real");
      ADD_FAILURE() << "expected an error for " << c.key << " = " << c.value;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(c.key) + " must be a positive finite number"), std::string::npos)
          << e.what();
    }
  }

  GgufWriter zero_context = llama4_keys_without_reals(4);
  zero_context.add_uint32("llama4.context_length", 0);
  try {
    parse(zero_context, "llama4-config-context");
    ADD_FAILURE() << "expected an error for llama4.context_length 0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama4.context_length must be positive"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace brasa
