// The engine with an F16 KV cache on stories260K: greedy output must equal
// llama.cpp's (v0.5.0 CPU build, default F16 KV cache), token for token and
// as text, with the three prompts batched together.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "kernels/backend.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

const std::string kShared = BRASA_SHARED_DIR;
const std::string kStories = kShared + "/testdata/models/stories260K.gguf";

TEST(EngineF16Kv, GreedyTextMatchesLlamaCpp) {
  spdlog::set_level(spdlog::level::warn);
  ThreadPool pool(2);
  auto backend = make_cpu_backend(pool);
  auto model = load_model(kStories, *backend);
  auto tokenizer = load_tokenizer(kStories);
  std::ifstream in(kShared + "/testdata/golden/stories260K-greedy.json");
  const nlohmann::json golden = nlohmann::json::parse(in);

  EngineConfig config;
  config.kv_cache_dtype = DType::F16;
  config.kv_cache_bytes = 1 << 20;
  config.block_size = 16;
  EngineCore core(*model, config);

  const size_t n_cases = golden["cases"].size();
  std::vector<std::vector<int32_t>> generated(n_cases);
  std::vector<bool> finished(n_cases, false);
  for (size_t i = 0; i < n_cases; ++i) {
    const auto& c = golden["cases"][i];
    GenerationRequest request;
    request.id = "case-" + std::to_string(i);
    request.prompt = c["prompt_token_ids"].get<std::vector<int32_t>>();
    request.max_tokens = c["n_predict"].get<int32_t>();
    request.sampling.temperature = 0.0f;
    const SubmitResult result = core.submit(std::move(request), [&, i](const GenerationUpdate& update) {
      for (const SampledToken& t : update.tokens) generated[i].push_back(t.token);
      if (update.finished) finished[i] = true;
    });
    ASSERT_EQ(result, SubmitResult::Accepted);
  }
  for (int step = 0; step < 1000 && (core.step() || !core.scheduler().empty()); ++step) {
  }

  for (size_t i = 0; i < n_cases; ++i) {
    const auto& c = golden["cases"][i];
    EXPECT_TRUE(finished[i]) << c["prompt"];
    EXPECT_EQ(generated[i], c["generated_token_ids"].get<std::vector<int32_t>>()) << c["prompt"];

    Detokenizer detokenizer(*tokenizer, false, false);
    std::string text;
    for (int32_t id : generated[i]) text += detokenizer.push(id);
    text += detokenizer.flush();
    EXPECT_EQ(text, c["generated_text"].get<std::string>()) << c["prompt"];
  }
}

TEST(EngineF16Kv, BudgetCountsTwoBytesAnElement) {
  KvGeometry kv;
  kv.n_global_layers = 2;
  kv.n_kv_heads = 2;
  kv.head_dim = 8;
  // A block of 4 positions: 2 layers x (K and V) x 2 heads x 8 x 4 = 256 elements.
  EXPECT_EQ(size_kv_pools(kv, 4096, 4, 128, 1, DType::F32).n_global_blocks, 4);
  EXPECT_EQ(size_kv_pools(kv, 4096, 4, 128, 1, DType::F16).n_global_blocks, 8);
  EXPECT_THROW(size_kv_pools(kv, 4096, 4, 128, 1, DType::BF16), Error);
}

}  // namespace
}  // namespace brasa
