// Compares brasa's Llama 4 forward pass with golden logits from the independent
// numpy reference (tools/reference/llama4_reference.py, float64), on the tiny
// checkpoints that `brasa make-test-model` writes. Regenerate the golden files
// with tools/reference/make_golden.py whenever the generator's weights change.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_work_dir.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/kv_pool.h"
#include "models/model.h"
#include "models/test_checkpoint.h"

namespace brasa {
namespace {

constexpr int32_t kBlockSize = 16;

struct GoldenPosition {
  int32_t argmax = 0;
  double logsumexp = 0;
  double max = 0;
  double min = 0;
  std::vector<double> logits;  // at Golden::vocab_indices
  std::vector<int32_t> top8;
};

struct GoldenPrompt {
  std::vector<int32_t> tokens;
  std::vector<GoldenPosition> positions;
};

struct Golden {
  std::vector<int32_t> vocab_indices;
  std::vector<GoldenPrompt> prompts;
};

Golden read_golden(const std::string& preset, const std::string& dtype) {
  std::string path = std::string(BRASA_SOURCE_DIR) + "/tests/models/data/golden_" + preset + "_" + dtype + ".json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing golden file " + path);
  nlohmann::json json = nlohmann::json::parse(in);

  Golden golden;
  golden.vocab_indices = json.at("vocab_indices").get<std::vector<int32_t>>();
  for (const nlohmann::json& prompt_json : json.at("prompts")) {
    GoldenPrompt prompt;
    prompt.tokens = prompt_json.at("tokens").get<std::vector<int32_t>>();
    for (const nlohmann::json& p : prompt_json.at("positions")) {
      GoldenPosition position;
      position.argmax = p.at("argmax");
      position.logsumexp = p.at("logsumexp");
      position.max = p.at("max");
      position.min = p.at("min");
      position.logits = p.at("logits").get<std::vector<double>>();
      position.top8 = p.at("top8").get<std::vector<int32_t>>();
      prompt.positions.push_back(std::move(position));
    }
    golden.prompts.push_back(std::move(prompt));
  }
  return golden;
}

// Allowed error of a logit, as a fraction of its row's logit range (max - min,
// about 9 for these models).
// - f32: the same math in F32 instead of F64. Measured errors are below 1e-6
//   of the range (the golden files keep 6 significant digits), so 1e-3 leaves
//   room for other summation orders and exp/log implementations.
// - bf16 and fp8: the reference decodes the same stored BF16 and FP8 weights
//   and scales, so only the backend's arithmetic differs, which Backend keeps
//   in F32. Measured errors are again below 1e-6 of the range. The bound
//   5e-3 still admits kernels that round activations to BF16 (relative error
//   2^-9), while a wrong scale, dtype or expert layout moves logits by a
//   large part of the range.
// NOTE: reduced-precision activations can flip a near-tied top-k expert
// choice, which changes that token's logits far beyond these bounds. The
// reference does not model that, so such kernels need their own comparison.
double tolerance_fraction(const std::string& dtype) {
  if (dtype == "f32") return 1e-3;
  return 5e-3;
}

// Writes the checkpoint afresh, so a change to the generator shows up here
// instead of hiding behind an old directory. Each test passes its own
// directory name, because ctest may run tests in parallel processes.
std::string write_checkpoint(const std::string& preset, const std::string& dtype, const std::string& dir_name) {
  TestModelOptions options;
  options.preset = preset;
  options.dtype = dtype;
  options.seed = 0;
  options.out_dir = ::brasa::test::work_dir() + "/golden/" + dir_name;
  options.tokenizer_path = std::string(BRASA_SHARED_DIR) + "/testdata/llama-models/llama4/tokenizer.model";
  options.chat_template_path =
      std::string(BRASA_SHARED_DIR) + "/testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja";
  std::filesystem::remove_all(options.out_dir);
  write_test_model(options);
  return options.out_dir;
}

// Runs one sequence through a model in the given pieces and returns one
// logits row per position. A multi-token piece requests all its rows, and a
// single-token decode step requests only its last row, as the engine does.
class SequenceRunner {
 public:
  SequenceRunner(Model& model, int32_t max_tokens) : model_(model) {
    const KvGeometry& kv = model.info().kv;
    n_blocks_ = (max_tokens + kBlockSize - 1) / kBlockSize;
    global_ = KvPoolStorage(n_blocks_, kBlockSize, kv.n_global_layers, kv.n_kv_heads, kv.head_dim);
    if (kv.n_local_layers > 0) local_ = KvPoolStorage(n_blocks_, kBlockSize, kv.n_local_layers, kv.n_kv_heads, kv.head_dim);
    for (int32_t i = 0; i < n_blocks_; ++i) block_table_.push_back(i);
  }

