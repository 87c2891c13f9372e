// GGUF output of `brasa convert`: llama.cpp's key names and tensor names, so
// that llama.cpp loads the file as well as brasa.
#include <filesystem>
#include <spdlog/spdlog.h>

#include "cli/convert.h"
#include "core/error.h"
#include "formats/gguf_vocab.h"
#include "formats/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace brasa::cli {

namespace fs = std::filesystem;

namespace {

// general.file_type: llama.cpp's llama_ftype numbers for the --dtype choices.
uint32_t llama_file_type(DType target) {
  switch (target) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: break;
  }
  throw Error(std::string("no GGUF file type for ") + dtype_name(target));
}

// The smallest step s with MoE exactly on layers s-1, 2s-1, ..., which is
// all that llama4.interleave_moe_layer_step can express.
uint32_t moe_layer_step(const ModelConfig& c) {
  for (int32_t step = 1; step <= c.n_layers; ++step) {
    bool matches = true;
    for (int32_t i = 0; i < c.n_layers; ++i) matches = matches && c.moe_layer[size_t(i)] == ((i + 1) % step == 0);
    if (matches) return uint32_t(step);
  }
  throw Error("the MoE layers of this model are not every n-th layer, which GGUF's "
              "llama4.interleave_moe_layer_step cannot express");
}

// The interval k with NoPE exactly on layers k-1, 2k-1, ...; n_layers + 1 when every layer uses RoPE.
uint32_t nope_layer_interval(const ModelConfig& c) {
  for (int32_t k = 1; k <= c.n_layers + 1; ++k) {
    bool matches = true;
    for (int32_t i = 0; i < c.n_layers; ++i) matches = matches && c.rope_layer[size_t(i)] == ((i + 1) % k != 0);
    if (matches) return uint32_t(k);
  }
  throw Error("the NoPE layers of this model are not every n-th layer, which GGUF's "
              "llama4.attention.sliding_window_pattern cannot express");
}

void add_model_metadata(GgufWriter& w, const ModelConfig& c) {
  const std::string& a = c.architecture;
  const bool llama4 = a == "llama4";
  w.add_uint32(a + ".context_length", uint32_t(c.max_position_embeddings));
  w.add_uint32(a + ".embedding_length", uint32_t(c.hidden_size));
  w.add_uint32(a + ".block_count", uint32_t(c.n_layers));
  w.add_uint32(a + ".feed_forward_length", uint32_t(llama4 ? c.intermediate_size_mlp : c.intermediate_size));
  w.add_uint32(a + ".attention.head_count", uint32_t(c.n_heads));
  w.add_uint32(a + ".attention.head_count_kv", uint32_t(c.n_kv_heads));
  w.add_float32(a + ".rope.freq_base", float(c.rope_theta));
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  w.add_uint32(a + ".attention.key_length", uint32_t(c.head_dim));
  w.add_uint32(a + ".attention.value_length", uint32_t(c.head_dim));
  w.add_uint32(a + ".vocab_size", uint32_t(c.vocab_size));
  w.add_uint32(a + ".rope.dimension_count", uint32_t(c.head_dim));
  if (!llama4) return;

  w.add_uint32("llama4.expert_count", uint32_t(c.n_experts));
  w.add_uint32("llama4.expert_used_count", uint32_t(c.n_experts_per_tok));
  w.add_uint32("llama4.expert_feed_forward_length", uint32_t(c.intermediate_size));
  w.add_uint32("llama4.interleave_moe_layer_step", moe_layer_step(c));

  // llama.cpp v0.5.0 reads only whether sliding_window is 0, and 0 also turns
  // its NoPE layers off, so a model without chunking must not have NoPE layers.
  const uint32_t nope_interval = nope_layer_interval(c);
  if (c.attention_chunk_size == 0 && nope_interval <= uint32_t(c.n_layers)) {
    throw Error("a Llama 4 model with NoPE layers but no chunked attention has no GGUF form that llama.cpp reads alike");
  }
  w.add_uint32("llama4.attention.sliding_window", uint32_t(c.attention_chunk_size));
  w.add_uint32("llama4.attention.sliding_window_pattern", nope_interval);
  w.add_uint32("llama4.attention.temperature_length", uint32_t(c.floor_scale));
  w.add_float32("llama4.attention.temperature_scale", c.attn_temperature_tuning ? float(c.attn_scale) : 0.0f);
  w.add_bool("llama4.attention.use_qk_norm", c.use_qk_norm);
  if (c.n_experts == 128 ? c.use_qk_norm : !c.use_qk_norm) {
    spdlog::warn("llama.cpp v0.5.0 applies QK norm to Llama 4 models unless they have 128 experts; this model "
                 "{} QK norm, so llama.cpp will compute it differently", c.use_qk_norm ? "uses" : "has no");
  }
}

