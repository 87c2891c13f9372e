#pragma once

#include <memory>
#include <string>

#include "tokenizer/bpe_tokenizer.h"

namespace brasa {

// Special-token settings from the files beside a Hugging Face tokenizer.
struct TokenizerConfigFiles {
  std::string bos_token;       // tokenizer_config.json "bos_token", "" when absent
  std::string eos_token;       // tokenizer_config.json "eos_token"
  int add_bos_token = -1;      // tokenizer_config.json "add_bos_token": 0, 1, or -1 when absent
  std::vector<int32_t> generation_eos_ids;  // generation_config.json "eos_token_id" (int or list)
};

// Reads tokenizer_config.json and generation_config.json from `dir` when they
// exist. Throws brasa::Error naming the file when one is not valid JSON.
TokenizerConfigFiles read_tokenizer_config_files(const std::string& dir);

// Loaders for each format. Each throws brasa::Error naming the file.
std::unique_ptr<BpeTokenizer> load_hf_tokenizer_json(const std::string& path, const TokenizerConfigFiles& config);
std::unique_ptr<BpeTokenizer> load_tiktoken_model(const std::string& path, const TokenizerConfigFiles& config);
std::unique_ptr<BpeTokenizer> load_gguf_tokenizer(const std::string& path);

// Appends `id` to `ids` unless it is negative or already there.
void add_unique_id(std::vector<int32_t>& ids, int32_t id);

}  // namespace brasa
