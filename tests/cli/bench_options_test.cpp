// Runs `brasa bench` with invalid sizes and checks that each fails with a
// message naming the value, before the seconds-long machine probe starts.
#include <gtest/gtest.h>

#include <string>

#include "cli_process.h"

namespace brasa {
namespace {

const std::string kStories = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";

// Runs bench on stories260K with one short phase of each kind plus `arguments`.
std::pair<std::string, int> run_bench(const std::string& arguments) {
  return run_brasa("bench --mmap --model " + kStories + " --decode-steps 1 " + arguments);
}

TEST(BenchOptions, ZeroPromptLengthFails) {
  const auto [output, status] = run_bench("--prompts 0 --batches 1");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("invalid prompt length 0"), std::string::npos) << output;
  EXPECT_EQ(output.find("measuring read bandwidth"), std::string::npos) << output;
}

TEST(BenchOptions, ZeroBatchFails) {
  const auto [output, status] = run_bench("--prompts 16 --batches 0");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("invalid batch size 0"), std::string::npos) << output;
  EXPECT_EQ(output.find("measuring read bandwidth"), std::string::npos) << output;
}

TEST(BenchOptions, NegativeDecodeContextFails) {
  const auto [output, status] = run_bench("--prompts 16 --batches 1 --decode-context -1");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("invalid --decode-context -1"), std::string::npos) << output;
}

// stories260K's GGUF context length is 2048 (its max_context as bench reports it).
TEST(BenchOptions, PromptBeyondContextFails) {
  const auto [output, status] = run_bench("--prompts 4096 --batches 1");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("prompt length 4096 exceeds the model's context length"), std::string::npos) << output;
  EXPECT_EQ(output.find("measuring read bandwidth"), std::string::npos) << output;
}

TEST(BenchOptions, DecodeBeyondContextFails) {
  const auto [output, status] = run_bench("--prompts 16 --batches 1 --decode-context 2047");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("reaches position 2048"), std::string::npos) << output;
  EXPECT_EQ(output.find("measuring read bandwidth"), std::string::npos) << output;
}

}  // namespace
}  // namespace brasa
