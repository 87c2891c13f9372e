#include "engine/engine_core.h"

#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "engine/fake_model.h"

namespace brasa {
namespace {

using testing::FakeModel;
using testing::fake_model_info;
using testing::reference_greedy;
using testing::reference_logits;

constexpr int32_t kVocab = 64;
constexpr int32_t kBlockBytes = 4 * 2 * 2 * sizeof(float);  // block_size 4, keys + values, head_dim 2

struct Result {
  std::vector<int32_t> tokens;
  std::vector<SampledToken> prompt_logprobs;
  bool finished = false;
  int32_t n_finishes = 0;
  FinishReason reason = FinishReason::None;
  int32_t n_cached_tokens = -1;
  int32_t n_prompt_tokens = -1;
  std::string error;
};

UpdateCallback collect(Result& result) {
  return [&result](const GenerationUpdate& update) {
    for (const SampledToken& t : update.tokens) result.tokens.push_back(t.token);
    if (!update.prompt_logprobs.empty()) result.prompt_logprobs = update.prompt_logprobs;
    if (update.finished) {
      result.finished = true;
      result.n_finishes += 1;
      result.reason = update.finish_reason;
      result.error = update.error;
    }
    if (update.n_prompt_tokens > 0) {
      result.n_cached_tokens = update.n_cached_tokens;
      result.n_prompt_tokens = update.n_prompt_tokens;
    }
  };
}

GenerationRequest greedy_request(const std::string& id, std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerationRequest request;
  request.id = id;
  request.prompt = std::move(prompt);
  request.max_tokens = max_tokens;
  request.sampling.temperature = 0.0f;
  return request;
}

EngineConfig small_config(int64_t n_blocks, int32_t budget = 32) {
  EngineConfig config;
  config.block_size = 4;
  config.kv_cache_bytes = n_blocks * kBlockBytes;
  config.max_num_batched_tokens = budget;
  config.max_num_seqs = 16;
  config.max_model_len = 128;
  return config;
}

// Keeps the engine's startup line out of the test output.
const bool quiet_logs = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();

void run_until_idle(EngineCore& core) {
  for (int i = 0; i < 100000; ++i) {
    const bool ran = core.step();
    if (!ran && core.scheduler().empty()) return;
  }
  FAIL() << "engine did not become idle";
}

// Sixteen prompts of different lengths, some sharing prefixes.
std::vector<std::vector<int32_t>> mixed_prompts() {
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int32_t> shared(40);
  for (int32_t& t : shared) t = int32_t(rng() % kVocab);
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> prompt;
    if (i % 4 == 0) prompt.assign(shared.begin(), shared.begin() + 20 + i);
    const int32_t n_own = 1 + int32_t(rng() % 60);
    for (int32_t j = 0; j < n_own; ++j) prompt.push_back(int32_t(rng() % kVocab));
    prompts.push_back(prompt);
  }
  return prompts;
}

int32_t max_tokens_of(size_t i) { return 3 + int32_t(i * 5 % 26); }

class EngineGreedy : public ::testing::TestWithParam<int32_t> {
 protected:
  ModelInfo info() const { return fake_model_info(kVocab, GetParam()); }

  // Runs the prompts through one engine, all submitted up front.
  std::vector<Result> run_batch(const EngineConfig& config, const std::vector<std::vector<int32_t>>& prompts,
                                EngineStats* stats = nullptr) {
    FakeModel model(info());
    EngineCore core(model, config);
    std::vector<Result> results(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(core.submit(greedy_request("r" + std::to_string(i), prompts[i], max_tokens_of(i)), collect(results[i])),
                SubmitResult::Accepted);
    }
    run_until_idle(core);
    EXPECT_EQ(core.kv().global().n_used(), 0);
    if (core.kv().has_local()) {
      EXPECT_EQ(core.kv().local()->n_used(), 0);
    }
    if (stats) *stats = core.stats();
    return results;
  }

