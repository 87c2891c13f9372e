#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace brasa {
namespace {

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

SampledToken run(const SamplingParams& params, const std::vector<float>& logits, const std::vector<int32_t>& prompt = {},
                 const std::vector<int32_t>& output = {}) {
  Sampler sampler(params);
  return sampler.sample(logits.data(), int32_t(logits.size()), prompt, output);
}

// Softmax in double, written independently of the sampler.
std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max = -INFINITY;
  for (float x : logits) max = std::max(max, double(x));
  std::vector<double> p;
  double sum = 0;
  for (float x : logits) {
    p.push_back(std::exp((double(x) - max) / temperature));
    sum += p.back();
  }
  for (double& v : p) v /= sum;
  return p;
}

TEST(Sampler, GreedyTakesLowestIdOnTies) {
  EXPECT_EQ(run(greedy(), {1.0f, 3.0f, 3.0f, 2.0f}).token, 1);
}

TEST(Sampler, LogitBiasChangesArgmax) {
  SamplingParams p = greedy();
  p.logit_bias = {{0, 5.0f}, {99, 100.0f}};  // id 99 is outside the vocabulary and ignored
  EXPECT_EQ(run(p, {1.0f, 3.0f, 2.0f}).token, 0);
}

TEST(Sampler, RepetitionPenaltyDividesAndMultiplies) {
  SamplingParams p = greedy();
  p.repetition_penalty = 2.0f;
  Sampler sampler(p);
  std::vector<float> logits = {4.0f, -1.0f, 3.0f};
  std::vector<int32_t> prompt = {0, 1};
  std::vector<int32_t> output = {0};  // a token seen twice is penalized once
  sampler.process_logits(logits.data(), 3, prompt, output);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);
  EXPECT_FLOAT_EQ(logits[1], -2.0f);
  EXPECT_FLOAT_EQ(logits[2], 3.0f);
}

TEST(Sampler, PresenceAndFrequencyUseOutputOnly) {
  SamplingParams p = greedy();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Sampler sampler(p);
  std::vector<float> logits = {1.0f, 1.0f, 1.0f};
  std::vector<int32_t> prompt = {2, 2};
  std::vector<int32_t> output = {0, 0, 0, 1};
  sampler.process_logits(logits.data(), 3, prompt, output);
  EXPECT_FLOAT_EQ(logits[0], 1.0f - 3 * 0.25f - 0.5f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f - 0.25f - 0.5f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f);
}

TEST(Sampler, LogprobsMatchDoubleReference) {
  SamplingParams p = greedy();
  p.logprobs = 2;
  p.logit_bias = {{3, 1.0f}};
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.5f, 0.0f};
  SampledToken t = run(p, logits);

  std::vector<float> biased = logits;
  biased[3] += 1.0f;
  std::vector<double> reference = softmax(biased, 1.0);
  EXPECT_EQ(t.token, 3);
  EXPECT_NEAR(t.logprob, std::log(reference[3]), 1e-6);
  ASSERT_EQ(t.top.size(), 2u);
  EXPECT_EQ(t.top[0].token, 3);
  EXPECT_EQ(t.top[1].token, 1);
  EXPECT_NEAR(t.top[1].logprob, std::log(reference[1]), 1e-6);
}

TEST(Sampler, LogprobsIgnoreTemperature) {
  SamplingParams p;
  p.temperature = 0.25f;
  p.logprobs = 0;
  p.seed = 3;
  std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  SampledToken t = run(p, logits);
  EXPECT_NEAR(t.logprob, std::log(softmax(logits, 1.0)[size_t(t.token)]), 1e-6);
  EXPECT_TRUE(t.top.empty());
}

TEST(Sampler, LogprobsStableForLargeLogits) {
  SampledToken t = compute_logprobs(std::vector<float>{1000.0f, 1000.0f}.data(), 2, 0, 1);
  EXPECT_NEAR(t.logprob, std::log(0.5), 1e-6);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p;
  p.seed = 42;
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(i % 7) * 0.3f;
  Sampler a(p);
  Sampler b(p);
  p.seed = 43;
  Sampler c(p);
  std::vector<int32_t> from_a, from_b, from_c;
  for (int i = 0; i < 100; ++i) {
    from_a.push_back(a.sample(logits.data(), 50, {}, {}).token);
    from_b.push_back(b.sample(logits.data(), 50, {}, {}).token);
    from_c.push_back(c.sample(logits.data(), 50, {}, {}).token);
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

// Draws many tokens and compares their frequencies with the expected distribution.
std::vector<double> frequencies(const SamplingParams& params, const std::vector<float>& logits, int n_draws) {
  Sampler sampler(params);
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < n_draws; ++i) counts[size_t(sampler.sample(logits.data(), int32_t(logits.size()), {}, {}).token)] += 1;
  for (double& c : counts) c /= n_draws;
  return counts;
}

TEST(Sampler, TemperatureDistribution) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.seed = 1;
  std::vector<float> logits = {0.0f, 0.5f, 1.0f, -0.5f};
  std::vector<double> expected = softmax(logits, 0.7);
  std::vector<double> got = frequencies(p, logits, 40000);
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(got[i], expected[i], 0.01) << "token " << i;
}

TEST(Sampler, TopKKeepsBest) {
  SamplingParams p;
  p.top_k = 2;
  p.seed = 2;
  std::vector<float> logits = {0.0f, 2.0f, 1.0f, -1.0f};
  std::vector<double> got = frequencies(p, logits, 40000);
  std::vector<double> kept = softmax({2.0f, 1.0f}, 1.0);
  EXPECT_EQ(got[0], 0.0);
  EXPECT_EQ(got[3], 0.0);
  EXPECT_NEAR(got[1], kept[0], 0.01);
  EXPECT_NEAR(got[2], kept[1], 0.01);
}

TEST(Sampler, TopPKeepsSmallestPrefix) {
  SamplingParams p;
  p.top_p = 0.6f;
  p.seed = 3;
  // Probabilities 0.5, 0.3, 0.2 (in some order): 0.5 < 0.6, so two tokens stay.
  std::vector<float> logits = {std::log(0.2f), std::log(0.5f), std::log(0.3f)};
  std::vector<double> got = frequencies(p, logits, 40000);
  EXPECT_EQ(got[0], 0.0);
  EXPECT_NEAR(got[1], 0.625, 0.01);
  EXPECT_NEAR(got[2], 0.375, 0.01);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplingParams p;
  p.min_p = 0.7f;
  p.seed = 4;
  std::vector<float> logits = {std::log(0.4f), std::log(0.35f), std::log(0.25f)};
  std::vector<double> got = frequencies(p, logits, 40000);
  EXPECT_EQ(got[2], 0.0);  // 0.25 < 0.7 * 0.4, while 0.35 stays
  EXPECT_NEAR(got[0], 0.4 / 0.75, 0.01);
}

}  // namespace
}  // namespace brasa
