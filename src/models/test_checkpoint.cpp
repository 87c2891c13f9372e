#include "models/test_checkpoint.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/safetensors_writer.h"

namespace brasa {

namespace {

using nlohmann::json;

// The vocabulary of Meta's Llama 4 tokenizer: 200,000 BPE tokens and 2,048
// special tokens. It stays at full size so the real tokenizer works with the
// test models.
constexpr int64_t kVocabSize = 202048;

// ---------------------------------------------------------------------------
// Deterministic random numbers: splitmix64 for uniform bits and Box-Muller for
// normals, so the bytes do not depend on the C++ library's distributions.
// NOTE: std::log and std::cos come from libm; a libm that rounds them
// differently could in rare cases change the last bit of a value.

uint64_t splitmix64(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// n values of mean + stddev * N(0, 1). Each tensor draws from its own stream,
// keyed by the seed and a layout-independent name, so the fused and the
// per-expert layouts hold the same values.
std::vector<float> random_normal(uint64_t seed, const std::string& key, int64_t n, double stddev, double mean = 0.0) {
  uint64_t state = seed * 0x9e3779b97f4a7c15ull ^ fnv1a(key);
  std::vector<float> values(static_cast<size_t>(n));
  const double two_pi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {
    // Uniforms in (0, 1]: 53 random bits plus one, so log(u1) stays finite.
    double u1 = double((splitmix64(state) >> 11) + 1) * 0x1.0p-53;
    double u2 = double(splitmix64(state) >> 11) * 0x1.0p-53;
    double radius = std::sqrt(-2.0 * std::log(u1));
    values[size_t(i)] = float(mean + stddev * radius * std::cos(two_pi * u2));
    if (i + 1 < n) values[size_t(i + 1)] = float(mean + stddev * radius * std::sin(two_pi * u2));
  }
  return values;
}

// ---------------------------------------------------------------------------
// Encoding of F32 master values into the stored dtypes.

TensorData encode(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values, DType dtype) {
  TensorData t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  if (dtype == DType::F32) {
    t.bytes.resize(values.size() * 4);
    std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  } else if (dtype == DType::BF16) {
    t.bytes.resize(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t h = f32_to_bf16(values[i]);
      std::memcpy(t.bytes.data() + 2 * i, &h, 2);
    }
  } else {
    BRASA_CHECK(false, std::string("encode: unsupported dtype ") + dtype_name(dtype));
  }
  return t;
}

// Meta's FP8 layout: E4M3 weights with one F32 scale per output row. The
// weight `<prefix>.weight` is [rows, cols] F8_E4M3 and its scale
// `<prefix>.weight_scale` is [rows, 1] F32. Each scale maps its row's max
// magnitude to 448, the largest E4M3 value.
void append_fp8(std::vector<TensorData>& out, const std::string& weight_name, int64_t rows, int64_t cols,
                const float* values) {
  TensorData weight;
  weight.name = weight_name;
  weight.dtype = DType::F8_E4M3;
  weight.shape = {rows, cols};
  weight.bytes.resize(size_t(rows * cols));

  std::vector<float> scales(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = values + r * cols;
    float max_abs = 0.0f;
    for (int64_t c = 0; c < cols; ++c) max_abs = std::max(max_abs, std::fabs(row[c]));
    float scale = max_abs > 0.0f ? max_abs / 448.0f : 1.0f;
    scales[size_t(r)] = scale;
    for (int64_t c = 0; c < cols; ++c) weight.bytes[size_t(r * cols + c)] = f32_to_fp8_e4m3(row[c] / scale);
  }

  out.push_back(std::move(weight));
  out.push_back(encode(weight_name + "_scale", {rows, 1}, scales, DType::F32));
}

struct DTypePlan {
  DType dense = DType::F32;   // everything except the routed experts
  bool fp8_experts = false;
};

DTypePlan plan_for(const std::string& dtype) {
  if (dtype == "f32") return {DType::F32, false};
  if (dtype == "bf16") return {DType::BF16, false};
  if (dtype == "fp8") return {DType::BF16, true};
  throw Error("invalid --dtype '" + dtype + "': expected f32, bf16 or fp8");
}

// ---------------------------------------------------------------------------
// Weights. Linear weights are [out_features, in_features] with standard
// deviation 1/sqrt(in_features), so activations keep about unit scale through
// the layers. Norm weights are 1 + 0.1 N(0, 1), so that they are not a no-op.

class WeightBuilder {
 public:
  WeightBuilder(const TestModelPreset& preset, uint64_t seed, const DTypePlan& plan)
      : p_(preset), seed_(seed), plan_(plan) {}

  std::vector<TensorData> build() {
    const std::string model = "language_model.model.";
    add_dense(model + "embed_tokens.weight", {kVocabSize, p_.hidden_size}, 1.0);
    for (int32_t layer = 0; layer < p_.num_hidden_layers; ++layer) add_layer(layer);
    add_norm(model + "norm.weight");
    add_dense("language_model.lm_head.weight", {kVocabSize, p_.hidden_size}, 1.0 / std::sqrt(double(p_.hidden_size)));
    return std::move(tensors_);
  }

 private:
  void add_dense(const std::string& name, std::vector<int64_t> shape, double stddev) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    tensors_.push_back(encode(name, shape, random_normal(seed_, name, n, stddev), plan_.dense));
  }

  void add_norm(const std::string& name) {
    tensors_.push_back(encode(name, {p_.hidden_size}, random_normal(seed_, name, p_.hidden_size, 0.1, 1.0), plan_.dense));
  }

  void add_linear(const std::string& name, int64_t out_features, int64_t in_features) {
    add_dense(name, {out_features, in_features}, 1.0 / std::sqrt(double(in_features)));
  }

  void add_layer(int32_t layer) {
    const std::string prefix = "language_model.model.layers." + std::to_string(layer) + ".";
    const int64_t hidden = p_.hidden_size;
    const int64_t q_dim = int64_t(p_.num_attention_heads) * p_.head_dim;
    const int64_t kv_dim = int64_t(p_.num_key_value_heads) * p_.head_dim;

    add_norm(prefix + "input_layernorm.weight");
    add_linear(prefix + "self_attn.q_proj.weight", q_dim, hidden);
    add_linear(prefix + "self_attn.k_proj.weight", kv_dim, hidden);
    add_linear(prefix + "self_attn.v_proj.weight", kv_dim, hidden);
    add_linear(prefix + "self_attn.o_proj.weight", hidden, q_dim);
    add_norm(prefix + "post_attention_layernorm.weight");

    bool is_moe = (layer + 1) % p_.interleave_moe_layer_step == 0;
    if (!is_moe) {
      add_linear(prefix + "feed_forward.gate_proj.weight", p_.intermediate_size_mlp, hidden);
      add_linear(prefix + "feed_forward.up_proj.weight", p_.intermediate_size_mlp, hidden);
      add_linear(prefix + "feed_forward.down_proj.weight", hidden, p_.intermediate_size_mlp);
      return;
    }

    add_linear(prefix + "feed_forward.router.weight", p_.num_local_experts, hidden);
    add_linear(prefix + "feed_forward.shared_expert.gate_proj.weight", p_.intermediate_size, hidden);
    add_linear(prefix + "feed_forward.shared_expert.up_proj.weight", p_.intermediate_size, hidden);
    add_linear(prefix + "feed_forward.shared_expert.down_proj.weight", hidden, p_.intermediate_size);
    add_experts(prefix + "feed_forward.experts.");
  }

  // Routed experts, drawn as Linear weights: gate and up [E, inter, hidden],
  // down [E, hidden, inter].
  void add_experts(const std::string& prefix) {
    const int64_t n_experts = p_.num_local_experts;
    const int64_t hidden = p_.hidden_size;
    const int64_t inter = p_.intermediate_size;
    std::vector<float> gate = random_normal(seed_, prefix + "gate", n_experts * inter * hidden, 1.0 / std::sqrt(double(hidden)));
    std::vector<float> up = random_normal(seed_, prefix + "up", n_experts * inter * hidden, 1.0 / std::sqrt(double(hidden)));
    std::vector<float> down = random_normal(seed_, prefix + "down", n_experts * hidden * inter, 1.0 / std::sqrt(double(inter)));

    if (plan_.fp8_experts || !p_.fused_experts) {
      for (int64_t e = 0; e < n_experts; ++e) {
        const std::string expert = prefix + std::to_string(e) + ".";
        const float* gate_e = gate.data() + e * inter * hidden;
        const float* up_e = up.data() + e * inter * hidden;
        const float* down_e = down.data() + e * hidden * inter;
        if (plan_.fp8_experts) {
          append_fp8(tensors_, expert + "gate_proj.weight", inter, hidden, gate_e);
          append_fp8(tensors_, expert + "up_proj.weight", inter, hidden, up_e);
          append_fp8(tensors_, expert + "down_proj.weight", hidden, inter, down_e);
        } else {
          tensors_.push_back(encode(expert + "gate_proj.weight", {inter, hidden}, {gate_e, gate_e + inter * hidden}, plan_.dense));
          tensors_.push_back(encode(expert + "up_proj.weight", {inter, hidden}, {up_e, up_e + inter * hidden}, plan_.dense));
          tensors_.push_back(encode(expert + "down_proj.weight", {hidden, inter}, {down_e, down_e + hidden * inter}, plan_.dense));
        }
      }
      return;
    }

    // Hugging Face's fused layout multiplies from the left (x @ W), so it stores
    // the transposes: gate_up_proj [E, hidden, 2 * inter] with the gate in the
    // first half of the last dimension, down_proj [E, inter, hidden].
    std::vector<float> gate_up(static_cast<size_t>(n_experts * hidden * 2 * inter));
    std::vector<float> down_t(static_cast<size_t>(n_experts * inter * hidden));
    for (int64_t e = 0; e < n_experts; ++e) {
      for (int64_t h = 0; h < hidden; ++h) {
        for (int64_t j = 0; j < inter; ++j) {
          float* out_row = gate_up.data() + (e * hidden + h) * 2 * inter;
          out_row[j] = gate[size_t((e * inter + j) * hidden + h)];
          out_row[inter + j] = up[size_t((e * inter + j) * hidden + h)];
          down_t[size_t((e * inter + j) * hidden + h)] = down[size_t((e * hidden + h) * inter + j)];
        }
      }
    }
    tensors_.push_back(encode(prefix + "gate_up_proj", {n_experts, hidden, 2 * inter}, gate_up, plan_.dense));
    tensors_.push_back(encode(prefix + "down_proj", {n_experts, inter, hidden}, down_t, plan_.dense));
  }

  const TestModelPreset& p_;
  uint64_t seed_;
  DTypePlan plan_;
  std::vector<TensorData> tensors_;
};

// ---------------------------------------------------------------------------
// Configuration and tokenizer files.

json text_config_json(const TestModelPreset& p) {
  json no_rope_layers = json::array();
  json layer_types = json::array();
  json moe_layers = json::array();
  for (int32_t layer = 0; layer < p.num_hidden_layers; ++layer) {
    bool use_rope = (layer + 1) % p.no_rope_layer_interval != 0;
    no_rope_layers.push_back(use_rope ? 1 : 0);
    layer_types.push_back(use_rope ? "chunked_attention" : "full_attention");
    if ((layer + 1) % p.interleave_moe_layer_step == 0) moe_layers.push_back(layer);
  }

  json rope_scaling = nullptr;
  if (p.llama3_rope_scaling) {
    // Scout's scaling type with a short original context, so that all three
    // frequency bands (kept, interpolated, divided by factor) occur at head_dim 32.
    rope_scaling = {{"rope_type", "llama3"},
                    {"factor", 8.0},
                    {"low_freq_factor", 1.0},
                    {"high_freq_factor", 4.0},
                    {"original_max_position_embeddings", 256}};
  }

  return json{
      {"model_type", "llama4_text"},
      {"hidden_size", p.hidden_size},
      {"intermediate_size", p.intermediate_size},
      {"intermediate_size_mlp", p.intermediate_size_mlp},
      {"num_hidden_layers", p.num_hidden_layers},
      {"num_attention_heads", p.num_attention_heads},
      {"num_key_value_heads", p.num_key_value_heads},
      {"head_dim", p.head_dim},
      {"vocab_size", kVocabSize},
      {"hidden_act", "silu"},
      {"rms_norm_eps", p.rms_norm_eps},
      {"rope_theta", p.rope_theta},
      {"rope_scaling", rope_scaling},
      {"num_local_experts", p.num_local_experts},
      {"num_experts_per_tok", p.num_experts_per_tok},
      {"interleave_moe_layer_step", p.interleave_moe_layer_step},
      {"moe_layers", moe_layers},
      {"no_rope_layers", no_rope_layers},
      {"layer_types", layer_types},
      {"attention_chunk_size", p.attention_chunk_size},
      {"use_qk_norm", p.use_qk_norm},
      {"attn_temperature_tuning", true},
      {"floor_scale", p.floor_scale},
      {"attn_scale", p.attn_scale},
      {"attention_bias", false},
      {"max_position_embeddings", p.max_position_embeddings},
      {"tie_word_embeddings", false},
      {"bos_token_id", 200000},
      {"eos_token_id", json::array({200001, 200007, 200008})},
      {"pad_token_id", 200018},
  };
}

json config_json(const TestModelPreset& p, const std::string& dtype) {
  json config = {
      {"architectures", json::array({"Llama4ForConditionalGeneration"})},
      {"model_type", "llama4"},
      {"text_config", text_config_json(p)},
      {"tie_word_embeddings", false},
      {"torch_dtype", dtype == "f32" ? "float32" : "bfloat16"},
      {"boi_token_index", 200080},
      {"eoi_token_index", 200081},
      {"image_token_index", 200092},
  };
  if (dtype == "fp8") {
    // Hugging Face's fbgemm_fp8 config describes this layout: FP8 weights with
    // F32 per-output-row scales [rows, 1], and the modules listed here stay
    // BF16. activation_scale_ub bounds run-time activation scales in FBGEMM's
    // kernels; brasa's loader does not need it.
    config["quantization_config"] = {
        {"quant_method", "fbgemm_fp8"},
        {"activation_scale_ub", 1200.0},
        {"modules_to_not_convert",
         json::array({"language_model.model.embed_tokens", "language_model.lm_head", "self_attn", "router",
                      "shared_expert", "feed_forward.gate_proj", "feed_forward.up_proj", "feed_forward.down_proj"})},
    };
  }
  return config;
}

void write_json(const std::string& path, const json& value) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw Error("cannot open " + path + " for writing");
  out << value.dump(2) << "\n";
  if (!out) throw Error("failed to write " + path);
}

std::string read_text_file(const std::string& path, const std::string& what, const std::string& option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(what + " not found at " + path + "; pass its path with " + option);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_tokenizer_files(const TestModelOptions& options) {
  std::string shared = default_shared_dir();
  std::string tokenizer = options.tokenizer_path.empty() ? shared + "/testdata/llama-models/llama4/tokenizer.model"
                                                         : options.tokenizer_path;
  std::string chat_template = options.chat_template_path.empty()
                                  ? shared + "/testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja"
                                  : options.chat_template_path;

  std::string tokenizer_bytes = read_text_file(tokenizer, "Llama 4 tokenizer.model", "--tokenizer");
  std::string template_text = read_text_file(chat_template, "Llama 4 chat template", "--chat-template");

  std::string tokenizer_out = options.out_dir + "/tokenizer.model";
  std::ofstream out(tokenizer_out, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot open " + tokenizer_out + " for writing");
  out << tokenizer_bytes;
  if (!out) throw Error("failed to write " + tokenizer_out);

  write_json(options.out_dir + "/tokenizer_config.json",
             {{"bos_token", "<|begin_of_text|>"},
              {"eos_token", "<|eot|>"},
              {"pad_token", "<|finetune_right_pad|>"},
              {"add_bos_token", true},
              {"model_max_length", find_test_model_preset(options.preset).max_position_embeddings},
              {"chat_template", template_text}});
}

std::vector<TestModelPreset> all_presets() {
  // Every layer MoE with QK norm, top-1 routing, llama3 RoPE scaling; the F32
  // and BF16 files use Hugging Face's fused expert tensors.
  TestModelPreset scout;
  scout.name = "scout-tiny";
  scout.llama3_rope_scaling = true;

  // MoE on odd layers and dense MLPs between, no QK norm, top-2 of 8 experts,
  // one tensor per expert, written in two shards.
  TestModelPreset maverick;
  maverick.name = "maverick-tiny";
  maverick.num_hidden_layers = 8;
  maverick.num_attention_heads = 4;
  maverick.num_key_value_heads = 1;
  maverick.head_dim = 24;
  maverick.num_local_experts = 8;
  maverick.num_experts_per_tok = 2;
  maverick.interleave_moe_layer_step = 2;
  maverick.use_qk_norm = false;
  maverick.fused_experts = false;
  maverick.default_shards = 2;

  // About 0.86 B parameters for benchmarks (0.41 B of them in the embedding and
  // the output projection): Scout-shaped with 16 experts.
  TestModelPreset bench;
  bench.name = "bench-moe";
  bench.hidden_size = 1024;
  bench.intermediate_size = 1024;
  bench.intermediate_size_mlp = 2048;
  bench.num_hidden_layers = 8;
  bench.num_attention_heads = 8;
  bench.num_key_value_heads = 2;
  bench.head_dim = 128;
  bench.num_local_experts = 16;
  bench.attention_chunk_size = 8192;
  bench.floor_scale = 8192;
  bench.max_position_embeddings = 65536;
  bench.default_shards = 4;

  return {scout, maverick, bench};
}

}  // namespace

std::vector<std::string> test_model_preset_names() {
  std::vector<std::string> names;
  for (const TestModelPreset& p : all_presets()) names.push_back(p.name);
  return names;
}

TestModelPreset find_test_model_preset(const std::string& name) {
  std::string valid;
  for (const TestModelPreset& p : all_presets()) {
    if (p.name == name) return p;
    valid += (valid.empty() ? "" : ", ") + p.name;
  }
  throw Error("unknown test model preset '" + name + "': expected one of " + valid);
}

std::string default_shared_dir() {
  const char* env = std::getenv("BRASA_SHARED_DIR");
  return env && *env ? std::string(env) : std::string("../shared");
}

namespace {

// Writes every file of the checkpoint into options.out_dir, which exists.
void write_test_model_files(const TestModelOptions& options, const TestModelPreset& preset, const DTypePlan& plan) {
  int32_t n_shards = options.n_shards > 0 ? options.n_shards : preset.default_shards;

  // Tokenizer first: a missing input file fails before the slow part.
  write_tokenizer_files(options);
  write_json(options.out_dir + "/config.json", config_json(preset, options.dtype));
  write_json(options.out_dir + "/generation_config.json",
             {{"bos_token_id", 200000}, {"eos_token_id", json::array({200001, 200007, 200008})}, {"pad_token_id", 200018}});

  // NOTE: all tensors are built in memory before writing; bench-moe at f32
  // needs about 3.5 GB of RAM.
  std::vector<TensorData> tensors = WeightBuilder(preset, options.seed, plan).build();
  write_safetensors_model(options.out_dir, tensors, n_shards);
}

}  // namespace

void write_test_model(const TestModelOptions& options) {
  namespace fs = std::filesystem;
  TestModelPreset preset = find_test_model_preset(options.preset);
  DTypePlan plan = plan_for(options.dtype);
  if (options.out_dir.empty()) throw Error("missing output directory (--out)");

  // The files are written into a staging directory beside the target and moved
  // into place at the end, so a process that finds the target directory (tests
  // running in parallel share one) never reads a half-written checkpoint.
  static std::atomic<int> counter{0};
  const fs::path target(options.out_dir);
  fs::path staging = target;
  staging += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::error_code error;
  fs::create_directories(staging, error);
  if (error) throw Error("cannot create directory " + staging.string() + ": " + error.message());

  TestModelOptions staged = options;
  staged.out_dir = staging.string();
  try {
    write_test_model_files(staged, preset, plan);
  } catch (...) {
    fs::remove_all(staging, error);
    throw;
  }

  // A new target takes the whole directory in one rename. An existing one (or
  // one another process created meanwhile) gets each file replaced by rename.
  fs::rename(staging, target, error);
  if (!error) return;
  fs::create_directories(target, error);
  if (error) throw Error("cannot create directory " + options.out_dir + ": " + error.message());
  for (const auto& entry : fs::directory_iterator(staging)) {
    fs::rename(entry.path(), target / entry.path().filename(), error);
    if (error) throw Error("cannot move " + entry.path().string() + " into " + options.out_dir + ": " + error.message());
  }
  fs::remove_all(staging, error);
}

}  // namespace brasa
