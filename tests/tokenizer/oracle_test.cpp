// Compares brasa's byte-level tokenizers with independent implementations on
// hard strings: @lenml/tokenizers (a JavaScript port of Hugging Face
// tokenizers) for tokenizer.json, and js-tiktoken for Meta's tiktoken files.

#include <gtest/gtest.h>

#include "hard_corpus.h"
#include "node_oracle.h"
#include "test_paths.h"
#include "tokenizer/loaders.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\x%02X", c);
      out += buffer;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

void expect_same_ids(const Tokenizer& tokenizer, const std::vector<std::string>& corpus,
                     const std::vector<std::vector<int32_t>>& expected, bool parse_special) {
  ASSERT_EQ(expected.size(), corpus.size());
  for (size_t i = 0; i < corpus.size(); ++i) {
    EXPECT_EQ(tokenizer.encode(corpus[i], false, parse_special), expected[i])
        << "case " << i << ": \"" << printable(corpus[i]) << "\"";
  }
}

// The special tokens of a tiktoken tokenizer as js-tiktoken takes them.
nlohmann::json special_token_map(const Tokenizer& tokenizer, int32_t first_special) {
  nlohmann::json map = nlohmann::json::object();
  for (int32_t id = first_special; id < tokenizer.vocab_size(); ++id) map[tokenizer.token_text(id)] = id;
  return map;
}

TEST(TokenizerOracle, Llama3JsonMatchesLenml) {
  const std::string dir = test::shared_path("testdata/tokenizers/llama3");
  const auto tokenizer = load_tokenizer(dir);
  const auto corpus = test::hard_corpus();

  nlohmann::json request = {{"kind", "hf"},
                            {"tokenizer_json", dir + "/tokenizer.json"},
                            {"tokenizer_config", dir + "/tokenizer_config.json"}};
  const test::OracleResult oracle = test::run_node_oracle(request, corpus, "llama3_json");
  if (!oracle.skip_reason.empty()) GTEST_SKIP() << oracle.skip_reason;
  ASSERT_TRUE(oracle.error.empty()) << oracle.error;
  const auto& expected = oracle.ids;

  // @lenml/tokenizers always recognises added tokens, as parse_special does.
  expect_same_ids(*tokenizer, corpus, expected, /*parse_special=*/true);
}

TEST(TokenizerOracle, Gpt4oJsonMatchesLenml) {
  const std::string dir = test::shared_path("testdata/tokenizers/gpt4o");
  const auto tokenizer = load_tokenizer(dir);
  const auto corpus = test::hard_corpus();

  nlohmann::json request = {{"kind", "hf"},
                            {"tokenizer_json", dir + "/tokenizer.json"},
                            {"tokenizer_config", dir + "/tokenizer_config.json"}};
  const test::OracleResult oracle = test::run_node_oracle(request, corpus, "gpt4o_json");
  if (!oracle.skip_reason.empty()) GTEST_SKIP() << oracle.skip_reason;
  ASSERT_TRUE(oracle.error.empty()) << oracle.error;
  const auto& expected = oracle.ids;
  expect_same_ids(*tokenizer, corpus, expected, /*parse_special=*/true);
}

TEST(TokenizerOracle, Llama4TiktokenMatchesJsTiktoken) {
  const std::string path = test::shared_path("testdata/llama-models/llama4/tokenizer.model");
  const auto tokenizer = load_tokenizer(path);
  const auto corpus = test::hard_corpus();

  for (const bool parse_special : {true, false}) {
    nlohmann::json request = {{"kind", "tiktoken"},
                              {"ranks_file", path},
                              {"pattern", kO200kPattern},
                              {"special_tokens", special_token_map(*tokenizer, 200000)},
                              {"parse_special", parse_special}};
    const test::OracleResult oracle = test::run_node_oracle(request, corpus, "llama4_tiktoken");
    if (!oracle.skip_reason.empty()) GTEST_SKIP() << oracle.skip_reason;
    ASSERT_TRUE(oracle.error.empty()) << oracle.error;
    const auto& expected = oracle.ids;
    SCOPED_TRACE(parse_special ? "parse_special" : "no parse_special");
    expect_same_ids(*tokenizer, corpus, expected, parse_special);
  }
}

TEST(TokenizerOracle, Llama3TiktokenMatchesJsTiktoken) {
  const std::string path = test::shared_path("testdata/llama-models/llama3/tokenizer.model");
  const auto tokenizer = load_tokenizer(path);
  const auto corpus = test::hard_corpus();

  nlohmann::json request = {{"kind", "tiktoken"},
                            {"ranks_file", path},
                            {"pattern", kLlama3Pattern},
                            {"special_tokens", special_token_map(*tokenizer, 128000)},
                            {"parse_special", true}};
  const test::OracleResult oracle = test::run_node_oracle(request, corpus, "llama3_tiktoken");
  if (!oracle.skip_reason.empty()) GTEST_SKIP() << oracle.skip_reason;
  ASSERT_TRUE(oracle.error.empty()) << oracle.error;
  const auto& expected = oracle.ids;
  expect_same_ids(*tokenizer, corpus, expected, /*parse_special=*/true);
}

}  // namespace
}  // namespace brasa
