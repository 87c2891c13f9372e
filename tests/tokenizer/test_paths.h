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

// NOTE: the GGUF reader rejects files whose data section, padded to the
// alignment, would start past the end of the file. Vocabulary-only files from
// llama.cpp have no tensors and no padding, so they hit that check. Until the
// reader accepts them, tests load a copy with the padding appended.
inline std::unique_ptr<Tokenizer> load_gguf_or_padded_copy(const std::string& path) {
  namespace fs = std::filesystem;
  try {
    return load_tokenizer(path);
  } catch (const Error& e) {
    if (std::string(e.what()).find("truncated GGUF file") == std::string::npos) throw;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  bytes.append(64 - bytes.size() % 64, '\0');

  const fs::path copy = fs::path(BRASA_TEST_WORK_DIR) / "padded_gguf" / fs::path(path).filename();
  fs::create_directories(copy.parent_path());
  std::ofstream(copy, std::ios::binary) << bytes;
  return load_tokenizer(copy.string());
}

}  // namespace brasa::test
