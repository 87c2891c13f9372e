// Runs `brasa convert` and checks the files it writes: stories260K (a real
// model trained on TinyStories, GGUF F32) against llama.cpp's golden greedy
// tokens, the generated scout-tiny Llama 4 checkpoint in GGUF against its
// safetensors original, and the errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_work_dir.h"
#include "core/thread_pool.h"
#include "formats/gguf.h"
#include "kernels/backend.h"
#include "kernels/kv_pool.h"
#include "models/model.h"
#include "models/test_checkpoint.h"

#include "cli_process.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

const std::string kStories = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
const std::string kGolden = std::string(BRASA_SHARED_DIR) + "/testdata/golden/stories260K-greedy.json";
const std::string kStory = std::string(BRASA_SOURCE_DIR) + "/tests/cli/data/short_story.txt";
// Converts `model` once per test process into name under the process work directory.
// Returns the output path.
std::string converted(const std::string& model, const std::string& name, const std::string& dtype) {
  static std::set<std::string> done;
  const std::string out = ::brasa::test::work_dir() + "/" + name;
  if (done.insert(out).second) {
    auto [output, status] = run_brasa("convert --model " + model + " --out " + out + " --dtype " + dtype);
    EXPECT_EQ(status, 0) << output;
  }
  return out;
}

// A generated Llama 4 checkpoint in F32, written once per build tree.
std::string test_checkpoint(const std::string& preset) {
  const std::string dir = ::brasa::test::work_dir() + "/convert-" + preset + "-f32";
  if (!fs::exists(dir + "/config.json")) {
    TestModelOptions options;
    options.preset = preset;
    options.out_dir = dir;
    options.tokenizer_path = std::string(BRASA_SHARED_DIR) + "/testdata/llama-models/llama4/tokenizer.model";
    options.chat_template_path =
        std::string(BRASA_SHARED_DIR) + "/testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja";
    write_test_model(options);
  }
  return dir;
}

std::string scout_tiny() { return test_checkpoint("scout-tiny"); }

// Runs one sequence through a model, prefilling `prompt` and then decoding
// greedily, and returns the logits of every prompt position and decode step.
class Runner {
 public:
  explicit Runner(const std::string& path) : pool_(2), backend_(make_cpu_backend(pool_)) {
    model_ = load_model(path, *backend_);
  }

  const ModelInfo& info() const { return model_->info(); }

  std::vector<std::vector<float>> prompt_logits(const std::vector<int32_t>& prompt) {
    reset(int32_t(prompt.size()) + 1);
    return step(prompt, 0, true);
  }

  std::vector<int32_t> greedy(const std::vector<int32_t>& prompt, int32_t n_predict) {
    reset(int32_t(prompt.size()) + n_predict + 1);
    std::vector<std::vector<float>> rows = step(prompt, 0, false);
    std::vector<int32_t> out;
    int32_t pos = int32_t(prompt.size());
    for (int32_t i = 0; i < n_predict; ++i) {
      const std::vector<float>& logits = rows.back();
      const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      out.push_back(next);
      rows = step({next}, pos++, false);
    }
    return out;
  }

 private:
  void reset(int32_t n_positions) {
    const KvGeometry& g = model_->info().kv;
    n_blocks_ = n_positions / kBlockSize + 1;
    global_ = KvPoolStorage(n_blocks_, kBlockSize, g.n_global_layers, g.n_kv_heads, g.head_dim);
    local_ = KvPoolStorage(n_blocks_, kBlockSize, std::max(g.n_local_layers, 1), g.n_kv_heads, g.head_dim);
    table_.resize(size_t(n_blocks_));
    for (int32_t i = 0; i < n_blocks_; ++i) table_[size_t(i)] = i;
  }

  std::vector<std::vector<float>> step(const std::vector<int32_t>& tokens, int32_t start, bool all_logits) {
    SequenceStep s;
    s.tokens = tokens.data();
    s.n_tokens = int32_t(tokens.size());
    s.start_pos = start;
    s.block_table = table_.data();
    s.n_blocks = n_blocks_;
    s.local_block_table = table_.data();
    s.n_local_blocks = n_blocks_;
    s.all_logits = all_logits;
    KvPools pools{&global_.pool(), model_->info().kv.n_local_layers > 0 ? &local_.pool() : nullptr};
    StepOutput out;
    model_->forward({&s, 1}, pools, out);
    std::vector<std::vector<float>> rows;
    const int32_t n_rows = all_logits ? s.n_tokens : 1;
    for (int32_t r = 0; r < n_rows; ++r) rows.emplace_back(out.row(r), out.row(r) + out.vocab_size);
    return rows;
  }

