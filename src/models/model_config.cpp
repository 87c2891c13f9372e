#include "models/model_config.h"

#include <cmath>

#include "core/error.h"
#include "formats/gguf.h"

namespace brasa {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Typed access to config.json fields, naming the file and key in errors.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, const std::string& path) : object_(object), path_(path) {}

  bool has(const char* key) const { return object_.contains(key) && !object_[key].is_null(); }

  int64_t integer(const char* key) const {
    if (!has(key)) throw Error(path_ + ": missing field " + key);
    return integer(key, 0);
  }
  int64_t integer(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const auto& v = object_[key];
    if (!v.is_number_integer()) throw Error(path_ + ": field " + key + " must be an integer, got " + v.dump());
    return v.get<int64_t>();
  }
  double real(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const auto& v = object_[key];
    if (!v.is_number()) throw Error(path_ + ": field " + key + " must be a number, got " + v.dump());
    return v.get<double>();
  }
  // Accepts a bool or a number (HF once wrote attn_temperature_tuning as 4).
  bool flag(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const auto& v = object_[key];
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0.0;
    throw Error(path_ + ": field " + key + " must be a bool, got " + v.dump());
  }
  const nlohmann::json& at(const char* key) const { return object_[key]; }

 private:
  const nlohmann::json& object_;
  const std::string& path_;
};

int32_t positive(int64_t v, const char* key, const std::string& path) {
  if (v <= 0 || v > (int64_t(1) << 30)) throw Error(path + ": field " + key + " must be positive, got " + std::to_string(v));
  return int32_t(v);
}

// A zero, negative or NaN RoPE base or RMSNorm epsilon would load without
// error and corrupt every logit, so both are checked here.
double positive_real(double v, const std::string& key, const std::string& path) {
  if (!(v > 0.0) || !std::isfinite(v)) {
    throw Error(path + ": field " + key + " must be a positive finite number, got " + std::to_string(v));
  }
  return v;
}

void parse_rope_scaling(const JsonFields& fields, const std::string& path, RopeScaling& out) {
  if (!fields.has("rope_scaling")) return;
  const nlohmann::json& scaling = fields.at("rope_scaling");
  if (!scaling.is_object()) throw Error(path + ": rope_scaling must be an object or null");
  std::string type = scaling.value("rope_type", scaling.value("type", std::string()));
  if (type == "default") return;
  if (type != "llama3") {
    throw Error(path + ": unsupported rope_scaling type \"" + type + "\" (supported: llama3)");
  }
  JsonFields s(scaling, path);
  out.enabled = true;
  out.factor = s.real("factor", 8.0);
  out.low_freq_factor = s.real("low_freq_factor", 1.0);
  out.high_freq_factor = s.real("high_freq_factor", 4.0);
  out.original_max_position_embeddings = s.integer("original_max_position_embeddings", 8192);
  if (out.factor <= 0 || out.low_freq_factor <= 0 || out.high_freq_factor <= out.low_freq_factor ||
      out.original_max_position_embeddings <= 0) {
    throw Error(path + ": invalid llama3 rope_scaling " + scaling.dump());
  }
}

void parse_common(const JsonFields& f, const std::string& path, ModelConfig& c) {
  c.hidden_size = positive(f.integer("hidden_size"), "hidden_size", path);
  c.n_layers = positive(f.integer("num_hidden_layers"), "num_hidden_layers", path);
  c.n_heads = positive(f.integer("num_attention_heads"), "num_attention_heads", path);
  c.n_kv_heads = positive(f.integer("num_key_value_heads", c.n_heads), "num_key_value_heads", path);
  c.head_dim = positive(f.integer("head_dim", c.hidden_size / c.n_heads), "head_dim", path);
  c.intermediate_size = positive(f.integer("intermediate_size"), "intermediate_size", path);
  c.vocab_size = positive(f.integer("vocab_size"), "vocab_size", path);
  c.max_position_embeddings = positive(f.integer("max_position_embeddings", 2048), "max_position_embeddings", path);
  c.rms_norm_eps = float(positive_real(f.real("rms_norm_eps", 1e-5), "rms_norm_eps", path));
  c.tie_word_embeddings = f.flag("tie_word_embeddings", false);
  parse_rope_scaling(f, path, c.rope_scaling);
  if (c.n_heads % c.n_kv_heads != 0) {
    throw Error(path + ": num_attention_heads " + std::to_string(c.n_heads) +
                " is not a multiple of num_key_value_heads " + std::to_string(c.n_kv_heads));
  }
  if (c.head_dim % 2 != 0) throw Error(path + ": head_dim " + std::to_string(c.head_dim) + " must be even for RoPE");
}

