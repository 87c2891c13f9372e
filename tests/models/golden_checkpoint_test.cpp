// Checks the layout of the checkpoints `brasa make-test-model` writes, the
// ones the golden logits are computed on: Hugging Face Llama 4 tensor names
// and config keys, Meta's per-row FP8 expert layout, and input errors.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_work_dir.h"
#include "core/error.h"
#include "formats/checkpoint.h"
#include "models/test_checkpoint.h"

namespace brasa {
namespace {

TestModelOptions options_for(const std::string& preset, const std::string& dtype, const std::string& dir_name) {
  TestModelOptions options;
  options.preset = preset;
  options.dtype = dtype;
  options.out_dir = ::brasa::test::work_dir() + "/checkpoint_layout/" + dir_name;
  options.tokenizer_path = std::string(BRASA_SHARED_DIR) + "/testdata/llama-models/llama4/tokenizer.model";
  options.chat_template_path =
      std::string(BRASA_SHARED_DIR) + "/testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja";
  std::filesystem::remove_all(options.out_dir);
  return options;
}

TEST(TestCheckpoint, ScoutFp8HasPerRowExpertScales) {
  TestModelOptions options = options_for("scout-tiny", "fp8", "scout-fp8");
  write_test_model(options);
  std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(options.out_dir);

  const nlohmann::json& text = checkpoint->config().at("text_config");
  EXPECT_EQ(checkpoint->config().at("model_type"), "llama4");
  EXPECT_EQ(text.at("model_type"), "llama4_text");
  EXPECT_EQ(text.at("vocab_size"), 202048);
  EXPECT_EQ(text.at("no_rope_layers"), nlohmann::json::array({1, 1, 1, 0}));
  EXPECT_EQ(text.at("rope_scaling").at("rope_type"), "llama3");
  EXPECT_EQ(checkpoint->generation_config().at("eos_token_id"), nlohmann::json::array({200001, 200007, 200008}));

  const std::string layer = "language_model.model.layers.2.feed_forward.";
  const TensorView& gate = checkpoint->get(layer + "experts.3.gate_proj.weight");
  EXPECT_EQ(gate.dtype, DType::F8_E4M3);
  EXPECT_EQ(gate.shape, (std::vector<int64_t>{64, 64}));
  const TensorView& down_scale = checkpoint->get(layer + "experts.3.down_proj.weight_scale");
  EXPECT_EQ(down_scale.dtype, DType::F32);
  EXPECT_EQ(down_scale.shape, (std::vector<int64_t>{64, 1}));
  EXPECT_EQ(checkpoint->get(layer + "shared_expert.up_proj.weight").dtype, DType::BF16);
  EXPECT_EQ(checkpoint->get(layer + "router.weight").dtype, DType::BF16);
  EXPECT_EQ(checkpoint->get("language_model.lm_head.weight").dtype, DType::BF16);
  EXPECT_EQ(checkpoint->find(layer + "experts.gate_up_proj"), nullptr);
  EXPECT_TRUE(std::filesystem::exists(options.out_dir + "/tokenizer.model"));
  EXPECT_TRUE(std::filesystem::exists(options.out_dir + "/tokenizer_config.json"));
}

TEST(TestCheckpoint, MissingTokenizerIsAnError) {
  TestModelOptions options = options_for("maverick-tiny", "bf16", "no-tokenizer");
  options.tokenizer_path = options.out_dir + "/missing/tokenizer.model";
  try {
    write_test_model(options);
    FAIL() << "expected brasa::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--tokenizer"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(options.out_dir + "/config.json"));
}

TEST(TestCheckpoint, RejectsUnknownPresetAndDtype) {
  TestModelOptions options = options_for("scout-tiny", "f16", "bad-dtype");
  EXPECT_THROW(write_test_model(options), Error);
  options.dtype = "f32";
  options.preset = "llama-huge";
  EXPECT_THROW(write_test_model(options), Error);
}

}  // namespace
}  // namespace brasa
