// Hugging Face output of `brasa convert`: config.json, one model.safetensors
// and the tokenizer files, in the layout brasa's safetensors loader reads.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/convert.h"
#include "core/error.h"
#include "formats/gguf_writer.h"
#include "formats/safetensors_stream_writer.h"

namespace brasa::cli {

namespace fs = std::filesystem;

namespace {

using nlohmann::json;

struct HfTensor {
  std::string name;
  const PlannedTensor* source = nullptr;
  int64_t first_row = 0;    // rows [first_row, first_row + rows) of the source
  std::vector<int64_t> shape;
  int64_t rope_head_dim = 0;  // > 0: reorder Q/K rows from interleaved pairs to rotate-half
  DType type = DType::F32;
  bool is_scale = false;    // the F32 [rows, 1] scales of the FP8 tensor before it
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// The Hugging Face name of a GGUF tensor of one layer, or "" for an expert stack.
std::string hf_layer_name(const std::string& rest, const ModelConfig& c) {
  const std::string mlp = c.architecture == "llama" ? "mlp." : "feed_forward.";
  static const std::pair<const char*, const char*> kNames[] = {
      {"attn_norm.weight", "input_layernorm.weight"},  {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},    {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
  };
  for (const auto& [gguf, hf] : kNames) {
    if (rest == gguf) return hf;
  }
  static const std::pair<const char*, const char*> kMlpNames[] = {
      {"ffn_gate.weight", "gate_proj.weight"}, {"ffn_up.weight", "up_proj.weight"},
      {"ffn_down.weight", "down_proj.weight"}, {"ffn_gate_inp.weight", "router.weight"},
      {"ffn_gate_shexp.weight", "shared_expert.gate_proj.weight"}, {"ffn_up_shexp.weight", "shared_expert.up_proj.weight"},
      {"ffn_down_shexp.weight", "shared_expert.down_proj.weight"},
  };
  for (const auto& [gguf, hf] : kMlpNames) {
    if (rest == gguf) return mlp + hf;
  }
  return {};
}

// Lists the Hugging Face tensors: routed experts split into one tensor per
// expert (the only layout brasa loads for FP8), and each FP8 weight followed by its scales.
std::vector<HfTensor> hf_tensors(const std::vector<PlannedTensor>& plan, const ModelConfig& c, DType target) {
  std::vector<HfTensor> out;
  const auto add = [&](const std::string& name, const PlannedTensor& t, int64_t first_row, std::vector<int64_t> shape,
                       int64_t rope_head_dim) {
    HfTensor h{name, &t, first_row, std::move(shape), rope_head_dim, safetensors_tensor_type(t, target), false};
    out.push_back(h);
    if (h.type == DType::F8_E4M3) {
      out.push_back({name + "_scale", &t, first_row, {h.shape[0], 1}, rope_head_dim, DType::F32, true});
    }
  };

  for (const PlannedTensor& t : plan) {
    if (t.name == "token_embd.weight") {
      add("model.embed_tokens.weight", t, 0, t.shape, 0);
    } else if (t.name == "output_norm.weight") {
      add("model.norm.weight", t, 0, t.shape, 0);
    } else if (t.name == "output.weight") {
      add("lm_head.weight", t, 0, t.shape, 0);
    } else if (starts_with(t.name, "blk.")) {
      const size_t dot = t.name.find('.', 4);
      const std::string layer = t.name.substr(4, dot - 4);
      const std::string rest = t.name.substr(dot + 1);
      const std::string prefix = "model.layers." + layer + ".";
      const bool rope = c.architecture == "llama" && (rest == "attn_q.weight" || rest == "attn_k.weight");
      if (std::string hf = hf_layer_name(rest, c); !hf.empty()) {
        add(prefix + hf, t, 0, t.shape, rope ? c.head_dim : 0);
        continue;
      }
      const std::string projection = rest.substr(4, rest.find("_exps") - 4);  // gate, up or down
      if (t.shape.size() != 3 || (projection != "gate" && projection != "up" && projection != "down")) {
        throw Error("tensor " + t.name + " has no Hugging Face name known to brasa");
      }
      for (int64_t e = 0; e < t.shape[0]; ++e) {
        add(prefix + "feed_forward.experts." + std::to_string(e) + "." + projection + "_proj.weight", t,
            e * t.shape[1], {t.shape[1], t.shape[2]}, 0);
      }
    } else {
      throw Error("tensor " + t.name + " has no Hugging Face name known to brasa");
    }
  }
  return out;
}

const char* torch_dtype_name(DType target) {
  if (target == DType::F32) return "float32";
  if (target == DType::F16) return "float16";
  return "bfloat16";  // BF16, and the unquantized tensors of FP8 checkpoints
}

json hf_config(const ModelConfig& c, bool tied, DType target) {
  json config = {
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", tied},
      {"hidden_act", "silu"},
      {"torch_dtype", torch_dtype_name(target)},
  };
  if (c.rope_scaling.enabled) {
    config["rope_scaling"] = {{"rope_type", "llama3"},
                              {"factor", c.rope_scaling.factor},
                              {"low_freq_factor", c.rope_scaling.low_freq_factor},
                              {"high_freq_factor", c.rope_scaling.high_freq_factor},
                              {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  }
  if (target == DType::F8_E4M3) {
    // Hugging Face's name for FP8 weights with per-output-row F32 scales.
    config["quantization_config"] = {{"quant_method", "fbgemm_fp8"},
                                     {"modules_to_not_convert", json::array({"embed_tokens", "lm_head", "router"})}};
  }

  if (c.architecture == "llama") {
    config["model_type"] = "llama";
    config["architectures"] = json::array({"LlamaForCausalLM"});
    config["intermediate_size"] = c.intermediate_size;
    return config;
  }
  json moe_layers = json::array();
  json no_rope_layers = json::array();
  for (int32_t i = 0; i < c.n_layers; ++i) {
    if (c.moe_layer[size_t(i)]) moe_layers.push_back(i);
    no_rope_layers.push_back(c.rope_layer[size_t(i)] ? 1 : 0);
  }
  config["model_type"] = "llama4_text";
  config["architectures"] = json::array({"Llama4ForCausalLM"});
  config["intermediate_size"] = c.intermediate_size;
  config["intermediate_size_mlp"] = c.intermediate_size_mlp;
  config["num_local_experts"] = c.n_experts;
  config["num_experts_per_tok"] = c.n_experts_per_tok;
  config["moe_layers"] = moe_layers;
  config["no_rope_layers"] = no_rope_layers;
  config["attention_chunk_size"] = c.attention_chunk_size;
  config["use_qk_norm"] = c.use_qk_norm;
  config["attn_temperature_tuning"] = c.attn_temperature_tuning;
  config["floor_scale"] = c.floor_scale;
  config["attn_scale"] = c.attn_scale;
  return config;
}

void write_json(const fs::path& path, const json& value) {
  std::ofstream out(path, std::ios::trunc);
  out << value.dump(2) << "\n";
  if (!out) throw Error("failed to write " + path.string());
}

// Tokenizer files: copied from a Hugging Face source; from a GGUF source, its
// tokenizer.* keys go into a vocabulary-only tokenizer.gguf that brasa loads.
void write_tokenizer(const Checkpoint& checkpoint, const std::string& source_path, const fs::path& out_dir) {
  if (const GgufFile* gguf = checkpoint.gguf(); gguf != nullptr) {
    GgufWriter w;
    w.add_string("general.architecture", gguf->get_string("general.architecture"));
    bool has_vocab = false;
    for (const auto& [key, value] : gguf->metadata()) {
      if (key.compare(0, 10, "tokenizer.") != 0) continue;
      w.add_value(key, value);
      has_vocab = true;
    }
    if (has_vocab) w.write((out_dir / "tokenizer.gguf").string());
    return;
  }
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json", "chat_template.jinja"}) {
    const fs::path source = fs::path(source_path) / name;
    if (!fs::exists(source)) continue;
    std::error_code error;
    fs::copy_file(source, out_dir / name, fs::copy_options::overwrite_existing, error);
    if (error) throw Error("cannot copy " + source.string() + " to " + out_dir.string() + ": " + error.message());
  }
}

}  // namespace

void write_safetensors_model_dir(const Checkpoint& checkpoint, const ModelConfig& config,
                                 const std::string& source_path, DType target, const std::string& out_dir) {
  const std::vector<PlannedTensor> plan = plan_tensors(checkpoint, config, /*with_rope_freqs=*/false);
  const std::vector<HfTensor> tensors = hf_tensors(plan, config, target);
  bool tied = true;
  for (const PlannedTensor& t : plan) tied = tied && t.name != "output.weight";

  SafetensorsStreamWriter writer;
  for (const HfTensor& t : tensors) writer.add_tensor_info(t.name, t.type, t.shape);

  // Each FP8 weight's scales are the next tensor, so they are kept from one call to the next.
  std::vector<float> last_scales;
  writer.write((fs::path(out_dir) / "model.safetensors").string(), [&](size_t i) {
    const HfTensor& t = tensors[i];
    if (t.is_scale) {
      std::vector<uint8_t> bytes(last_scales.size() * 4);
      std::memcpy(bytes.data(), last_scales.data(), bytes.size());
      return bytes;
    }
    PlannedTensor view;
    view.name = t.name;
    view.shape = t.shape;
    view.role = t.source->role;
    const PlannedTensor* source = t.source;
    const int64_t first = t.first_row;
    const int64_t head_dim = t.rope_head_dim;
    view.read_row = [source, first, head_dim](int64_t row, float* out) {
      if (head_dim > 0) {
        // Row h*d + t*d/2 + i of rotate-half order is row h*d + 2i + t of interleaved order.
        const int64_t half = head_dim / 2;
        const int64_t within = row % head_dim;
        row = row - within + (within % half) * 2 + within / half;
      }
      source->read_row(first + row, out);
    };
    return encode_tensor(view, t.type, &last_scales);
  });

  write_json(fs::path(out_dir) / "config.json", hf_config(config, tied, target));
  write_tokenizer(checkpoint, source_path, out_dir);
}

}  // namespace brasa::cli