  void expect_reference(const std::vector<Result>& results, const std::vector<std::vector<int32_t>>& prompts) {
    for (size_t i = 0; i < prompts.size(); ++i) {
      SCOPED_TRACE("request " + std::to_string(i));
      EXPECT_TRUE(results[i].finished);
      EXPECT_EQ(results[i].reason, FinishReason::Length) << results[i].error;
      EXPECT_EQ(results[i].tokens, reference_greedy(prompts[i], max_tokens_of(i), info()));
    }
  }
};

TEST_P(EngineGreedy, AloneMatchesReference) {
  const auto prompts = mixed_prompts();
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    FakeModel model(info());
    EngineCore core(model, small_config(400));
    Result result;
    ASSERT_EQ(core.submit(greedy_request("r", prompts[i], max_tokens_of(i)), collect(result)), SubmitResult::Accepted);
    run_until_idle(core);
    EXPECT_EQ(result.reason, FinishReason::Length) << result.error;
    EXPECT_EQ(result.tokens, reference_greedy(prompts[i], max_tokens_of(i), info()));
    EXPECT_EQ(result.n_prompt_tokens, int32_t(prompts[i].size()));
  }
}

TEST_P(EngineGreedy, BatchOfSixteenMatches) {
  const auto prompts = mixed_prompts();
  EngineStats stats;
  expect_reference(run_batch(small_config(400), prompts, &stats), prompts);
  EXPECT_GT(stats.prefix_cache_hits, 0);
}

TEST_P(EngineGreedy, PreemptionMatches) {
  const auto prompts = mixed_prompts();
  EngineStats stats;
  expect_reference(run_batch(small_config(40), prompts, &stats), prompts);
  EXPECT_GT(stats.n_preemptions, 0);
}

TEST_P(EngineGreedy, PrefixCacheMatches) {
  FakeModel model(info());
  EngineCore core(model, small_config(400));
  std::mt19937 rng(3);
  std::vector<int32_t> prefix(50);
  for (int32_t& t : prefix) t = int32_t(rng() % kVocab);

  Result first;
  ASSERT_EQ(core.submit(greedy_request("first", prefix, 4), collect(first)), SubmitResult::Accepted);
  run_until_idle(core);
  EXPECT_EQ(first.n_cached_tokens, 0);

  std::vector<int32_t> prompt = prefix;
  prompt.insert(prompt.end(), {1, 2, 3});
  Result second;
  ASSERT_EQ(core.submit(greedy_request("second", prompt, 10), collect(second)), SubmitResult::Accepted);
  run_until_idle(core);
  EXPECT_EQ(second.tokens, reference_greedy(prompt, 10, info()));
  // With 16-token chunks the hit ends at a chunk start or where the chunk's local blocks are cached.
  EXPECT_EQ(second.n_cached_tokens, 48);
  EXPECT_EQ(core.kv().global().n_used(), 0);
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, EngineGreedy, ::testing::Values(0, 16));

TEST(Engine, PromptLogprobsMatchLogSoftmax) {
  const ModelInfo info = fake_model_info(kVocab, 0);
  FakeModel model(info);
  EngineCore core(model, small_config(400, 8));
  const std::vector<int32_t> prompt = {5, 9, 33, 2, 61, 17, 40, 40, 8, 1, 0, 63, 12};
  GenerationRequest request = greedy_request("p", prompt, 2);
  request.sampling.prompt_logprobs = 3;
  Result result;
  ASSERT_EQ(core.submit(std::move(request), collect(result)), SubmitResult::Accepted);
  run_until_idle(core);

  ASSERT_EQ(result.prompt_logprobs.size(), prompt.size());
  EXPECT_EQ(result.prompt_logprobs[0].token, prompt[0]);
  for (size_t i = 1; i < prompt.size(); ++i) {
    SCOPED_TRACE("position " + std::to_string(i));
    const std::vector<float> row = reference_logits({prompt.begin(), prompt.begin() + std::ptrdiff_t(i)}, info);
    double sum = 0.0;
    for (float x : row) sum += std::exp(double(x));
    const double expected = double(row[size_t(prompt[i])]) - std::log(sum);
    EXPECT_EQ(result.prompt_logprobs[i].token, prompt[i]);
    EXPECT_NEAR(result.prompt_logprobs[i].logprob, expected, 1e-4);
    ASSERT_EQ(result.prompt_logprobs[i].top.size(), 3u);
    EXPECT_GE(result.prompt_logprobs[i].top[0].logprob, result.prompt_logprobs[i].top[1].logprob);
  }
  EXPECT_EQ(result.tokens, reference_greedy(prompt, 2, info));
}