  std::vector<std::vector<float>> run(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pieces) {
    std::vector<std::vector<float>> rows;
    int32_t start = 0;
    for (int32_t n : pieces) {
      SequenceStep step;
      step.tokens = tokens.data() + start;
      step.n_tokens = n;
      step.start_pos = start;
      step.block_table = block_table_.data();
      step.n_blocks = (start + n + kBlockSize - 1) / kBlockSize;
      step.local_block_table = block_table_.data();
      step.n_local_blocks = local_.pool().n_blocks > 0 ? step.n_blocks : 0;
      step.all_logits = n > 1;

      KvPools pools;
      pools.global = &global_.pool();
      pools.local = local_.pool().n_blocks > 0 ? &local_.pool() : nullptr;
      StepOutput out;
      model_.forward({&step, 1}, pools, out);

      int64_t n_rows = step.all_logits ? n : 1;
      EXPECT_EQ(out.vocab_size, model_.info().vocab_size);
      EXPECT_EQ(int64_t(out.logits.size()), n_rows * out.vocab_size);
      for (int64_t r = 0; r < n_rows; ++r) {
        const float* row = out.row(out.first_row.at(0) + r);
        rows.emplace_back(row, row + out.vocab_size);
      }
      start += n;
    }
    return rows;
  }

 private:
  Model& model_;
  int32_t n_blocks_ = 0;
  KvPoolStorage global_;
  KvPoolStorage local_;
  std::vector<int32_t> block_table_;
};

double logsumexp(const std::vector<float>& row) {
  double top = *std::max_element(row.begin(), row.end());
  double sum = 0;
  for (float v : row) sum += std::exp(double(v) - top);
  return top + std::log(sum);
}

// Checks brasa's rows against the golden positions they cover and reports the
// worst error of each kind, so a failure names one position and one vocab id.
void expect_rows_match(const std::vector<std::vector<float>>& rows, const GoldenPrompt& prompt,
                       const std::vector<int32_t>& positions, const Golden& golden, double fraction) {
  ASSERT_EQ(rows.size(), positions.size());
  double worst_logit = 0, worst_lse = 0, worst_argmax = 0;
  std::string where_logit, where_lse, where_argmax;

  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<float>& row = rows[i];
    const GoldenPosition& expected = prompt.positions.at(size_t(positions[i]));
    double range = expected.max - expected.min;
    std::string at = "position " + std::to_string(positions[i]);

    for (size_t j = 0; j < golden.vocab_indices.size(); ++j) {
      int32_t id = golden.vocab_indices[j];
      double error = std::fabs(double(row.at(size_t(id))) - expected.logits[j]) / range;
      if (error > worst_logit) {
        worst_logit = error;
        where_logit = at + ", id " + std::to_string(id) + ": brasa " + std::to_string(row[size_t(id)]) +
                      ", reference " + std::to_string(expected.logits[j]);
      }
    }

    double lse_error = std::fabs(logsumexp(row) - expected.logsumexp) / range;
    if (lse_error > worst_lse) {
      worst_lse = lse_error;
      where_lse = at + ": brasa " + std::to_string(logsumexp(row)) + ", reference " + std::to_string(expected.logsumexp);
    }

    // The reference's argmax must be a top logit of brasa's row too, within
    // twice the tolerance, because near-ties may legitimately swap.
    float brasa_max = *std::max_element(row.begin(), row.end());
    double argmax_gap = (double(brasa_max) - row.at(size_t(expected.argmax))) / range;
    if (argmax_gap > worst_argmax) {
      worst_argmax = argmax_gap;
      auto brasa_argmax = std::max_element(row.begin(), row.end()) - row.begin();
      where_argmax = at + ": reference argmax " + std::to_string(expected.argmax) + ", brasa argmax " +
                     std::to_string(brasa_argmax);
    }
  }

