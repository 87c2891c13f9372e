// Runs `brasa bench` with invalid sizes and checks that each fails with a
// message naming the value, before the seconds-long machine probe starts.
#include <gtest/gtest.h>

#include <string>

#include "cli_process.h"

namespace brasa {
namespace {

const std::string kStories = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";

// Runs bench on stories260K with one short phase of each kind plus
// `arguments`, and checks that it fails with `message` before the probe.
void expect_fails_before_probe(const std::string& arguments, const std::string& message) {
  const auto [output, status] = run_brasa("bench --mmap --model " + kStories + " --decode-steps 1 " + arguments);
  EXPECT_NE(status, 0) << output;
  EXPECT_NE(output.find(message), std::string::npos) << output;
  EXPECT_EQ(output.find("measuring read bandwidth"), std::string::npos) << output;
}

TEST(BenchOptions, ZeroPromptLengthFails) {
  expect_fails_before_probe("--prompts 0 --batches 1", "invalid prompt length 0");
}

TEST(BenchOptions, ZeroBatchFails) { expect_fails_before_probe("--prompts 16 --batches 0", "invalid batch size 0"); }

TEST(BenchOptions, NegativeDecodeContextFails) {
  expect_fails_before_probe("--prompts 16 --batches 1 --decode-context -1", "invalid --decode-context -1");
}

// stories260K's GGUF context length is 2048 (its max_context as bench reports it).
TEST(BenchOptions, PromptBeyondContextFails) {
  expect_fails_before_probe("--prompts 4096 --batches 1", "prompt length 4096 exceeds the model's context length");
}

TEST(BenchOptions, DecodeBeyondContextFails) {
  expect_fails_before_probe("--prompts 16 --batches 1 --decode-context 2047", "reaches position 2048");
}

}  // namespace
}  // namespace brasa
