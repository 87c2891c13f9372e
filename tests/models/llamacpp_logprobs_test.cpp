// Compares brasa's step-0 log-probabilities on stories260K with llama.cpp's.
// The golden file contains the 512 raw logits at the last prompt position from
// llama.cpp v0.5.0's CPU build (llama-completion --temp 0, default options:
// F16 KV cache and flash attention). With an F16 KV cache, brasa's attention
// follows llama.cpp's F16 flash attention, and the log-softmax of its logits
// is compared for the chosen token and the top 10 alternatives.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "models/model.h"

namespace brasa {
namespace {

const std::string kShared = BRASA_SHARED_DIR;
constexpr size_t kTopAlternatives = 10;

// The bound on each log-probability. The scalar kernels stay within it (3.6e-6
// measured) because reference::rms_norm_row rounds like ggml's RMSNorm and the
// scalar attention follows llama.cpp's F16 flash attention step by step.
constexpr double kLogprobTolerance = 1e-4;

nlohmann::json load_golden() {
  std::ifstream in(kShared + "/testdata/golden/stories260K-greedy.json");
  return nlohmann::json::parse(in);
}

std::vector<double> log_softmax(const std::vector<float>& logits) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double total = 0.0;
  for (float x : logits) total += std::exp(double(x) - max_logit);
  const double log_total = max_logit + std::log(total);
  std::vector<double> out;
  for (float x : logits) out.push_back(double(x) - log_total);
  return out;
}

// Token ids of the k largest values, largest first.
std::vector<int32_t> top_k(const std::vector<double>& values, size_t k) {
  std::vector<int32_t> ids(values.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + long(k), ids.end(),
                    [&](int32_t a, int32_t b) { return values[size_t(a)] > values[size_t(b)]; });
  ids.resize(k);
  return ids;
}

// Runs the prompt as one prefill into a fresh KV cache of kv_dtype and returns
// the logits of its last position.
std::vector<float> prefill_logits(Model& model, const std::vector<int32_t>& prompt, DType kv_dtype) {
  constexpr int32_t kBlockSize = 4;
  const KvGeometry& g = model.info().kv;
  const int32_t n_blocks = (int32_t(prompt.size()) + kBlockSize - 1) / kBlockSize;
  KvPoolStorage global(n_blocks, kBlockSize, g.n_global_layers, g.n_kv_heads, g.head_dim, kv_dtype);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  std::iota(table.rbegin(), table.rend(), 0);

  SequenceStep step;
  step.tokens = prompt.data();
  step.n_tokens = int32_t(prompt.size());
  step.start_pos = 0;
  step.block_table = table.data();
  step.n_blocks = n_blocks;
  StepOutput out;
  model.forward({&step, 1}, KvPools{&global.pool(), nullptr}, out);
  return std::vector<float>(out.row(0), out.row(0) + out.vocab_size);
}

// Name of the kernel set that make_cpu_backend(pool) picks on this CPU.
std::string best_cpu_isa() {
  ThreadPool pool(1);
  const std::string name = make_cpu_backend(pool)->name();
  return name.substr(name.find('-') + 1);
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double max_diff = 0.0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::abs(double(a[i]) - double(b[i])));
  return max_diff;
}

// Max |logit - llama.cpp| over the 512 step-0 logits of every golden prompt.
double max_logit_difference(Model& model, const nlohmann::json& golden, DType kv_dtype) {
  double max_diff = 0.0;
  for (const auto& c : golden["cases"]) {
    const auto expected = c["prompt_last_logits"].get<std::vector<float>>();
    const auto logits = prefill_logits(model, c["prompt_token_ids"].get<std::vector<int32_t>>(), kv_dtype);
    max_diff = std::max(max_diff, max_abs_difference(logits, expected));
  }
  return max_diff;
}

// An F16 KV cache makes the model chaotic at the 1e-7 level. An F32 rounding
// difference upstream of attention can move a key, value or accumulator
// element to the next F16 value. That moves logits by up to 2e-3, measured by
// perturbing the weights by 1e-7 in a numpy model of stories260K. So
// llama.cpp's logits are reproduced only where every F32 step before the F16
// roundings rounds as ggml's does. The scalar kernels come closest; the SIMD
// kernels differ more, so with them the test only bounds the difference:
// measured 3.8e-3, of which the SIMD attention (polynomial exp, F32 score sums)
// accounts for most; with the scalar attention and every other kernel SIMD it
// was 3.9e-4, and replacing either the matmul or SwiGLU as well gave 4e-6.
class LlamaCppLogprobs : public ::testing::Test {
 protected:
  void load(const std::string& isa) {
    backend_ = make_cpu_backend(pool_, isa);
    model_ = load_model(kShared + "/testdata/models/stories260K.gguf", *backend_);
  }

  ThreadPool pool_{1};
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
};

TEST_F(LlamaCppLogprobs, F16KvTopTokensMatch) {
  load("scalar");
  const nlohmann::json golden = load_golden();
  ASSERT_EQ(golden["cases"].size(), 3u);

  for (const auto& c : golden["cases"]) {
    const std::string prompt = c["prompt"];
    const auto expected_logits = c["prompt_last_logits"].get<std::vector<float>>();
    const std::vector<float> logits =
        prefill_logits(*model_, c["prompt_token_ids"].get<std::vector<int32_t>>(), DType::F16);
    ASSERT_EQ(logits.size(), expected_logits.size());

    const std::vector<double> expected = log_softmax(expected_logits);
    const std::vector<double> actual = log_softmax(logits);
    const std::vector<int32_t> top = top_k(expected, kTopAlternatives);
    EXPECT_EQ(top[0], c["generated_token_ids"][0].get<int32_t>()) << prompt;
    EXPECT_EQ(top_k(actual, 1)[0], top[0]) << prompt;
    for (int32_t id : top) {
      EXPECT_NEAR(actual[size_t(id)], expected[size_t(id)], kLogprobTolerance) << prompt << " token " << id;
    }
  }

  const double max_diff = max_logit_difference(*model_, golden, DType::F16);
  RecordProperty("max_abs_logit_diff", std::to_string(max_diff));
  std::printf("scalar kernels, F16 KV: max |logit - llama.cpp| = %.3g\n", max_diff);
  EXPECT_LT(max_diff, kLogprobTolerance);
}

// F32 KV is brasa's default. It skips llama.cpp's F16 roundings, so it is
// further away, with either kernel set.
TEST_F(LlamaCppLogprobs, F32KvStaysClose) {
  const nlohmann::json golden = load_golden();
  for (const std::string& isa : std::vector<std::string>{"scalar", best_cpu_isa()}) {
    load(isa);
    const double max_diff = max_logit_difference(*model_, golden, DType::F32);
    std::printf("%s kernels, F32 KV: max |logit - llama.cpp| = %.3g\n", isa.c_str(), max_diff);
    EXPECT_LT(max_diff, 2e-2) << isa;
  }
}

TEST_F(LlamaCppLogprobs, F16KvWithSimdKernelsStaysClose) {
  load(best_cpu_isa());
  const double max_diff = max_logit_difference(*model_, load_golden(), DType::F16);
  std::printf("%s kernels, F16 KV: max |logit - llama.cpp| = %.3g\n", best_cpu_isa().c_str(), max_diff);
  EXPECT_LT(max_diff, 1e-2);
}

}  // namespace
}  // namespace brasa