void parse_llama4_text(const nlohmann::json& text, const std::string& path, ModelConfig& c) {
  JsonFields f(text, path);
  parse_common(f, path, c);
  c.architecture = "llama4";
  c.rope_style = RopeStyle::Interleaved;  // HF Llama 4 applies RoPE as complex multiplication of (2i, 2i+1) pairs
  c.rope_theta = positive_real(f.real("rope_theta", 500000.0), "rope_theta", path);
  c.intermediate_size_mlp = positive(f.integer("intermediate_size_mlp", c.intermediate_size), "intermediate_size_mlp", path);
  c.n_experts = positive(f.integer("num_local_experts", 16), "num_local_experts", path);
  c.n_experts_per_tok = positive(f.integer("num_experts_per_tok", 1), "num_experts_per_tok", path);
  if (c.n_experts_per_tok > c.n_experts) {
    throw Error(path + ": num_experts_per_tok " + std::to_string(c.n_experts_per_tok) + " exceeds num_local_experts " +
                std::to_string(c.n_experts));
  }
  c.attention_chunk_size = int32_t(f.integer("attention_chunk_size", 0));
  if (c.attention_chunk_size < 0) throw Error(path + ": attention_chunk_size must not be negative");
  c.use_qk_norm = f.flag("use_qk_norm", true);
  c.attn_temperature_tuning = f.flag("attn_temperature_tuning", true);
  c.floor_scale = f.real("floor_scale", 8192.0);
  c.attn_scale = f.real("attn_scale", 0.1);
  if (c.floor_scale <= 0) throw Error(path + ": floor_scale must be positive");

  // MoE layers: the explicit list when given, else every interleave_moe_layer_step-th layer
  // (layers step-1, 2*step-1, ...), as HF's Llama4TextConfig derives it.
  c.moe_layer.assign(size_t(c.n_layers), false);
  if (f.has("moe_layers")) {
    const auto& list = f.at("moe_layers");
    if (!list.is_array()) throw Error(path + ": moe_layers must be a list of layer indices");
    for (const auto& v : list) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= c.n_layers) {
        throw Error(path + ": moe_layers entry " + v.dump() + " is not a layer index below " + std::to_string(c.n_layers));
      }
      c.moe_layer[size_t(v.get<int64_t>())] = true;
    }
  } else {
    int32_t step = positive(f.integer("interleave_moe_layer_step", 1), "interleave_moe_layer_step", path);
    for (int32_t i = step - 1; i < c.n_layers; i += step) c.moe_layer[size_t(i)] = true;
  }

  // no_rope_layers[i] == 0 marks a NoPE layer. Absent or empty, every
  // no_rope_layer_interval-th layer is NoPE (HF's default, interval 4).
  c.rope_layer.assign(size_t(c.n_layers), true);
  if (f.has("no_rope_layers") && !f.at("no_rope_layers").empty()) {
    const auto& list = f.at("no_rope_layers");
    if (!list.is_array() || list.size() != size_t(c.n_layers)) {
      throw Error(path + ": no_rope_layers must be a list of " + std::to_string(c.n_layers) + " entries (0 or 1)");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_number_integer() && !list[i].is_boolean()) {
        throw Error(path + ": no_rope_layers entry " + list[i].dump() + " must be 0 or 1");
      }
      c.rope_layer[i] = list[i].is_boolean() ? list[i].get<bool>() : list[i].get<int64_t>() != 0;
    }
  } else {
    int32_t interval = positive(f.integer("no_rope_layer_interval", 4), "no_rope_layer_interval", path);
    for (int32_t i = 0; i < c.n_layers; ++i) c.rope_layer[size_t(i)] = (i + 1) % interval != 0;
  }
}

}  // namespace