std::string string_field(const nlohmann::json& json, const char* key) {
  if (!json.contains(key)) return {};
  const nlohmann::json& v = json[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

int32_t first_token_id(const Tokenizer& tokenizer, std::initializer_list<std::string> texts) {
  for (const std::string& text : texts) {
    if (text.empty()) continue;
    const int32_t id = tokenizer.token_id(text);
    if (id >= 0) return id;
  }
  return -1;
}

// The vocabulary of a Hugging Face directory with a tiktoken tokenizer.model,
// as a GGUF "gpt2" vocabulary with merges derived from the ranks.
void add_tiktoken_vocab(GgufWriter& w, const std::string& dir) {
  const fs::path root(dir);
  if (!fs::exists(root / "tokenizer.model") || fs::exists(root / "tokenizer.json")) {
    // TODO: export tokenizer.json vocabularies (merges are stored there directly).
    throw Error(dir + ": GGUF export supports tiktoken tokenizer.model vocabularies (Llama 3, Llama 4) only; "
                "this directory has no tokenizer.model or also has a tokenizer.json");
  }
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(dir);

  // tiktoken ids: the ranked base tokens first, then the special tokens.
  std::vector<std::string> base;
  std::vector<std::string> specials;
  for (int32_t id = 0; id < tokenizer->vocab_size(); ++id) {
    if (tokenizer->is_special(id)) {
      specials.push_back(tokenizer->token_text(id));
    } else {
      if (!specials.empty()) throw Error(dir + ": token " + std::to_string(id) + " follows the special tokens");
      base.push_back(tokenizer->token_bytes(id));
    }
  }
  GgufBpeVocab vocab = tiktoken_to_gguf_vocab(base, specials);
  vocab.pre = base.size() == 200000 ? "llama4" : "llama-bpe";

  nlohmann::json config = nlohmann::json::object();
  if (fs::exists(root / "tokenizer_config.json")) config = read_json_file((root / "tokenizer_config.json").string());
  vocab.bos_id = tokenizer->bos_id();
  vocab.eos_id = first_token_id(*tokenizer, {string_field(config, "eos_token")});
  if (vocab.eos_id < 0 && !tokenizer->eos_ids().empty()) vocab.eos_id = tokenizer->eos_ids().front();
  vocab.eot_id = first_token_id(*tokenizer, {"<|eot|>", "<|eot_id|>"});
  vocab.eom_id = first_token_id(*tokenizer, {"<|eom|>", "<|eom_id|>"});
  vocab.pad_id = first_token_id(*tokenizer, {string_field(config, "pad_token")});
  vocab.add_bos = !config.contains("add_bos_token") || config.value("add_bos_token", true);
  vocab.chat_template = string_field(config, "chat_template");
  add_gguf_vocab(w, vocab);
}

}  // namespace

void write_gguf_model(const Checkpoint& checkpoint, const ModelConfig& config, const std::string& source_path,
                      DType target, const std::string& out_path) {
  const std::vector<PlannedTensor> plan = plan_tensors(checkpoint, config, /*with_rope_freqs=*/true);
  std::vector<DType> types;
  bool quantized = false;
  for (const PlannedTensor& t : plan) {
    types.push_back(gguf_tensor_type(t, target));
    quantized = quantized || dtype_is_block_quantized(types.back());
  }

  GgufWriter w;
  if (const GgufFile* source = checkpoint.gguf(); source != nullptr) {
    // As llama-quantize does: every key but the file type and the layout keys carries over.
    for (const auto& [key, value] : source->metadata()) {
      if (key == "general.file_type" || key == "general.quantization_version" || key == "general.alignment") continue;
      w.add_value(key, value);
    }
  } else {
    w.add_string("general.architecture", config.architecture);
    // A directory given with a trailing slash has an empty filename().
    fs::path source_dir = fs::path(source_path).lexically_normal();
    if (source_dir.filename().empty()) source_dir = source_dir.parent_path();
    w.add_string("general.name", source_dir.filename().string());
    add_model_metadata(w, config);
    add_tiktoken_vocab(w, source_path);
  }
  w.add_uint32("general.file_type", llama_file_type(target));
  if (quantized) w.add_uint32("general.quantization_version", 2);

  for (size_t i = 0; i < plan.size(); ++i) w.add_tensor_info(plan[i].name, types[i], plan[i].shape);
  w.write(out_path, [&](size_t i) {
    spdlog::debug("{}: {} -> {}", plan[i].name, dtype_name(plan[i].source_dtype), dtype_name(types[i]));
    return encode_tensor(plan[i], types[i]);
  });
}

}  // namespace brasa::cli