TEST(Engine, ScoreOnlyRequestFinishes) {
  FakeModel model(fake_model_info(kVocab, 0));
  EngineCore core(model, small_config(400, 8));
  GenerationRequest request = greedy_request("p", {1, 2, 3, 4, 5}, 0);
  request.sampling.prompt_logprobs = 0;
  Result result;
  ASSERT_EQ(core.submit(std::move(request), collect(result)), SubmitResult::Accepted);
  run_until_idle(core);
  EXPECT_EQ(result.reason, FinishReason::Length);
  EXPECT_TRUE(result.tokens.empty());
  EXPECT_EQ(result.prompt_logprobs.size(), 5u);
}

TEST(Engine, StopTokenEndsWithoutIt) {
  const ModelInfo info = fake_model_info(kVocab, 0);
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5, 9, 2, 6};
  const std::vector<int32_t> expected = reference_greedy(prompt, 10, info);
  FakeModel model(info);
  EngineCore core(model, small_config(400));
  GenerationRequest request = greedy_request("s", prompt, 10);
  request.stop_token_ids = {expected[3]};
  Result result;
  ASSERT_EQ(core.submit(std::move(request), collect(result)), SubmitResult::Accepted);
  run_until_idle(core);
  EXPECT_EQ(result.reason, FinishReason::Stop);
  EXPECT_EQ(result.tokens, reference_greedy(prompt, 10, info, {expected[3]}));
  EXPECT_EQ(result.n_finishes, 1);
}

// Allows even tokens only and completes after three tokens.
class EvenTokens : public TokenConstraint {
 public:
  void mask(std::vector<uint8_t>& allowed) override {
    for (size_t v = 1; v < allowed.size(); v += 2) allowed[v] = 0;
  }
  void accept(int32_t token) override {
    EXPECT_EQ(token % 2, 0);
    ++n_;
  }
  bool is_complete() const override { return n_ >= 3; }
  std::unique_ptr<TokenConstraint> clone_initial() const override { return std::make_unique<EvenTokens>(); }

 private:
  int n_ = 0;
};

TEST(Engine, ConstraintMasksLogits) {
  const ModelInfo info = fake_model_info(kVocab, 0);
  FakeModel model(info);
  EngineCore core(model, small_config(400));
  std::vector<int32_t> prompt = {10, 20, 30};
  GenerationRequest request = greedy_request("c", prompt, 10);
  request.constraint = std::make_unique<EvenTokens>();
  Result result;
  ASSERT_EQ(core.submit(std::move(request), collect(result)), SubmitResult::Accepted);
  run_until_idle(core);
  EXPECT_EQ(result.reason, FinishReason::Stop);
  ASSERT_EQ(result.tokens.size(), 3u);

  // The best even token under the reference logits, step by step.
  for (int32_t token : result.tokens) {
    const std::vector<float> row = reference_logits(prompt, info);
    int32_t best = 0;
    for (int32_t v = 2; v < kVocab; v += 2) {
      if (row[size_t(v)] > row[size_t(best)]) best = v;
    }
    EXPECT_EQ(token, best);
    prompt.push_back(token);
  }
}