ModelConfig parse_hf_config(const nlohmann::json& config, const std::string& path) {
  if (!config.is_object()) throw Error(path + ": expected a JSON object");
  std::string model_type = config.value("model_type", std::string());
  ModelConfig c;

  if (model_type == "llama") {
    JsonFields f(config, path);
    parse_common(f, path, c);
    c.architecture = "llama";
    c.rope_style = RopeStyle::HalfSplit;  // HF Llama checkpoints permute Q/K rows for rotate_half
    c.rope_theta = positive_real(f.real("rope_theta", 10000.0), "rope_theta", path);
    c.moe_layer.assign(size_t(c.n_layers), false);
    c.rope_layer.assign(size_t(c.n_layers), true);
    c.tensor_prefix = "model.";
    c.lm_head_name = "lm_head.weight";
  } else if (model_type == "llama4") {
    if (!config.contains("text_config") || !config["text_config"].is_object()) {
      throw Error(path + ": model_type llama4 needs a text_config object");
    }
    parse_llama4_text(config["text_config"], path, c);
    // The multimodal checkpoint stores the text model under language_model.
    c.tensor_prefix = "language_model.model.";
    c.lm_head_name = "language_model.lm_head.weight";
    if (config.contains("tie_word_embeddings") && config["tie_word_embeddings"].is_boolean()) {
      c.tie_word_embeddings = c.tie_word_embeddings || config["tie_word_embeddings"].get<bool>();
    }
  } else if (model_type == "llama4_text") {
    parse_llama4_text(config, path, c);
    c.tensor_prefix = "model.";
    c.lm_head_name = "lm_head.weight";
  } else {
    throw Error(path + ": unsupported model_type \"" + model_type + "\" (supported: llama, llama4, llama4_text)");
  }
  return c;
}

namespace {

// Reads the hyperparameters that llama.cpp's "llama" and "llama4" share, under
// the architecture's key prefix.
void parse_gguf_common(const GgufFile& gguf, const std::string& arch, ModelConfig& c) {
  const std::string& path = gguf.path();
  const auto key = [&](const char* name) { return arch + "." + name; };
  c.architecture = arch;
  c.hidden_size = positive(gguf.get_int(key("embedding_length")), key("embedding_length").c_str(), path);
  c.n_layers = positive(gguf.get_int(key("block_count")), key("block_count").c_str(), path);
  c.n_heads = positive(gguf.get_int(key("attention.head_count")), key("attention.head_count").c_str(), path);
  c.n_kv_heads = positive(gguf.get_int(key("attention.head_count_kv"), c.n_heads), key("attention.head_count_kv").c_str(), path);
  c.head_dim = positive(gguf.get_int(key("attention.key_length"), c.hidden_size / c.n_heads), key("attention.key_length").c_str(), path);
  c.intermediate_size = positive(gguf.get_int(key("feed_forward_length")), key("feed_forward_length").c_str(), path);
  // A context length of 0 would let the server size max_model_len from the KV cache alone.
  c.max_position_embeddings = positive(gguf.get_int(key("context_length"), 2048), key("context_length").c_str(), path);
  c.rms_norm_eps = float(positive_real(gguf.get_float(key("attention.layer_norm_rms_epsilon"), 1e-5),
                                       key("attention.layer_norm_rms_epsilon"), path));
  c.rope_theta = positive_real(gguf.get_float(key("rope.freq_base"), 10000.0), key("rope.freq_base"), path);
  // llama.cpp's converter undoes HF's Q/K permutation for llama, and Llama 4
  // already rotates (2i, 2i+1) pairs, so GGUF uses interleaved pairs.
  c.rope_style = RopeStyle::Interleaved;
  c.tensor_prefix = "blk.";
  c.lm_head_name = "output.weight";
  c.tie_word_embeddings = gguf.find_tensor("output.weight") == nullptr;

  if (gguf.has(key("vocab_size"))) {
    c.vocab_size = positive(gguf.get_int(key("vocab_size")), key("vocab_size").c_str(), path);
  } else if (const GgufTensor* embd = gguf.find_tensor("token_embd.weight"); embd != nullptr && embd->shape.size() == 2) {
    c.vocab_size = positive(embd->shape[0], "token_embd.weight rows", path);
  } else {
    throw Error(path + ": missing " + key("vocab_size") + " and token_embd.weight");
  }

  int64_t rope_dim = gguf.get_int(key("rope.dimension_count"), c.head_dim);
  if (rope_dim != c.head_dim) {
    throw Error(path + ": " + key("rope.dimension_count") + " " + std::to_string(rope_dim) +
                " differs from the head size " + std::to_string(c.head_dim) + "; partial RoPE is not supported");
  }
  if (c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0) {
    throw Error(path + ": invalid head counts: " + std::to_string(c.n_heads) + " heads, " +
                std::to_string(c.n_kv_heads) + " KV heads, head size " + std::to_string(c.head_dim));
  }
  c.moe_layer.assign(size_t(c.n_layers), false);
  c.rope_layer.assign(size_t(c.n_layers), true);
}

// Llama 4 keys as llama.cpp v0.5.0 reads them (src/models/llama4.cpp). That
// version fixes the chunk size at 8192, the temperature floor at 8192, the
// temperature scale at 0.1 and the NoPE interval at 4, and applies QK norm
// unless the model has 128 experts. A nonzero attention.sliding_window only
// switches chunked attention on. brasa writes the real values under keys that
// llama.cpp defines (sliding_window, sliding_window_pattern,
// temperature_length, temperature_scale) plus llama4.attention.use_qk_norm, a
// key of brasa's own, and reads them back here with llama.cpp's fixed values
// as defaults, so that files from llama.cpp's converter load alike.
void parse_gguf_llama4(const GgufFile& gguf, ModelConfig& c) {
  const std::string& path = gguf.path();
  c.intermediate_size_mlp = c.intermediate_size;
  c.intermediate_size = positive(gguf.get_int("llama4.expert_feed_forward_length"), "llama4.expert_feed_forward_length", path);
  c.n_experts = positive(gguf.get_int("llama4.expert_count"), "llama4.expert_count", path);
  c.n_experts_per_tok = positive(gguf.get_int("llama4.expert_used_count", 1), "llama4.expert_used_count", path);
  if (c.n_experts_per_tok > c.n_experts) {
    throw Error(path + ": llama4.expert_used_count " + std::to_string(c.n_experts_per_tok) +
                " exceeds llama4.expert_count " + std::to_string(c.n_experts));
  }

  int32_t step = positive(gguf.get_int("llama4.interleave_moe_layer_step", 1), "llama4.interleave_moe_layer_step", path);
  for (int32_t i = step - 1; i < c.n_layers; i += step) c.moe_layer[size_t(i)] = true;

  const int64_t chunk = gguf.get_int("llama4.attention.sliding_window", 8192);
  if (chunk < 0 || chunk > INT32_MAX) throw Error(path + ": invalid llama4.attention.sliding_window " + std::to_string(chunk));
  c.attention_chunk_size = int32_t(chunk);
  if (chunk > 0) {
    // NoPE layers are the full-attention ones: every interval-th layer.
    int32_t interval = positive(gguf.get_int("llama4.attention.sliding_window_pattern", 4),
                                "llama4.attention.sliding_window_pattern", path);
    for (int32_t i = 0; i < c.n_layers; ++i) c.rope_layer[size_t(i)] = (i + 1) % interval != 0;
  }

  c.floor_scale = gguf.get_float("llama4.attention.temperature_length", 8192.0);
  c.attn_scale = gguf.get_float("llama4.attention.temperature_scale", 0.1);
  if (c.floor_scale <= 0) throw Error(path + ": llama4.attention.temperature_length must be positive");
  c.attn_temperature_tuning = c.attn_scale != 0.0;
  c.use_qk_norm = gguf.get_bool("llama4.attention.use_qk_norm", c.n_experts != 128);
}

}  // namespace

