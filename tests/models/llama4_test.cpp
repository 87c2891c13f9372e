#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "test_work_dir.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "kernels/backend.h"
#include "models/model.h"
#include "models/test_checkpoint.h"

namespace brasa {
namespace {

// Writes a generated Llama 4 checkpoint once per build tree.
std::string test_model(const std::string& preset, const std::string& dtype) {
  std::string dir = ::brasa::test::work_dir() + "/llama4-pieces/" + preset + "-" + dtype;
  if (!std::filesystem::exists(dir + "/config.json")) {
    TestModelOptions options;
    options.preset = preset;
    options.dtype = dtype;
    options.out_dir = dir;
    // The compiled-in paths, so the binary passes outside ctest too, where
    // neither the working directory nor BRASA_SHARED_DIR points at the data.
    options.tokenizer_path = std::string(BRASA_SHARED_DIR) + "/testdata/llama-models/llama4/tokenizer.model";
    options.chat_template_path =
        std::string(BRASA_SHARED_DIR) + "/testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja";
    write_test_model(options);
  }
  return dir;
}

// Logits of every prompt position, prefilling `piece` tokens per step. KV
// blocks of 4 positions are mapped in reverse order, so paging errors show.
std::vector<std::vector<float>> prompt_logits(Model& model, const std::vector<int32_t>& prompt, int32_t piece) {
  const KvGeometry& g = model.info().kv;
  const int32_t block_size = 4;
  const int32_t n_blocks = int32_t(prompt.size()) / block_size + 1;
  KvPoolStorage global(n_blocks, block_size, g.n_global_layers, g.n_kv_heads, g.head_dim);
  KvPoolStorage local(n_blocks, block_size, g.n_local_layers, g.n_kv_heads, g.head_dim);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t i = 0; i < n_blocks; ++i) table[size_t(i)] = n_blocks - 1 - i;
  KvPools pools{&global.pool(), g.n_local_layers > 0 ? &local.pool() : nullptr};

  std::vector<std::vector<float>> rows;
  StepOutput out;
  for (int32_t start = 0; start < int32_t(prompt.size()); start += piece) {
    SequenceStep step;
    step.tokens = prompt.data() + start;
    step.n_tokens = std::min<int32_t>(piece, int32_t(prompt.size()) - start);
    step.start_pos = start;
    step.block_table = table.data();
    step.n_blocks = n_blocks;
    step.local_block_table = table.data();
    step.n_local_blocks = n_blocks;
    step.all_logits = true;
    model.forward({&step, 1}, pools, out);
    for (int32_t i = 0; i < step.n_tokens; ++i) rows.emplace_back(out.row(i), out.row(i) + out.vocab_size);
  }
  return rows;
}

class Llama4Pieces : public ::testing::TestWithParam<std::string> {};

// The presets use attention_chunk_size 32, so a 45-token prompt crosses a
// chunk boundary, and pieces of 7 tokens straddle it.
TEST_P(Llama4Pieces, PrefillPiecesMatchOnePiece) {
  ThreadPool pool(2);
  auto backend = make_cpu_backend(pool);
  auto model = load_model(test_model(GetParam(), "f32"), *backend);
  ASSERT_EQ(model->info().architecture, "llama4");
  ASSERT_EQ(model->info().kv.chunk_size, 32);

  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < 45; ++i) prompt.push_back(200000 + (i * 37) % 2000);
  std::vector<std::vector<float>> whole = prompt_logits(*model, prompt, int32_t(prompt.size()));
  for (int32_t piece : {1, 3, 7}) {
    std::vector<std::vector<float>> parts = prompt_logits(*model, prompt, piece);
    ASSERT_EQ(parts.size(), whole.size());
    for (size_t t = 0; t < whole.size(); ++t) {
      for (size_t i = 0; i < whole[t].size(); ++i) {
        ASSERT_NEAR(parts[t][i], whole[t][i], 1e-4) << "piece " << piece << " token " << t << " logit " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, Llama4Pieces, ::testing::Values("scout-tiny", "maverick-tiny"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Llama4Info, KvSplitAndActiveParams) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  auto model = load_model(test_model("maverick-tiny", "f32"), *backend);
  const ModelInfo& info = model->info();
  // 8 layers, every 4th NoPE: layers 3 and 7 are global, the other 6 chunked-local.
  EXPECT_EQ(info.kv.n_global_layers, 2);
  EXPECT_EQ(info.kv.n_local_layers, 6);
  // 4 MoE layers (every 2nd) with 8 experts of which 2 are read per token.
  TestModelPreset p = find_test_model_preset("maverick-tiny");
  int64_t expert = 3 * int64_t(p.hidden_size) * p.intermediate_size;
  EXPECT_EQ(info.n_params - info.n_active_params, 4 * (8 - 2) * expert);
}

// The per-step byte counts that `brasa bench` divides by bandwidth, checked
// against a count over the checkpoint's own tensors. In the FP8 variant only
// the routed experts are E4M3 with F32 row scales and the rest is BF16, so an
// average over parameters would misstate what a token reads.
TEST(Llama4Info, WeightBytesFollowStoredTypes) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  for (const std::string dtype : {"bf16", "fp8"}) {
    SCOPED_TRACE(dtype);
    const std::string dir = test_model("maverick-tiny", dtype);
    auto model = load_model(dir, *backend, LoadOptions{FileResidency::kMapped});
    const WeightBytes& bytes = model->info().weight_bytes;

    auto checkpoint = Checkpoint::open(dir);
    int64_t head = 0, layers = 0, experts = 0;
    for (const auto& [name, t] : checkpoint->tensors()) {
      const bool is_scale = name.size() > 6 && name.compare(name.size() - 6, 6, "_scale") == 0;
      // brasa keeps FP8 row scales as F32, whatever type the file stores.
      const int64_t stored = is_scale ? t.n_elements() * 4 : int64_t(t.bytes);
      if (name.find("lm_head") != std::string::npos) head += stored;
      if (name.find("layers.") == std::string::npos) continue;
      layers += stored;
      if (name.find(".experts.") != std::string::npos) experts += stored;
    }
    // maverick-tiny: 8 experts, 2 chosen per token.
    EXPECT_GT(experts, 0);
    EXPECT_EQ(bytes.head, head);
    EXPECT_EQ(bytes.layers, layers);
    EXPECT_EQ(bytes.layers_active, layers - experts * 6 / 8);
  }
}

}  // namespace
}  // namespace brasa