  static constexpr int32_t kBlockSize = 16;
  ThreadPool pool_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  KvPoolStorage global_;
  KvPoolStorage local_;
  std::vector<int32_t> table_;
  int32_t n_blocks_ = 0;
};

// The largest logit difference over all positions, relative to the largest
// logit magnitude of the reference.
double max_relative_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& reference) {
  double diff = 0.0;
  double scale = 0.0;
  for (size_t t = 0; t < reference.size(); ++t) {
    for (size_t i = 0; i < reference[t].size(); ++i) {
      diff = std::max(diff, double(std::fabs(a[t][i] - reference[t][i])));
      scale = std::max(scale, double(std::fabs(reference[t][i])));
    }
  }
  return diff / scale;
}

// The mean logit difference relative to the mean logit magnitude of the reference.
double mean_relative_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& reference) {
  double diff = 0.0;
  double scale = 0.0;
  for (size_t t = 0; t < reference.size(); ++t) {
    for (size_t i = 0; i < reference[t].size(); ++i) {
      diff += std::fabs(a[t][i] - reference[t][i]);
      scale += std::fabs(reference[t][i]);
    }
  }
  return diff / scale;
}

size_t same_argmax_count(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  size_t same = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    same += std::max_element(a[t].begin(), a[t].end()) - a[t].begin() ==
            std::max_element(b[t].begin(), b[t].end()) - b[t].begin();
  }
  return same;
}

double perplexity(const std::string& model) {
  auto [output, status] = run_brasa("perplexity --model " + model + " --file " + kStory + " --ctx 128 --json 2>/dev/null");
  EXPECT_EQ(status, 0) << output;
  const size_t brace = output.find('{');
  if (brace == std::string::npos) return NAN;
  return nlohmann::json::parse(output.substr(brace))["perplexity"].get<double>();
}

// ---------------------------------------------------------------------------
// Errors

TEST(ConvertErrors, BadInputIsAClearError) {
  const std::string out = ::brasa::test::work_dir() + "/never-written.gguf";
  struct Case {
    std::string arguments;
    std::string message;
  };
  const Case cases[] = {
      {"--model " + kStories + " --out " + out + " --dtype q3_k", "invalid --dtype 'q3_k'"},
      {"--model /nonexistent/model.gguf --out " + out + " --dtype q8_0", "model not found"},
      {"--model " + kStories + " --out " + kStories + " --dtype q8_0", "output already exists"},
      {"--model " + kStories + " --out " + out + " --dtype fp8", "GGUF has no FP8 type"},
      {"--model " + kStories + " --out " + ::brasa::test::work_dir() + "/never-written --dtype q8_0", "safetensors cannot store Q8_0"},
      {"--model " + kStories + " --out " + out + " --dtype bf16 --format ggml", "invalid --format 'ggml'"},
  };
  for (const Case& c : cases) {
    auto [output, status] = run_brasa("convert " + c.arguments);
    EXPECT_NE(status, 0) << c.arguments;
    EXPECT_NE(output.find(c.message), std::string::npos) << c.arguments << "\noutput: " << output;
  }
  EXPECT_FALSE(fs::exists(out));
}

// An --out with a trailing slash names the output directory. The staging
// directory must go beside it, not inside it, or the final rename fails.
TEST(ConvertErrors, TrailingSlashOutWritesDirectory) {
  const std::string out = ::brasa::test::work_dir() + "/trailing-slash";
  auto [output, status] = run_brasa("convert --model " + kStories + " --out " + out + "/ --dtype f32");
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(fs::exists(out + "/model.safetensors")) << output;
  EXPECT_TRUE(fs::exists(out + "/config.json")) << output;
  for (const fs::directory_entry& entry : fs::directory_iterator(::brasa::test::work_dir())) {
    EXPECT_EQ(entry.path().filename().string().find("trailing-slash.tmp-"), std::string::npos) << entry.path();
  }
}

// ---------------------------------------------------------------------------
// stories260K (llama)

