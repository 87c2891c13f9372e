// SentencePiece-style BPE from GGUF, checked against llama.cpp's output for
// stories260K (prompt ids and greedy continuations computed by llama.cpp).

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/detokenizer.h"

namespace brasa {
namespace {

std::vector<int32_t> parse_id_list(const nlohmann::json& value) { return value.get<std::vector<int32_t>>(); }

TEST(SentencePiece, Stories260KMatchesLlamaCpp) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  std::ifstream in(test::shared_path("testdata/golden/stories260K-greedy.json"));
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_FALSE(golden["cases"].empty());

  for (const auto& c : golden["cases"]) {
    const std::string prompt = c["prompt"].get<std::string>();
    SCOPED_TRACE(prompt);
    EXPECT_EQ(tokenizer.encode(prompt, true, false), parse_id_list(c["prompt_token_ids"]));

    // Generated tokens continue the prompt, so their leading space stays.
    const std::vector<int32_t> generated = parse_id_list(c["generated_token_ids"]);
    Detokenizer detokenizer(tokenizer, true, /*starts_text=*/false);
    std::string text;
    for (int32_t id : generated) text += detokenizer.push(id);
    text += detokenizer.flush();
    EXPECT_EQ(text, c["generated_text"].get<std::string>());
  }
}

TEST(SentencePiece, Stories260KSpecialTokens) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_ids(), std::vector<int32_t>{2});
  EXPECT_TRUE(tokenizer.is_special(1));
  EXPECT_EQ(tokenizer.encode("<s>", false, true), std::vector<int32_t>{1});
  EXPECT_NE(tokenizer.encode("<s>", false, false), std::vector<int32_t>{1});
}

TEST(SentencePiece, ByteFallbackRoundTrip) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  // A 512-token vocabulary has no CJK or emoji, so they become byte tokens.
  const std::string text = "Lily saw \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99!";
  const std::vector<int32_t> ids = tokenizer.encode(text, false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), tokenizer.token_id("<0xE4>")), ids.end());
  EXPECT_EQ(tokenizer.decode(ids, false), text);
}

}  // namespace
}  // namespace brasa
