#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace brasa::test {

inline std::string shared_path(const std::string& relative) { return std::string(BRASA_SHARED_DIR) + "/" + relative; }

// Loads a tokenizer once per test binary; the large vocabularies take a while to load.
inline const Tokenizer& cached_tokenizer(const std::string& path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[path];
  if (!slot) slot = load_tokenizer(path);
  return *slot;
}

// Loads a vocabulary-only GGUF file from llama.cpp: these files end right
// after their metadata, without padding, which the reader must accept.
inline std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) { return load_tokenizer(path); }

}  // namespace brasa::test