ModelConfig parse_gguf_config(const GgufFile& gguf) {
  std::string arch = gguf.get_string("general.architecture");
  if (arch != "llama" && arch != "llama4") {
    throw Error(gguf.path() + ": unsupported GGUF architecture \"" + arch + "\" (supported: llama, llama4)");
  }
  ModelConfig c;
  parse_gguf_common(gguf, arch, c);
  if (arch == "llama4") parse_gguf_llama4(gguf, c);
  return c;
}

std::vector<float> rope_inv_freq(const ModelConfig& config) {
  const int32_t half = config.head_dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  const RopeScaling& s = config.rope_scaling;
  for (int32_t i = 0; i < half; ++i) {
    double freq = 1.0 / std::pow(config.rope_theta, double(2 * i) / double(config.head_dim));
    if (s.enabled) {
      // llama3 scaling: keep high frequencies (short wavelengths), divide low
      // frequencies by factor, and blend linearly in between.
      double low_freq_wavelen = double(s.original_max_position_embeddings) / s.low_freq_factor;
      double high_freq_wavelen = double(s.original_max_position_embeddings) / s.high_freq_factor;
      double wavelen = 2.0 * kPi / freq;
      if (wavelen > low_freq_wavelen) {
        freq = freq / s.factor;
      } else if (wavelen >= high_freq_wavelen) {
        double smooth = (double(s.original_max_position_embeddings) / wavelen - s.low_freq_factor) /
                        (s.high_freq_factor - s.low_freq_factor);
        freq = (1.0 - smooth) * freq / s.factor + smooth * freq;
      }
    }
    inv_freq[size_t(i)] = float(freq);
  }
  return inv_freq;
}

float attn_temperature_scale(const ModelConfig& config, int32_t pos) {
  double buckets = std::floor((double(pos) + 1.0) / config.floor_scale);
  return float(std::log(buckets + 1.0) * config.attn_scale + 1.0);
}

}  // namespace brasa
