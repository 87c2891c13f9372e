// The engine with real models on the CPU backend: greedy output must not
// depend on batch composition, preemption or the prefix cache, because the
// kernels compute each row independently. The reference for each request is
// its output when it runs alone in a roomy cache.

#include <filesystem>
#include <map>
#include <random>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "test_work_dir.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "models/test_checkpoint.h"

namespace brasa {
namespace {

struct Output {
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::None;
  int32_t n_cached_tokens = 0;
  int32_t n_finishes = 0;
  std::string error;
};

UpdateCallback collect(Output& output) {
  return [&output](const GenerationUpdate& update) {
    for (const SampledToken& t : update.tokens) output.tokens.push_back(t.token);
    output.n_cached_tokens = update.n_cached_tokens;
    if (update.finished) {
      output.reason = update.finish_reason;
      output.error = update.error;
      output.n_finishes += 1;
    }
  };
}

GenerationRequest greedy_request(const std::string& id, const std::vector<int32_t>& prompt, int32_t max_tokens) {
  GenerationRequest request;
  request.id = id;
  request.prompt = prompt;
  request.max_tokens = max_tokens;
  request.sampling.temperature = 0.0f;
  return request;
}

void run_until_idle(EngineCore& core) {
  for (int i = 0; i < 100000; ++i) {
    const bool ran = core.step();
    if (!ran && core.scheduler().empty()) return;
  }
  FAIL() << "engine did not become idle";
}

class RealModelEngine : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    std::string path;
    if (GetParam() == "stories260K") {
      path = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
      if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
    } else {
      path = ::brasa::test::work_dir() + "/engine-scout-tiny";
      if (!std::filesystem::exists(path + "/config.json")) {
        TestModelOptions options;
        options.preset = "scout-tiny";
        options.out_dir = path;
        // The defaults resolve against the BRASA_SHARED_DIR environment variable,
        // which only ctest sets, so the test names both files itself.
        const std::string shared = BRASA_SHARED_DIR;
        options.tokenizer_path = shared + "/testdata/llama-models/llama4/tokenizer.model";
        options.chat_template_path = shared + "/testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja";
        write_test_model(options);
      }
    }
    backend_ = make_cpu_backend(pool_);
    model_ = load_model(path, *backend_);
  }

  // Prompts of 1 to 90 tokens; every third one starts with a shared 40-token prefix.
  std::vector<std::vector<int32_t>> prompts(int n) const {
    std::mt19937 rng(5);
    const int32_t vocab = std::min(model_->info().vocab_size, 500);
    std::vector<int32_t> shared(40);
    for (int32_t& t : shared) t = 1 + int32_t(rng() % uint32_t(vocab - 1));
    std::vector<std::vector<int32_t>> all;
    for (int i = 0; i < n; ++i) {
      std::vector<int32_t> prompt;
      if (i % 3 == 0) prompt = shared;
      const int32_t n_own = 1 + int32_t(rng() % 50);
      for (int32_t j = 0; j < n_own; ++j) prompt.push_back(1 + int32_t(rng() % uint32_t(vocab - 1)));
      all.push_back(prompt);
    }
    return all;
  }

  static int32_t max_tokens_of(size_t i) { return 4 + int32_t(i * 7 % 13); }

  EngineConfig config(int64_t kv_cache_bytes) const {
    EngineConfig c;
    c.block_size = 16;
    c.kv_cache_bytes = kv_cache_bytes;
    c.max_num_batched_tokens = 64;
    c.max_num_seqs = 16;
    c.max_model_len = 256;
    return c;
  }

  int64_t bytes_per_token() const {
    const KvGeometry& kv = model_->info().kv;
    return int64_t(kv.n_global_layers + kv.n_local_layers) * 2 * kv.n_kv_heads * kv.head_dim * int64_t(sizeof(float));
  }

  // The smallest kv_cache_bytes (in steps of a quarter block) that gives at least n global blocks.
  int64_t bytes_for_global_blocks(int32_t n) const {
    const int64_t step = bytes_per_token() * 4;
    for (int64_t bytes = step;; bytes += step) {
      try {
        if (size_kv_pools(model_->info().kv, bytes, 16, 256, 16).n_global_blocks >= n) return bytes;
      } catch (const Error&) {
        // Too small for one chunk of local blocks yet.
      }
    }
  }

