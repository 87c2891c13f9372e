#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "models/test_checkpoint.h"

namespace brasa::cli {

void register_make_test_model(CLI::App& app) {
  auto options = std::make_shared<TestModelOptions>();
  std::string presets;
  for (const std::string& name : test_model_preset_names()) presets += (presets.empty() ? "" : ", ") + name;

  CLI::App* command = app.add_subcommand(
      "make-test-model", "Write a random Llama 4 checkpoint in the Hugging Face layout, for tests and benchmarks");
  command->add_option("--preset", options->preset, "Model shape: " + presets)->required();
  command->add_option("--out", options->out_dir, "Output directory (created if missing)")->required();
  command->add_option("--dtype", options->dtype, "Weight type: f32, bf16, or fp8 (FP8 E4M3 routed experts, BF16 rest)")
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Seed of the random weights")->capture_default_str();
  command->add_option("--shards", options->n_shards, "Number of safetensors files (default: the preset's)");
  command->add_option("--tokenizer", options->tokenizer_path,
                      "Meta's Llama 4 tiktoken tokenizer.model (default: $BRASA_SHARED_DIR or ../shared, "
                      "testdata/llama-models/llama4/tokenizer.model)");
  command->add_option("--chat-template", options->chat_template_path,
                      "Jinja chat template stored in tokenizer_config.json (default: vLLM's "
                      "tool_chat_template_llama4_pythonic.jinja under the shared test data)");

  command->callback([options] {
    write_test_model(*options);
    std::printf("wrote %s (%s, %s, seed %llu)\n", options->out_dir.c_str(), options->preset.c_str(),
                options->dtype.c_str(), static_cast<unsigned long long>(options->seed));
  });
}

}  // namespace brasa::cli
