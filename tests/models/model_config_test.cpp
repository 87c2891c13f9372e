#include "models/model_config.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace brasa {
namespace {

nlohmann::json llama4_text() {
  return nlohmann::json::parse(R"({
    "model_type": "llama4_text", "hidden_size": 64, "num_hidden_layers": 8, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 128, "intermediate_size": 32, "intermediate_size_mlp": 96,
    "vocab_size": 100, "num_local_experts": 4, "num_experts_per_tok": 1, "interleave_moe_layer_step": 2,
    "attention_chunk_size": 32, "floor_scale": 8, "attn_scale": 0.1, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192}})");
}

TEST(ModelConfig, Llama4Defaults) {
  ModelConfig c = parse_hf_config(llama4_text(), "config.json");
  EXPECT_EQ(c.architecture, "llama4");
  EXPECT_EQ(c.tensor_prefix, "model.");
  EXPECT_EQ(c.rope_style, RopeStyle::Interleaved);
  EXPECT_TRUE(c.use_qk_norm);
  EXPECT_TRUE(c.attn_temperature_tuning);
  // interleave_moe_layer_step 2: layers 1, 3, 5, 7 are MoE.
  EXPECT_EQ(c.moe_layer, (std::vector<bool>{false, true, false, true, false, true, false, true}));
  // Default no_rope_layers: every 4th layer (3, 7) is NoPE, and only RoPE layers are chunked.
  EXPECT_EQ(c.rope_layer, (std::vector<bool>{true, true, true, false, true, true, true, false}));
  EXPECT_TRUE(c.is_local_layer(0));
  EXPECT_FALSE(c.is_local_layer(3));
}

TEST(ModelConfig, Llama4ExplicitLists) {
  nlohmann::json j = nlohmann::json::parse(R"({"model_type": "llama4"})");
  nlohmann::json text = llama4_text();
  text["moe_layers"] = {0, 5};
  text["no_rope_layers"] = {1, 0, 1, 1, 1, 1, 1, 1};
  j["text_config"] = text;
  ModelConfig c = parse_hf_config(j, "config.json");
  EXPECT_EQ(c.tensor_prefix, "language_model.model.");
  EXPECT_EQ(c.lm_head_name, "language_model.lm_head.weight");
  EXPECT_EQ(c.moe_layer, (std::vector<bool>{true, false, false, false, false, true, false, false}));
  EXPECT_FALSE(c.rope_layer[1]);
  EXPECT_TRUE(c.rope_layer[3]);
}

TEST(ModelConfig, UnknownModelTypeNamesFileAndValue) {
  try {
    parse_hf_config(nlohmann::json::parse(R"({"model_type": "mistral"})"), "/models/x/config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/models/x/config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mistral"), std::string::npos) << e.what();
  }
}

// Expected values from an independent numpy implementation of Meta's llama3
// apply_scaling (theta 500000, head_dim 128, factor 8, low 1, high 4, 8192 positions).
TEST(ModelConfig, Llama3RopeScaling) {
  std::vector<float> inv_freq = rope_inv_freq(parse_hf_config(llama4_text(), "config.json"));
  ASSERT_EQ(inv_freq.size(), 64u);
  const std::pair<int, double> expected[] = {
      {0, 1.0},
      {10, 0.12868736684322357},
      {20, 0.016560440883040428},
      {25, 0.005940730217844248},
      {30, 0.0013718935661017895},
      {35, 9.556212171446532e-05},
      {40, 3.428102354519069e-05},
      {50, 4.411534519022098e-06},
      {63, 3.068925877869333e-07},
  };
  for (const auto& [i, value] : expected) EXPECT_NEAR(inv_freq[size_t(i)], value, value * 1e-5) << "pair " << i;
}

TEST(ModelConfig, AttentionTemperatureScale) {
  ModelConfig c = parse_hf_config(llama4_text(), "config.json");  // floor_scale 8, attn_scale 0.1
  EXPECT_FLOAT_EQ(attn_temperature_scale(c, 0), 1.0f);
  EXPECT_FLOAT_EQ(attn_temperature_scale(c, 6), 1.0f);
  EXPECT_FLOAT_EQ(attn_temperature_scale(c, 7), float(std::log(2.0) * 0.1 + 1.0));
  EXPECT_FLOAT_EQ(attn_temperature_scale(c, 23), float(std::log(4.0) * 0.1 + 1.0));
}

}  // namespace
}  // namespace brasa
