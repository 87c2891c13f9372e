// SentencePiece-style BPE from tokenizer.json (Llama 2 layout: Prepend and
// Replace normalizers, byte fallback, merges), checked against
// @lenml/tokenizers. The tokenizer.json is built from the stories260K GGUF
// vocabulary, with a merge "A B" for every token that splits into two tokens,
// strongest score first.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_work_dir.h"
#include "formats/gguf.h"
#include "hard_corpus.h"
#include "node_oracle.h"
#include "test_paths.h"
#include "tokenizer/utf8.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

fs::path write_stories_tokenizer_json() {
  const GgufFile gguf(test::shared_path("testdata/models/stories260K.gguf"));
  const auto& tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const auto& scores = gguf.get_float_array("tokenizer.ggml.scores");
  const auto& types = gguf.get_int_array("tokenizer.ggml.token_type");

  nlohmann::json vocab = nlohmann::json::object();
  std::map<std::string, int32_t> ids;
  for (size_t id = 0; id < tokens.size(); ++id) {
    vocab[tokens[id]] = id;
    ids[tokens[id]] = static_cast<int32_t>(id);
  }

  // Every split of a normal token into two tokens is a merge, ordered by the
  // merged token's score, then by id.
  std::vector<std::tuple<double, int32_t, std::string>> merges;
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (types[id] != 1) continue;
    const std::string& text = tokens[id];
    for (size_t pos = 0; pos < text.size();) {
      pos += utf8_sequence_length(static_cast<uint8_t>(text[pos]));
      if (pos >= text.size()) break;
      const std::string left = text.substr(0, pos);
      const std::string right = text.substr(pos);
      if (ids.count(left) && ids.count(right)) merges.emplace_back(-scores[id], static_cast<int32_t>(id), left + " " + right);
    }
  }
  std::sort(merges.begin(), merges.end());
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& merge : merges) merge_list.push_back(std::get<2>(merge));

  const nlohmann::json root = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"}, {"byte_fallback", true}, {"fuse_unk", true}, {"unk_token", "<unk>"},
        {"vocab", vocab}, {"merges", merge_list}}},
  };

  const fs::path dir = fs::path(::brasa::test::work_dir()) / "stories260K_json";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << root.dump();
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true})";
  return dir;
}

TEST(SentencePieceJson, MatchesLenml) {
  const fs::path dir = write_stories_tokenizer_json();
  const auto tokenizer = load_tokenizer(dir.string());

  // @lenml/tokenizers prepends U+2581 even to an empty text, where Hugging
  // Face tokenizers leaves it empty, so "" is left out.
  std::vector<std::string> corpus = test::hard_corpus();
  corpus.erase(std::remove(corpus.begin(), corpus.end(), std::string()), corpus.end());

  nlohmann::json request = {{"kind", "hf"},
                            {"tokenizer_json", (dir / "tokenizer.json").string()},
                            {"tokenizer_config", (dir / "tokenizer_config.json").string()}};
  const test::OracleResult oracle = test::run_node_oracle(request, corpus, "stories260K_json");
  if (!oracle.skip_reason.empty()) GTEST_SKIP() << oracle.skip_reason;
  ASSERT_TRUE(oracle.error.empty()) << oracle.error;
  const auto& expected = oracle.ids;

  ASSERT_EQ(expected.size(), corpus.size());
  for (size_t i = 0; i < corpus.size(); ++i) {
    EXPECT_EQ(tokenizer->encode(corpus[i], false, true), expected[i]) << "case " << i << ": \"" << corpus[i] << "\"";
  }
}

TEST(SentencePieceJson, AgreesWithGgufOnPlainText) {
  const fs::path dir = write_stories_tokenizer_json();
  const auto from_json = load_tokenizer(dir.string());
  const Tokenizer& from_gguf = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));

  for (const std::string text : {"Once upon a time", "Lily and Ben went to the park.", "  two  spaces", "x\ny"}) {
    EXPECT_EQ(from_json->encode(text, true, false), from_gguf.encode(text, true, false)) << text;
    const std::vector<int32_t> ids = from_gguf.encode(text, false, false);
    EXPECT_EQ(from_json->decode(ids, false), text);
  }
}

}  // namespace
}  // namespace brasa