TEST(ConvertStories, KeepsMetadataAndPicksTypes) {
  const GgufFile q8(converted(kStories, "stories260K-q8_0.gguf", "q8_0"));
  const GgufFile original(kStories);
  EXPECT_EQ(q8.get_string("general.architecture"), "llama");
  EXPECT_EQ(q8.get_int("general.file_type"), 7);
  EXPECT_EQ(q8.get_string_array("tokenizer.ggml.tokens"), original.get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(q8.tensors().size(), original.tensors().size());
  EXPECT_EQ(q8.find_tensor("blk.0.attn_q.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(q8.find_tensor("token_embd.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(q8.find_tensor("blk.0.attn_norm.weight")->dtype, DType::F32);
  // ffn_down rows hold 172 values, not a whole number of 32-value blocks.
  EXPECT_EQ(q8.find_tensor("blk.0.ffn_down.weight")->dtype, DType::F16);
}

// llama.cpp's golden greedy continuations come from the F32 file. Q8_0 and
// BF16 weights change the logits slightly, so the texts may part after a
// while; each must agree for its first tokens.
TEST(ConvertStories, GreedyTokensFollowLlamaCpp) {
  std::ifstream in(kGolden);
  const nlohmann::json golden = nlohmann::json::parse(in);
  for (const auto& [name, dtype, min_prefix] : {std::tuple<std::string, std::string, size_t>{"stories260K-q8_0.gguf", "q8_0", 16},
                                                {"stories260K-bf16.gguf", "bf16", 32}}) {
    Runner runner(converted(kStories, name, dtype));
    for (const nlohmann::json& c : golden["cases"]) {
      const auto prompt = c["prompt_token_ids"].get<std::vector<int32_t>>();
      const auto expected = c["generated_token_ids"].get<std::vector<int32_t>>();
      const std::vector<int32_t> ours = runner.greedy(prompt, int32_t(expected.size()));
      size_t prefix = 0;
      while (prefix < ours.size() && ours[prefix] == expected[prefix]) ++prefix;
      EXPECT_GE(prefix, std::min(min_prefix, expected.size())) << dtype << " prompt \"" << c["prompt"] << "\"";
      std::printf("%s \"%s\": first %zu of %zu greedy tokens equal llama.cpp's\n", dtype.c_str(),
                  c["prompt"].get<std::string>().c_str(), prefix, expected.size());
    }
  }
}

// Perplexity on a short story rises a little with each narrower type, and the
// FP8 safetensors directory (with its tokenizer.gguf) loads like the rest.
TEST(ConvertStories, PerplexityStaysClose) {
  const double f32 = perplexity(kStories);
  const double q8 = perplexity(converted(kStories, "stories260K-q8_0.gguf", "q8_0"));
  const double bf16 = perplexity(converted(kStories, "stories260K-bf16.gguf", "bf16"));
  const double fp8 = perplexity(converted(kStories, "stories260K-fp8", "fp8"));
  ASSERT_TRUE(std::isfinite(f32));
  EXPECT_NEAR(q8, f32, 0.02 * f32);
  EXPECT_NEAR(bf16, f32, 0.02 * f32);
  EXPECT_NEAR(fp8, f32, 0.10 * f32);
  EXPECT_TRUE(fs::exists(converted(kStories, "stories260K-fp8", "fp8") + "/tokenizer.gguf"));
}

// ---------------------------------------------------------------------------
// scout-tiny (llama4)

TEST(ConvertScoutTiny, WritesLlamaCppNames) {
  const GgufFile gguf(converted(scout_tiny(), "scout-tiny-q8_0.gguf", "q8_0"));
  EXPECT_EQ(gguf.get_string("general.architecture"), "llama4");
  EXPECT_EQ(gguf.get_int("llama4.expert_count"), 4);
  EXPECT_EQ(gguf.get_int("llama4.expert_feed_forward_length"), 64);
  EXPECT_EQ(gguf.get_int("llama4.feed_forward_length"), 128);
  EXPECT_EQ(gguf.get_int("llama4.interleave_moe_layer_step"), 1);
  EXPECT_EQ(gguf.get_int("llama4.attention.sliding_window"), 32);
  EXPECT_EQ(gguf.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(gguf.get_string("tokenizer.ggml.pre"), "llama4");
  EXPECT_EQ(gguf.get_int("tokenizer.ggml.bos_token_id"), 200000);
  EXPECT_FALSE(gguf.get_string("tokenizer.chat_template", "").empty());

  // GGML lists dimensions innermost first; GgufFile reports them outermost first.
  const GgufTensor* gate = gguf.find_tensor("blk.0.ffn_gate_exps.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->shape, (std::vector<int64_t>{4, 64, 64}));
  EXPECT_EQ(gate->dtype, DType::Q8_0);
  EXPECT_EQ(gguf.find_tensor("blk.0.ffn_down_exps.weight")->shape, (std::vector<int64_t>{4, 64, 64}));
  EXPECT_EQ(gguf.find_tensor("blk.0.ffn_gate_inp.weight")->dtype, DType::F32);
  EXPECT_NE(gguf.find_tensor("blk.0.ffn_up_shexp.weight"), nullptr);
  EXPECT_NE(gguf.find_tensor("rope_freqs.weight"), nullptr);
  EXPECT_EQ(gguf.find_tensor("token_embd.weight")->shape, (std::vector<int64_t>{202048, 64}));
}

// A prompt of 45 tokens crosses scout-tiny's 32-token attention chunk and its
// temperature floor of 8 positions.
std::vector<int32_t> scout_prompt() {
  std::vector<int32_t> prompt = {200000};
  for (int32_t i = 1; i < 45; ++i) prompt.push_back((i * 7919) % 200000);
  return prompt;
}

TEST(ConvertScoutTiny, F32GgufMatchesSafetensors) {
  const auto reference = Runner(scout_tiny()).prompt_logits(scout_prompt());
  const auto gguf = Runner(converted(scout_tiny(), "scout-tiny-f32.gguf", "f32")).prompt_logits(scout_prompt());
  EXPECT_LT(max_relative_diff(gguf, reference), 1e-4);
}

// Number of positions whose largest logit difference stays below `bound` of
// the reference's largest logit magnitude.
size_t positions_within(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& reference,
                        double bound) {
  size_t within = 0;
  for (size_t t = 0; t < reference.size(); ++t) {
    within += max_relative_diff({a[t]}, {reference[t]}) < bound;
  }
  return within;
}

// Q8_0 keeps 8 bits a weight, and its products run against activations that
// are also rounded to 8 bits per 32-value block, as llama.cpp's do. Logits
// move by a few percent of their range, except at positions where the error
// flips a near-tied top-1 expert choice of these random weights.
TEST(ConvertScoutTiny, Q8_0GgufWithinTolerance) {
  const auto reference = Runner(scout_tiny()).prompt_logits(scout_prompt());
  const auto q8 = Runner(converted(scout_tiny(), "scout-tiny-q8_0.gguf", "q8_0")).prompt_logits(scout_prompt());
  const double mean = mean_relative_diff(q8, reference);
  std::printf("Q8_0: mean relative logit difference %.4f, largest %.4f, %zu of %zu positions within 5%%\n", mean,
              max_relative_diff(q8, reference), positions_within(q8, reference, 0.05), reference.size());
  // Measured 0.029 (44 of 45 positions within 5%).
  EXPECT_LT(mean, 0.05);
  EXPECT_GE(positions_within(q8, reference, 0.05), reference.size() * 9 / 10);
  EXPECT_GE(same_argmax_count(q8, reference), reference.size() * 9 / 10);
}

// Under Q4_0, token_embd and output take Q8_0 and hold most of scout-tiny's
// parameters. Its layers are Q4_0, so brasa bench must not take the AMX-INT8
// peak of Q8_0 for prefill.
TEST(ConvertScoutTiny, Q4_0MatmulTypeSkipsTables) {
  const std::string path = converted(scout_tiny(), "scout-tiny-q4_0.gguf", "q4_0");
  const GgufFile gguf(path);
  const auto* output = gguf.find_tensor("output.weight");
  const auto* query = gguf.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(output, nullptr);
  ASSERT_NE(query, nullptr);
  EXPECT_EQ(output->dtype, DType::Q8_0);
  EXPECT_EQ(query->dtype, DType::Q4_0);

  EXPECT_EQ(Runner(path).info().matmul_dtype, DType::Q4_0);
}

// FP8 safetensors keep E4M3's 3-bit mantissa on the layers' projections. With
// random weights and top-1 routing, that error flips the chosen expert at a
// few positions, so the check is on the mean difference, not the largest.
TEST(ConvertScoutTiny, Fp8SafetensorsWithinTolerance) {
  const auto reference = Runner(scout_tiny()).prompt_logits(scout_prompt());
  const auto fp8 = Runner(converted(scout_tiny(), "scout-tiny-fp8", "fp8")).prompt_logits(scout_prompt());
  const double mean = mean_relative_diff(fp8, reference);
  std::printf("FP8: mean relative logit difference %.4f, largest %.4f\n", mean, max_relative_diff(fp8, reference));
  EXPECT_LT(mean, 0.15);
  EXPECT_GE(same_argmax_count(fp8, reference), reference.size() * 3 / 4);
}

// maverick-tiny stores one tensor per expert and has MoE on every other layer.
// GGUF and back to safetensors exercises both name mappings and the split of
// the expert stacks. (scout-tiny's rope_freqs.weight has no Hugging Face form.)
TEST(ConvertMaverickTiny, SafetensorsRoundTrip) {
  const std::string original = test_checkpoint("maverick-tiny");
  const auto reference = Runner(original).prompt_logits(scout_prompt());
  const std::string gguf = converted(original, "maverick-tiny-f32.gguf", "f32");
  EXPECT_EQ(GgufFile(gguf).get_int("llama4.interleave_moe_layer_step"), 2);
  EXPECT_LT(max_relative_diff(Runner(gguf).prompt_logits(scout_prompt()), reference), 1e-4);

  const std::string back = converted(gguf, "maverick-tiny-f32-back", "f32");
  EXPECT_LT(max_relative_diff(Runner(back).prompt_logits(scout_prompt()), reference), 1e-4);
}

}  // namespace
}  // namespace brasa