  EXPECT_LE(worst_logit, fraction) << "worst logit error at " << where_logit;
  EXPECT_LE(worst_lse, fraction) << "worst logsumexp error at " << where_lse;
  EXPECT_LE(worst_argmax, 2 * fraction) << "argmax mismatch at " << where_argmax;
}

std::vector<int32_t> iota_positions(int32_t n) {
  std::vector<int32_t> positions(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) positions[size_t(i)] = i;
  return positions;
}

struct Variant {
  std::string preset;
  std::string dtype;
};

// Keeps test listings readable, where GoogleTest would print the raw bytes.
void PrintTo(const Variant& variant, std::ostream* os) { *os << variant.preset << " " << variant.dtype; }

class GoldenLogits : public ::testing::TestWithParam<Variant> {};

// One test per checkpoint covers all three ways of feeding the prompts, so
// the checkpoint is written once per test process.
TEST_P(GoldenLogits, MatchesReference) {
  const Variant& variant = GetParam();
  Golden golden = read_golden(variant.preset, variant.dtype);
  std::string dir = write_checkpoint(variant.preset, variant.dtype, variant.preset + "-" + variant.dtype);
  double fraction = tolerance_fraction(variant.dtype);

  ThreadPool threads(2);
  std::unique_ptr<Backend> backend = make_cpu_backend(threads);
  std::unique_ptr<Model> model = load_model(dir, *backend);
  ASSERT_EQ(model->info().vocab_size, 202048);

  // Every prompt prefilled in one piece.
  for (size_t p = 0; p < golden.prompts.size(); ++p) {
    SCOPED_TRACE("one-piece prefill of prompt " + std::to_string(p));
    const GoldenPrompt& prompt = golden.prompts[p];
    int32_t n = int32_t(prompt.tokens.size());
    SequenceRunner runner(*model, n);
    expect_rows_match(runner.run(prompt.tokens, {n}), prompt, iota_positions(n), golden, fraction);
  }

  // The longest prompt (70 tokens, chunk size 32) in pieces: one ends exactly
  // at the chunk boundary 32, the next is a single token, the last crosses 64.
  const GoldenPrompt& longest = golden.prompts.back();
  int32_t n = int32_t(longest.tokens.size());
  ASSERT_GT(n, 64);
  {
    SCOPED_TRACE("prefill in pieces");
    std::vector<int32_t> pieces = {5, 27, 1, 30, n - 63};
    SequenceRunner runner(*model, n);
    expect_rows_match(runner.run(longest.tokens, pieces), longest, iota_positions(n), golden, fraction);
  }

  // Token-by-token decode from the first token on.
  {
    SCOPED_TRACE("token-by-token decode");
    SequenceRunner runner(*model, n);
    std::vector<int32_t> pieces(static_cast<size_t>(n), 1);
    expect_rows_match(runner.run(longest.tokens, pieces), longest, iota_positions(n), golden, fraction);
  }
}

INSTANTIATE_TEST_SUITE_P(Llama4, GoldenLogits,
                         ::testing::Values(Variant{"scout-tiny", "f32"}, Variant{"scout-tiny", "bf16"},
                                           Variant{"scout-tiny", "fp8"}, Variant{"maverick-tiny", "f32"},
                                           Variant{"maverick-tiny", "bf16"}, Variant{"maverick-tiny", "fp8"}),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           std::string name = info.param.preset + "_" + info.param.dtype;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The KV layout the engine sizes its pools from: RoPE layers are chunked
// local layers, NoPE layers (every 4th) are global.
TEST(GoldenLogitsGeometry, KvSplitFollowsNoRopeLayers) {
  std::string dir = write_checkpoint("maverick-tiny", "bf16", "geometry");
  ThreadPool threads(1);
  std::unique_ptr<Backend> backend = make_cpu_backend(threads);
  std::unique_ptr<Model> model = load_model(dir, *backend);
  const KvGeometry& kv = model->info().kv;
  EXPECT_EQ(kv.n_global_layers, 2);
  EXPECT_EQ(kv.n_local_layers, 6);
  EXPECT_EQ(kv.n_kv_heads, 1);
  EXPECT_EQ(kv.head_dim, 24);
  EXPECT_EQ(kv.chunk_size, 32);
}

}  // namespace
}  // namespace brasa
