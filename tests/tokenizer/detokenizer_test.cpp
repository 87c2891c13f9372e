// The streaming detokenizer must give the same text as a full decode, in
// chunks that are each valid UTF-8, for every test vocabulary.

#include "tokenizer/detokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "test_paths.h"
#include "tokenizer/utf8.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

// Streams `ids` and checks each chunk and the total against decode().
void check_stream(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
  Detokenizer detokenizer(tokenizer, skip_special);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string chunk = detokenizer.push(id);
    ASSERT_TRUE(is_valid_utf8(chunk)) << "token " << id;
    streamed += chunk;
  }
  const std::string tail = detokenizer.flush();
  ASSERT_TRUE(is_valid_utf8(tail));
  streamed += tail;
  EXPECT_FALSE(detokenizer.has_pending());
  EXPECT_EQ(streamed, tokenizer.decode(ids, skip_special));
}

// Random ids, plus runs of single-byte tokens that split characters.
void check_random_sequences(const Tokenizer& tokenizer, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> any_id(0, tokenizer.vocab_size() - 1);
  const std::vector<int32_t> emoji = tokenizer.encode("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 \xE4\xBD\xA0\xE5\xA5\xBD", false, false);

  for (int round = 0; round < 40; ++round) {
    std::vector<int32_t> ids;
    const int length = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < length; ++i) {
      if (rng() % 4 == 0) {
        ids.insert(ids.end(), emoji.begin(), emoji.end());
      } else {
        ids.push_back(any_id(rng));
      }
    }
    SCOPED_TRACE("round " + std::to_string(round));
    check_stream(tokenizer, ids, /*skip_special=*/false);
    check_stream(tokenizer, ids, /*skip_special=*/true);
  }
}

TEST(Detokenizer, RandomSequencesLlama3Json) {
  check_random_sequences(test::cached_tokenizer(test::shared_path("testdata/tokenizers/llama3")), 1);
}

TEST(Detokenizer, RandomSequencesLlama4Tiktoken) {
  check_random_sequences(test::cached_tokenizer(test::shared_path("testdata/llama-models/llama4/tokenizer.model")), 2);
}

TEST(Detokenizer, RandomSequencesStories260K) {
  check_random_sequences(test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf")), 3);
}

TEST(Detokenizer, RandomSequencesGgufVocabularies) {
  const fs::path dir = test::shared_path("testdata/vocab");
  uint32_t seed = 4;
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-falcon.gguf"}) {
    const auto tokenizer = test::load_gguf_tokenizer((dir / name).string());
    SCOPED_TRACE(name);
    check_random_sequences(*tokenizer, seed++);
  }
}

TEST(Detokenizer, HoldsBackSplitCharacter) {
  // stories260K has byte-fallback tokens: U+4F60 is <0xE4><0xBD><0xA0>.
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  const int32_t e4 = tokenizer.token_id("<0xE4>");
  const int32_t bd = tokenizer.token_id("<0xBD>");
  const int32_t a0 = tokenizer.token_id("<0xA0>");
  ASSERT_GE(e4, 0);
  ASSERT_GE(bd, 0);
  ASSERT_GE(a0, 0);

  Detokenizer detokenizer(tokenizer, false);
  EXPECT_EQ(detokenizer.push(e4), "");
  EXPECT_TRUE(detokenizer.has_pending());
  EXPECT_EQ(detokenizer.push(bd), "");
  EXPECT_EQ(detokenizer.push(a0), "\xE4\xBD\xA0");
  EXPECT_FALSE(detokenizer.has_pending());
}

TEST(Detokenizer, FlushReplacesIncompleteCharacter) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  const int32_t e4 = tokenizer.token_id("<0xE4>");
  const int32_t ff = tokenizer.token_id("<0xFF>");
  ASSERT_GE(e4, 0);
  ASSERT_GE(ff, 0);

  Detokenizer detokenizer(tokenizer, false);
  // 0xFF can never start a character, so it is replaced at once.
  EXPECT_EQ(detokenizer.push(ff), "\xEF\xBF\xBD");
  EXPECT_EQ(detokenizer.push(e4), "");
  EXPECT_EQ(detokenizer.flush(), "\xEF\xBF\xBD");
  const std::vector<int32_t> ids = {ff, e4};
  EXPECT_EQ(tokenizer.decode(ids, false), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Detokenizer, SentencePieceLeadingSpace) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  const std::vector<int32_t> ids = tokenizer.encode("Once upon a time", false, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(tokenizer.token_text(ids[0]).rfind("\xE2\x96\x81", 0), 0u);  // starts with U+2581

  // A text start drops the space that encoding added...
  EXPECT_EQ(tokenizer.decode(ids, false), "Once upon a time");
  Detokenizer at_start(tokenizer, false);
  EXPECT_EQ(at_start.push(ids[0]), "Once");

  // ...a continuation after a prompt keeps it.
  Detokenizer continuation(tokenizer, false, /*starts_text=*/false);
  EXPECT_EQ(continuation.push(ids[0]), " Once");
}

TEST(Detokenizer, IgnoresIdsOutsideVocabulary) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/models/stories260K.gguf"));
  Detokenizer detokenizer(tokenizer, false);
  EXPECT_EQ(detokenizer.push(-1), "");
  EXPECT_EQ(detokenizer.push(tokenizer.vocab_size()), "");
  const std::vector<int32_t> ids = {-5, 1 << 30};
  EXPECT_EQ(tokenizer.decode(ids, false), "");
}

}  // namespace
}  // namespace brasa