  // Runs prompts [first, first + n) of `all`; request i generates max_tokens_of(i) tokens.
  std::vector<Output> run(const EngineConfig& c, const std::vector<std::vector<int32_t>>& all, size_t first, size_t n,
                          bool one_at_a_time, EngineStats* stats = nullptr) {
    EngineCore core(*model_, c);
    std::vector<Output> outputs(n);
    for (size_t k = 0; k < n; ++k) {
      const size_t i = first + k;
      EXPECT_EQ(core.submit(greedy_request("r" + std::to_string(i), all[i], max_tokens_of(i)), collect(outputs[k])),
                SubmitResult::Accepted);
      if (one_at_a_time) run_until_idle(core);
    }
    run_until_idle(core);
    EXPECT_EQ(core.kv().global().n_used(), 0);
    if (core.kv().has_local()) {
      EXPECT_EQ(core.kv().local()->n_used(), 0);
    }
    if (stats) *stats = core.stats();
    return outputs;
  }

  ThreadPool pool_{2};
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
};

TEST_P(RealModelEngine, GreedyIndependentOfBatching) {
  // scout-tiny's 202048-entry vocabulary makes each logits row expensive: fewer requests.
  const auto all = prompts(GetParam() == "scout-tiny" ? 8 : 16);

  // Alone: one engine per request, with prefix caching off.
  EngineConfig roomy = config(bytes_per_token() * 16 * 512);
  roomy.enable_prefix_caching = false;
  std::vector<Output> alone;
  for (size_t i = 0; i < all.size(); ++i) alone.push_back(run(roomy, all, i, 1, true)[0]);

  EngineStats stats;
  const std::vector<Output> batched = run(config(bytes_per_token() * 16 * 512), all, 0, all.size(), false, &stats);
  EXPECT_GT(stats.prefix_cache_hits, 0);
  const std::vector<Output> serial = run(config(bytes_per_token() * 16 * 512), all, 0, all.size(), true, &stats);
  EXPECT_GT(stats.prefix_cache_hits, 0);
  // Room for the longest request (7 blocks) and a little more: preemption is certain.
  const std::vector<Output> preempted = run(config(bytes_for_global_blocks(9)), all, 0, all.size(), false, &stats);
  EXPECT_GT(stats.n_preemptions, 0);

  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_EQ(batched[i].reason, FinishReason::Length) << batched[i].error;
    ASSERT_EQ(preempted[i].reason, FinishReason::Length) << preempted[i].error;
    ASSERT_EQ(alone[i].reason, FinishReason::Length) << alone[i].error;
    EXPECT_EQ(batched[i].tokens, alone[i].tokens);
    EXPECT_EQ(serial[i].tokens, alone[i].tokens);
    EXPECT_EQ(preempted[i].tokens, alone[i].tokens);
  }
}

TEST_P(RealModelEngine, RandomCancelsLeaveNoBlocks) {
  EngineCore core(*model_, config(bytes_for_global_blocks(24)));
  const auto all = prompts(40);
  std::mt19937 rng(9);
  std::map<std::string, Output> outputs;
  std::vector<std::string> ids;
  const int n_submits = GetParam() == "scout-tiny" ? 60 : 200;
  for (int i = 0; i < n_submits; ++i) {
    const std::string id = "q" + std::to_string(i);
    const std::vector<int32_t>& prompt = all[rng() % all.size()];
    if (core.submit(greedy_request(id, prompt, 1 + int32_t(rng() % 8)), collect(outputs[id])) ==
        SubmitResult::Accepted) {
      ids.push_back(id);
    }
    if (rng() % 2 == 0) core.cancel(ids[rng() % ids.size()]);
    if (rng() % 3 == 0) core.step();
  }
  run_until_idle(core);
  EXPECT_EQ(core.kv().global().n_used(), 0);
  if (core.kv().has_local()) {
    EXPECT_EQ(core.kv().local()->n_used(), 0);
  }
  for (const std::string& id : ids) EXPECT_EQ(outputs[id].n_finishes, 1) << id;
}

INSTANTIATE_TEST_SUITE_P(Models, RealModelEngine, ::testing::Values("stories260K", "scout-tiny"));

}  // namespace
}  // namespace brasa
