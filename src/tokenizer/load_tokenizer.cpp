#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/loaders.h"

namespace brasa {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": file not found or not readable");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
}

// A special token in tokenizer_config.json is a string or an object with "content".
std::string token_content(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return {};
}

}  // namespace

void add_unique_id(std::vector<int32_t>& ids, int32_t id) {
  if (id < 0) return;
  for (int32_t existing : ids) {
    if (existing == id) return;
  }
  ids.push_back(id);
}

TokenizerConfigFiles read_tokenizer_config_files(const std::string& dir) {
  TokenizerConfigFiles config;

  const fs::path tokenizer_config = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(tokenizer_config)) {
    const nlohmann::json json = read_json_file(tokenizer_config);
    if (json.is_object()) {
      if (json.contains("bos_token")) config.bos_token = token_content(json["bos_token"]);
      if (json.contains("eos_token")) config.eos_token = token_content(json["eos_token"]);
      if (json.contains("add_bos_token") && json["add_bos_token"].is_boolean()) {
        config.add_bos_token = json["add_bos_token"].get<bool>() ? 1 : 0;
      }
    }
  }

  const fs::path generation_config = fs::path(dir) / "generation_config.json";
  if (fs::exists(generation_config)) {
    const nlohmann::json json = read_json_file(generation_config);
    if (json.is_object() && json.contains("eos_token_id")) {
      const nlohmann::json& eos = json["eos_token_id"];
      if (eos.is_number_integer()) {
        config.generation_eos_ids.push_back(eos.get<int32_t>());
      } else if (eos.is_array()) {
        for (const auto& id : eos) {
          if (!id.is_number_integer()) {
            throw Error(generation_config.string() + ": eos_token_id must be an integer or a list of integers");
          }
          config.generation_eos_ids.push_back(id.get<int32_t>());
        }
      } else if (!eos.is_null()) {
        throw Error(generation_config.string() + ": eos_token_id must be an integer or a list of integers");
      }
    }
  }
  return config;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const fs::path p(path);
  if (fs::is_regular_file(p)) {
    if (p.extension() == ".gguf") return load_gguf_tokenizer(path);
    const std::string dir = p.parent_path().string();
    if (p.filename() == "tokenizer.json") return load_hf_tokenizer_json(path, read_tokenizer_config_files(dir));
    if (p.filename() == "tokenizer.model") return load_tiktoken_model(path, read_tokenizer_config_files(dir));
    throw Error(path + ": not a tokenizer file (expected a .gguf file, tokenizer.json or tokenizer.model)");
  }
  if (!fs::is_directory(p)) throw Error(path + ": tokenizer path not found");

  const TokenizerConfigFiles config = read_tokenizer_config_files(path);
  if (fs::exists(p / "tokenizer.json")) return load_hf_tokenizer_json((p / "tokenizer.json").string(), config);
  if (fs::exists(p / "tokenizer.model")) return load_tiktoken_model((p / "tokenizer.model").string(), config);
  // `brasa convert` writes a GGUF vocabulary beside safetensors weights when the
  // source vocabulary (e.g. a GGUF SentencePiece one) has no Hugging Face form here.
  if (fs::exists(p / "tokenizer.gguf")) return load_gguf_tokenizer((p / "tokenizer.gguf").string());
  throw Error(path + ": no tokenizer.json or tokenizer.model (or tokenizer.gguf) in the directory");
}

}  // namespace brasa
