#pragma once

// Test and benchmark helper: reads the raw token bytes of a tiktoken rank file
// (one "base64-token rank" pair per line, as in Meta's tokenizer.model for
// Llama 3 and Llama 4) without the tokenizer layer.

#include <cstdint>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "structured/vocabulary.h"

namespace brasa::testing {

inline std::string decode_base64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) continue;  // '=' padding
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// Loads `path` and appends n_special special tokens after the ranked ones;
// eos_ids are given as absolute ids.
inline std::shared_ptr<const VocabularyIndex> load_tiktoken_vocabulary(const std::string& path, int32_t n_special,
                                                                       std::vector<int32_t> eos_ids) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::string> tokens;
  std::string encoded;
  int64_t rank = 0;
  while (in >> encoded >> rank) {
    if (rank != static_cast<int64_t>(tokens.size())) throw std::runtime_error("ranks out of order in " + path);
    tokens.push_back(decode_base64(encoded));
  }
  std::vector<bool> special(tokens.size(), false);
  for (int32_t i = 0; i < n_special; ++i) {
    tokens.push_back("<|special_" + std::to_string(i) + "|>");
    special.push_back(true);
  }
  return std::make_shared<const VocabularyIndex>(tokens, special, std::move(eos_ids));
}

inline std::string shared_path(const std::string& relative) { return std::string(BRASA_SHARED_DIR) + "/" + relative; }

inline std::shared_ptr<const VocabularyIndex> llama3_vocabulary() {
  return load_tiktoken_vocabulary(shared_path("testdata/llama-models/llama3/tokenizer.model"), 256, {128001, 128008, 128009});
}

inline std::shared_ptr<const VocabularyIndex> llama4_vocabulary() {
  return load_tiktoken_vocabulary(shared_path("testdata/llama-models/llama4/tokenizer.model"), 2048, {200001, 200007, 200008});
}

}  // namespace brasa::testing
