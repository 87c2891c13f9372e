// Checks GGUF vocabularies against llama.cpp's tokenizer test data: each
// ggml-vocab-NAME.gguf comes with NAME.gguf.inp (inputs separated by lines
// "__ggml_vocab_test__") and NAME.gguf.out (llama.cpp's ids, one line per input,
// tokenized without BOS and without parsing special tokens).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> read_inputs(const fs::path& path) {
  const std::string text = read_file(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t pos = 0;
  for (size_t next; (next = text.find(separator, pos)) != std::string::npos; pos = next + separator.size()) {
    inputs.push_back(text.substr(pos, next - pos));
  }
  return inputs;
}

std::vector<std::vector<int32_t>> read_outputs(const fs::path& path) {
  std::vector<std::vector<int32_t>> outputs;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ids(line);
    std::vector<int32_t> row;
    int32_t id = 0;
    while (ids >> id) row.push_back(id);
    outputs.push_back(std::move(row));
  }
  return outputs;
}

TEST(GgufVocab, MatchesLlamaCppIds) {
  const fs::path dir = test::shared_path("testdata/vocab");
  ASSERT_TRUE(fs::is_directory(dir)) << dir;

  std::vector<std::string> unsupported;
  int checked_files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path gguf = entry.path();
    if (gguf.extension() != ".gguf") continue;
    const fs::path inp = gguf.string() + ".inp";
    const fs::path out = gguf.string() + ".out";
    if (!fs::exists(inp) || !fs::exists(out)) continue;

    std::unique_ptr<Tokenizer> tokenizer;
    try {
      tokenizer = test::load_gguf_tokenizer(gguf.string());
    } catch (const Error& e) {
      const std::string message = e.what();
      ASSERT_NE(message.find("unsupported"), std::string::npos) << message;
      unsupported.push_back(gguf.filename().string() + " (" + message + ")");
      continue;
    }

    const auto inputs = read_inputs(inp);
    const auto outputs = read_outputs(out);
    ASSERT_EQ(inputs.size(), outputs.size()) << gguf;
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(tokenizer->encode(inputs[i], false, false), outputs[i])
          << gguf.filename() << " case " << i << ": \"" << inputs[i] << "\"";
    }
    ++checked_files;
  }

  for (const std::string& name : unsupported) std::printf("not supported yet: %s\n", name.c_str());
  EXPECT_GE(checked_files, 10);
}

}  // namespace
}  // namespace brasa