TEST(Engine, SubmitRejectsBadRequests) {
  FakeModel model(fake_model_info(kVocab, 0));
  EngineConfig config = small_config(400);
  config.max_waiting = 2;
  EngineCore core(model, config);
  Result result;
  EXPECT_EQ(core.submit(greedy_request("a", {}, 4), collect(result)), SubmitResult::Invalid);
  EXPECT_EQ(core.submit(greedy_request("a", {1, kVocab}, 4), collect(result)), SubmitResult::Invalid);
  EXPECT_EQ(core.submit(greedy_request("a", {1, -1}, 4), collect(result)), SubmitResult::Invalid);
  EXPECT_EQ(core.submit(greedy_request("a", {1, 2}, -1), collect(result)), SubmitResult::Invalid);
  EXPECT_EQ(core.submit(greedy_request("a", std::vector<int32_t>(100, 1), 29), collect(result)),
            SubmitResult::TooLong);

  EXPECT_EQ(core.submit(greedy_request("a", {1, 2}, 4), collect(result)), SubmitResult::Accepted);
  EXPECT_EQ(core.submit(greedy_request("a", {1, 2}, 4), collect(result)), SubmitResult::Invalid);
  EXPECT_EQ(core.submit(greedy_request("b", {1, 2}, 4), collect(result)), SubmitResult::Accepted);
  EXPECT_EQ(core.submit(greedy_request("c", {1, 2}, 4), collect(result)), SubmitResult::QueueFull);
  EXPECT_EQ(core.stats().n_waiting, 2);
}

TEST(Engine, TooLongForPool) {
  FakeModel model(fake_model_info(kVocab, 0));
  EngineConfig config = small_config(10);
  config.max_model_len = 0;
  EngineCore core(model, config);
  EXPECT_EQ(core.max_model_len(), 40);
  Result result;
  EXPECT_EQ(core.submit(greedy_request("a", std::vector<int32_t>(30, 1), 11), collect(result)),
            SubmitResult::TooLong);
  EXPECT_EQ(core.submit(greedy_request("b", std::vector<int32_t>(30, 1), 10), collect(result)),
            SubmitResult::Accepted);
}

TEST(Engine, CancelFreesBlocksWithinOneStep) {
  FakeModel model(fake_model_info(kVocab, 0));
  EngineCore core(model, small_config(400));
  Result a;
  Result b;
  ASSERT_EQ(core.submit(greedy_request("a", std::vector<int32_t>(20, 3), 50), collect(a)), SubmitResult::Accepted);
  ASSERT_EQ(core.submit(greedy_request("b", std::vector<int32_t>(8, 4), 50), collect(b)), SubmitResult::Accepted);
  for (int i = 0; i < 3; ++i) core.step();
  EXPECT_EQ(core.kv().global().n_used(), 6 + 3);

  core.cancel("a");
  core.step();
  EXPECT_TRUE(a.finished);
  EXPECT_EQ(a.reason, FinishReason::Cancelled);
  EXPECT_EQ(core.kv().global().n_used(), 3);
  EXPECT_FALSE(b.finished);

  // Cancelling again or cancelling an unknown id changes nothing.
  core.cancel("a");
  core.cancel("zzz");
  core.step();
  EXPECT_EQ(a.n_finishes, 1);
}

TEST(Engine, ModelFailureFinishesWithError) {
  FakeModel model(fake_model_info(kVocab, 0));
  EngineCore core(model, small_config(400));
  Result result;
  ASSERT_EQ(core.submit(greedy_request("a", {1, 2, 3}, 5), collect(result)), SubmitResult::Accepted);
  model.fail = true;
  core.step();
  EXPECT_EQ(result.reason, FinishReason::Error);
  EXPECT_FALSE(result.error.empty());
  EXPECT_EQ(core.kv().global().n_used(), 0);
  EXPECT_TRUE(core.scheduler().empty());
}

