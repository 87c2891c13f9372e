// Runs `brasa perplexity` on stories260K (a real model trained on TinyStories)
// over a short children's story and checks the figures it reports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_process.h"

using brasa::run_brasa_stdout;

namespace {

const std::string kModel = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
const std::string kText = std::string(BRASA_SOURCE_DIR) + "/tests/cli/data/short_story.txt";

nlohmann::json run_perplexity(const std::string& options) {
  auto [output, status] = run_brasa_stdout("perplexity --model " + kModel + " --file " + kText + " --json " + options);
  EXPECT_EQ(status, 0) << output;
  return nlohmann::json::parse(output);
}

TEST(Perplexity, StoriesIsFiniteAndPlausible) {
  nlohmann::json result = run_perplexity("--ctx 128 --threads 1");
  double ppl = result["perplexity"].get<double>();
  EXPECT_TRUE(std::isfinite(ppl));
  // A model trained on TinyStories predicts a TinyStories-like text far better
  // than chance (perplexity 512 for its 512-token vocabulary).
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 20.0);
  EXPECT_GE(result["windows"].size(), 2u);
}

TEST(Perplexity, SameAcrossThreadCounts) {
  double one = run_perplexity("--ctx 128 --threads 1")["perplexity"].get<double>();
  double two = run_perplexity("--ctx 128 --threads 2")["perplexity"].get<double>();
  EXPECT_NEAR(one, two, 1e-4 * one);
}

TEST(Perplexity, StrideScoresEveryTokenOnce) {
  nlohmann::json plain = run_perplexity("--ctx 128");
  nlohmann::json strided = run_perplexity("--ctx 128 --stride 64");
  // Without overlap the first token of each window has no context, so it is
  // not scored. With overlap every token after the first is scored exactly once.
  size_t n_windows = plain["windows"].size();
  EXPECT_EQ(strided["tokens_scored"].get<size_t>(), plain["tokens_scored"].get<size_t>() + n_windows - 1);
  // Overlapping windows give each scored token more context, which on a text
  // like this one lowers the perplexity slightly but never changes it wildly.
  double a = plain["perplexity"].get<double>();
  double b = strided["perplexity"].get<double>();
  EXPECT_LT(std::fabs(a - b), 0.5 * a);
}

TEST(Perplexity, RejectsBadOptions) {
  EXPECT_NE(run_brasa_stdout("perplexity --model " + kModel + " --file " + kText + " --ctx 1").second, 0);
  EXPECT_NE(run_brasa_stdout("perplexity --model " + kModel + " --file " + kText + " --ctx 64 --stride 65").second, 0);
  EXPECT_NE(run_brasa_stdout("perplexity --model " + kModel + " --file " + kText + " --ctx 64 --stride -5").second, 0);
  EXPECT_NE(run_brasa_stdout("perplexity --model " + kModel + " --file /nonexistent.txt").second, 0);
  EXPECT_NE(run_brasa_stdout("perplexity --model /nonexistent.gguf --file " + kText).second, 0);
}

}  // namespace