TEST(Engine, RandomSubmitsAndCancelsLeaveNoBlocks) {
  for (int32_t chunk : {0, 16}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const ModelInfo info = fake_model_info(kVocab, chunk);
    FakeModel model(info);
    EngineCore core(model, small_config(120, 24));
    std::mt19937 rng(11);
    std::map<std::string, Result> results;
    std::map<std::string, std::vector<int32_t>> prompts;
    std::vector<std::string> ids;

    for (int i = 0; i < 300; ++i) {
      const std::string id = "r" + std::to_string(i);
      std::vector<int32_t> prompt(1 + rng() % 40);
      for (int32_t& t : prompt) t = int32_t(rng() % 8);  // few distinct tokens: many prefix hits
      prompts[id] = prompt;
      if (core.submit(greedy_request(id, prompt, 1 + int32_t(rng() % 20)), collect(results[id])) ==
          SubmitResult::Accepted) {
        ids.push_back(id);
      }
      if (rng() % 3 == 0) core.cancel(ids[rng() % ids.size()]);
      if (rng() % 2 == 0) core.step();
    }
    run_until_idle(core);

    EXPECT_EQ(core.kv().global().n_used(), 0);
    if (chunk > 0) {
      EXPECT_EQ(core.kv().local()->n_used(), 0);
    }
    for (const std::string& id : ids) {
      const Result& r = results[id];
      EXPECT_EQ(r.n_finishes, 1) << id;
      if (r.reason == FinishReason::Length) {
        EXPECT_EQ(r.tokens, reference_greedy(prompts[id], int32_t(r.tokens.size()), info)) << id;
      } else {
        EXPECT_EQ(r.reason, FinishReason::Cancelled) << id << " " << r.error;
      }
    }
  }
}

TEST(Engine, ThreadedEngineRunsRequests) {
  const ModelInfo info = fake_model_info(kVocab, 16);
  FakeModel model(info);
  std::unique_ptr<Engine> engine = make_engine(model, small_config(400));
  engine->start();

  const auto prompts = mixed_prompts();
  std::mutex mutex;
  std::condition_variable done;
  int n_done = 0;
  std::vector<std::vector<int32_t>> outputs(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto callback = [&, i](const GenerationUpdate& update) {
      std::lock_guard<std::mutex> lock(mutex);
      for (const SampledToken& t : update.tokens) outputs[i].push_back(t.token);
      if (update.finished) {
        ++n_done;
        done.notify_all();
      }
    };
    ASSERT_EQ(engine->submit(greedy_request("t" + std::to_string(i), prompts[i], max_tokens_of(i)), callback),
              SubmitResult::Accepted);
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(30), [&] { return n_done == int(prompts.size()); }));
  }
  engine->stop();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(outputs[i], reference_greedy(prompts[i], max_tokens_of(i), info)) << i;
  }
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
  EXPECT_EQ(engine->stats().n_running, 0);
}

}  // namespace
}  // namespace brasa

namespace brasa {
namespace {

TEST(SizeKvPools, SplitsByNeed) {
  // 64-byte global blocks, 192-byte local blocks (3 layers), 4-block chunks. A
  // 128-token sequence needs 8192 global bytes and 3072 local bytes.
  KvGeometry kv;
  kv.n_global_layers = 1;
  kv.n_local_layers = 3;
  kv.n_kv_heads = 1;
  kv.head_dim = 2;
  kv.chunk_size = 16;
  const KvPoolSizes sizes = size_kv_pools(kv, 6400, 4, 128);
  EXPECT_EQ(sizes.n_global_blocks, 72);
  EXPECT_EQ(sizes.n_local_blocks, 9);

  // The local pool keeps at least one chunk; here that leaves no global block.
  EXPECT_THROW(size_kv_pools(kv, 800, 4, 128), Error);
  const KvPoolSizes tight = size_kv_pools(kv, 832, 4, 128);
  EXPECT_EQ(tight.n_local_blocks, 4);
  EXPECT_EQ(tight.n_global_blocks, 1);

  // Eight sequences fill 6400 bytes at 12.5 tokens each, inside one chunk: 16 vs 48 bytes a token.
  const KvPoolSizes shared = size_kv_pools(kv, 6400, 4, 128, 8);
  EXPECT_EQ(shared.n_global_blocks, 25);
  EXPECT_EQ(shared.n_local_blocks, 25);

  kv.n_local_layers = 0;
  kv.chunk_size = 0;
  EXPECT_EQ(size_kv_pools(kv, 6400, 4, 128).n_global_blocks, 100);
  EXPECT_EQ(size_kv_pools(kv, 6400, 4, 128).n_local_blocks, 0);
}

}  // namespace
}  // namespace brasa

namespace brasa {
namespace {

// Seeded sampling: each sequence owns its generator, so the draw sequence, and
// with it the output, does not depend on which other sequences share a step.
TEST(Engine, SeededSamplingIndependentOfBatch) {
  const ModelInfo info = fake_model_info(kVocab, 16);
  const auto prompts = mixed_prompts();
  auto request = [&](size_t i) {
    GenerationRequest r = greedy_request("s" + std::to_string(i), prompts[i], 12);
    r.sampling.temperature = 1.5f;
    r.sampling.top_p = 0.9f;
    r.sampling.seed = 1000 + i;
    return r;
  };

  std::vector<Result> alone(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    FakeModel model(info);
    EngineCore core(model, small_config(400));
    ASSERT_EQ(core.submit(request(i), collect(alone[i])), SubmitResult::Accepted);
    run_until_idle(core);
  }

  FakeModel model(info);
  EngineCore core(model, small_config(60));
  std::vector<Result> batched(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_EQ(core.submit(request(i), collect(batched[i])), SubmitResult::Accepted);
  }
  run_until_idle(core);

  bool any_not_greedy = false;
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_EQ(alone[i].tokens.size(), 12u);
    EXPECT_EQ(batched[i].tokens, alone[i].tokens);
    any_not_greedy = any_not_greedy || alone[i].tokens != reference_greedy(prompts[i], 12, info);
  }
  EXPECT_TRUE(any_not_greedy);
}

}  // namespace
}  // namespace brasa

namespace brasa {
namespace {

TEST(Engine, PrefillChunksShareStepsWithDecode) {
  const ModelInfo info = fake_model_info(kVocab, 0);
  FakeModel model(info);
  EngineCore core(model, small_config(400, 10));
  Result a;
  Result b;
  ASSERT_EQ(core.submit(greedy_request("a", {1, 2, 3}, 20), collect(a)), SubmitResult::Accepted);
  core.step();
  core.step();
  const std::vector<int32_t> long_prompt(35, 9);
  ASSERT_EQ(core.submit(greedy_request("b", long_prompt, 3), collect(b)), SubmitResult::Accepted);
  for (int i = 0; i < 4; ++i) core.step();

  // Steps 3 to 6: a decodes one token in each while b's prompt arrives in chunks of 9.
  ASSERT_EQ(model.steps.size(), 6u);
  for (size_t s = 2; s < 6; ++s) {
    SCOPED_TRACE("step " + std::to_string(s));
    ASSERT_EQ(model.steps[s].size(), 2u);
    EXPECT_EQ(model.steps[s][0].n_tokens, 1);
    EXPECT_EQ(model.steps[s][1].start_pos, int32_t(s - 2) * 9);
    EXPECT_EQ(model.steps[s][1].n_tokens, s < 5 ? 9 : 8);
  }
  EXPECT_EQ(a.tokens.size(), 6u);
  EXPECT_EQ(b.tokens.size(), 1u);

  run_until_idle(core);
  EXPECT_EQ(a.tokens, reference_greedy({1, 2, 3}, 20, info));
  EXPECT_EQ(b.tokens, reference_greedy(long_prompt, 3, info));
}

}  // namespace
}  // namespace brasa

namespace brasa {
namespace {

TEST(Engine, DumpListsPoolsAndSequences) {
  FakeModel model(fake_model_info(kVocab, 16));
  EngineCore core(model, small_config(400));
  Result result;
  ASSERT_EQ(core.submit(greedy_request("dumped", std::vector<int32_t>(9, 2), 5), collect(result)),
            SubmitResult::Accepted);
  core.step();
  const std::string dump = core.dump();
  EXPECT_NE(dump.find("global pool: blocks 336, used 3"), std::string::npos) << dump;
  EXPECT_NE(dump.find("local pool: blocks 64, used 3"), std::string::npos) << dump;
  EXPECT_NE(dump.find("running dumped: tokens 10, computed 9, blocks [0 1 2]"), std::string::npos) << dump;
}

}  // namespace
}  // namespace brasa
