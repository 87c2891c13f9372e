// Special tokens, BOS/EOS and stop ids of the Llama tokenizers, checked
// against the ids of Meta's llama-models tokenizer.py and the checkpoints'
// config files.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_work_dir.h"
#include "test_paths.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

bool contains(const std::vector<int32_t>& ids, int32_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

const Tokenizer& llama4() {
  return test::cached_tokenizer(test::shared_path("testdata/llama-models/llama4/tokenizer.model"));
}

TEST(SpecialTokens, Llama4Ids) {
  const Tokenizer& tokenizer = llama4();
  EXPECT_EQ(tokenizer.vocab_size(), 202048);
  const std::vector<std::pair<const char*, int32_t>> expected = {
      {"<|begin_of_text|>", 200000}, {"<|end_of_text|>", 200001},   {"<|header_start|>", 200005},
      {"<|header_end|>", 200006},    {"<|eom|>", 200007},           {"<|eot|>", 200008},
      {"<|python_start|>", 200016},  {"<|python_end|>", 200017},    {"<|finetune_right_pad|>", 200018},
      {"<|image_start|>", 200080},   {"<|image_end|>", 200081},     {"<|tile_x_separator|>", 200084},
      {"<|tile_y_separator|>", 200085}, {"<|image|>", 200090},      {"<|patch|>", 200092},
      {"<|reasoning_thinking_start|>", 201142}, {"<|reasoning_thinking_end|>", 201143},
      {"<|reserved_special_token_0|>", 201144},
  };
  for (const auto& [text, id] : expected) {
    EXPECT_EQ(tokenizer.token_id(text), id) << text;
    EXPECT_TRUE(tokenizer.is_special(id)) << text;
    EXPECT_EQ(tokenizer.token_bytes(id), text);
  }
  EXPECT_EQ(tokenizer.token_text(202047), "<|reserved_special_token_903|>");
}

TEST(SpecialTokens, Llama4BosAndStopTokens) {
  const Tokenizer& tokenizer = llama4();
  EXPECT_EQ(tokenizer.bos_id(), 200000);
  EXPECT_TRUE(contains(tokenizer.eos_ids(), 200001));
  EXPECT_TRUE(contains(tokenizer.eos_ids(), 200007));
  EXPECT_TRUE(contains(tokenizer.eos_ids(), 200008));

  const std::vector<int32_t> with_bos = tokenizer.encode("Hi", true, false);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos.front(), 200000);
  EXPECT_EQ(tokenizer.encode("Hi", false, false), std::vector<int32_t>(with_bos.begin() + 1, with_bos.end()));
}

TEST(SpecialTokens, ParsedOnlyWithParseSpecial) {
  const Tokenizer& tokenizer = llama4();
  const std::string text = "<|header_start|>user<|header_end|>\n\nhi<|eot|>";

  const std::vector<int32_t> parsed = tokenizer.encode(text, false, true);
  EXPECT_EQ(parsed.front(), 200005);
  EXPECT_EQ(parsed.back(), 200008);

  const std::vector<int32_t> plain = tokenizer.encode(text, false, false);
  for (int32_t id : plain) EXPECT_FALSE(tokenizer.is_special(id)) << id;
  EXPECT_EQ(tokenizer.decode(plain, false), text);
}

TEST(SpecialTokens, DecodeSkipsSpecial) {
  const Tokenizer& tokenizer = llama4();
  const std::vector<int32_t> ids = tokenizer.encode("<|begin_of_text|>Hello<|eot|>", false, true);
  EXPECT_EQ(tokenizer.decode(ids, false), "<|begin_of_text|>Hello<|eot|>");
  EXPECT_EQ(tokenizer.decode(ids, true), "Hello");
}

TEST(SpecialTokens, Llama3JsonConfig) {
  const Tokenizer& tokenizer = test::cached_tokenizer(test::shared_path("testdata/tokenizers/llama3"));
  EXPECT_EQ(tokenizer.vocab_size(), 128256);
  EXPECT_EQ(tokenizer.bos_id(), 128000);
  EXPECT_TRUE(contains(tokenizer.eos_ids(), 128001));  // tokenizer_config.json eos_token
  EXPECT_EQ(tokenizer.token_id("<|eot_id|>"), 128009);
  EXPECT_TRUE(tokenizer.is_special(128009));
  EXPECT_EQ(tokenizer.token_text(1917), "\xC4\xA0world");  // "Ġworld"
  EXPECT_EQ(tokenizer.token_bytes(1917), " world");
  // This tokenizer.json has no TemplateProcessing post-processor and the
  // config no add_bos_token, so BOS is not added.
  EXPECT_EQ(tokenizer.encode("Hi", true, false), tokenizer.encode("Hi", false, false));
}

TEST(SpecialTokens, GenerationConfigEosList) {
  const fs::path dir = fs::path(::brasa::test::work_dir()) / "llama31_like";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_symlink(test::shared_path("testdata/llama-models/llama3/tokenizer.model"), dir / "tokenizer.model");
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"})";
  std::ofstream(dir / "generation_config.json") << R"({"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})";

  const auto tokenizer = load_tokenizer(dir.string());
  EXPECT_EQ(tokenizer->bos_id(), 128000);
  for (int32_t id : {128001, 128008, 128009}) EXPECT_TRUE(contains(tokenizer->eos_ids(), id)) << id;
  EXPECT_TRUE(contains(tokenizer->eos_ids(), tokenizer->token_id("<|eom_id|>")));
}

TEST(SpecialTokens, GenerationConfigEosInteger) {
  const fs::path dir = fs::path(::brasa::test::work_dir()) / "llama3_eos_int";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_symlink(test::shared_path("testdata/llama-models/llama3/tokenizer.model"), dir / "tokenizer.model");
  std::ofstream(dir / "generation_config.json") << R"({"eos_token_id": 128042})";

  const auto tokenizer = load_tokenizer(dir.string());
  EXPECT_TRUE(contains(tokenizer->eos_ids(), 128042));
  EXPECT_TRUE(contains(tokenizer->eos_ids(), 128009));  // <|eot_id|>, Meta's stop token
}

TEST(SpecialTokens, NonSpecialAddedTokenAlwaysMatched) {
  const fs::path dir = fs::path(::brasa::test::work_dir()) / "added_tokens";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << R"({"added_tokens": [
      {"id": 3, "content": "<tool>", "special": false},
      {"id": 4, "content": "<ctl>", "special": true},
      {"id": 5, "content": "<l>", "special": true, "lstrip": true},
      {"id": 6, "content": "<r>", "special": true, "rstrip": true}],
    "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "Ġ": 1, "<": 2, "c": 7, "t": 8, "l": 9, ">": 10, "r": 11}, "merges": []}})";

  const auto tokenizer = load_tokenizer(dir.string());
  EXPECT_EQ(tokenizer->encode("a<tool>a", false, false), (std::vector<int32_t>{0, 3, 0}));
  EXPECT_EQ(tokenizer->encode("a<ctl>a", false, false), (std::vector<int32_t>{0, 2, 7, 8, 9, 10, 0}));
  EXPECT_EQ(tokenizer->encode("a<ctl>a", false, true), (std::vector<int32_t>{0, 4, 0}));
  // lstrip swallows the spaces before the token, rstrip those after it.
  EXPECT_EQ(tokenizer->encode("a  <l>a", false, true), (std::vector<int32_t>{0, 5, 0}));
  EXPECT_EQ(tokenizer->encode("a<r>  a", false, true), (std::vector<int32_t>{0, 6, 0}));
}

TEST(SpecialTokens, TemplateProcessingAddsBos) {
  // Without tokenizer_config.json, BOS and add_bos come from a post-processor
  // template that starts with a special token, as in Meta's Llama 3 files.
  const fs::path dir = fs::path(::brasa::test::work_dir()) / "template_processing";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << R"({"added_tokens": [{"id": 2, "content": "<bos>", "special": true}],
    "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": {"type": "Sequence", "processors": [
      {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
      {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                               {"Sequence": {"id": "A", "type_id": 0}}]}]},
    "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})";

  const auto tokenizer = load_tokenizer(dir.string());
  EXPECT_EQ(tokenizer->bos_id(), 2);
  EXPECT_EQ(tokenizer->encode("ab", true, false), (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(tokenizer->encode("ab", false, false), (std::vector<int32_t>{0, 1}));
}

TEST(SpecialTokens, InvalidUtf8EncodesAsReplacementCharacter) {
  const Tokenizer& tokenizer = llama4();
  EXPECT_EQ(tokenizer.encode("a\xFF" "b\xE2\x82", false, false),
            tokenizer.encode("a\xEF\xBF\xBD" "b\xEF\xBF\xBD", false, false));
}

TEST(SpecialTokens, TiktokenSplitsLongRuns) {
  // Meta's tokenizer.py encodes runs of more than 25,000 non-whitespace (or
  // whitespace) characters in slices of at most 25,000.
  // The cut at 25,000 falls inside an "abc", so the ids differ from those of
  // one unbroken piece.
  const Tokenizer& tokenizer = llama4();
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "abc";
  std::vector<int32_t> expected = tokenizer.encode(text.substr(0, 25000), false, false);
  const std::vector<int32_t> tail = tokenizer.encode(text.substr(25000), false, false);
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(tokenizer.encode(text, false, false), expected);
}

TEST(PreTokenizerRegex, WhiteSpaceFollowsUnicode) {
  // U+0085 (NEL) is Unicode White_Space, as in the Rust regex engines of
  // Hugging Face tokenizers and tiktoken; PCRE2's own \s leaves it out.
  PreTokenizerRegex regex(R"(\s+|\S+)", "test");
  const std::string text = "a\xC2\x85\xC2\xA0" "b";
  std::vector<TextSpan> pieces;
  regex.split(text, {0, text.size()}, true, pieces);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[1].begin, 1u);
  EXPECT_EQ(pieces[1].end, 5u);
}

TEST(PreTokenizerRegex, RewritesWhiteSpaceClasses) {
  EXPECT_EQ(rewrite_whitespace_classes(R"(\s+(?!\S))"),
            R"([\t\n\x0B\f\r\x{85}\p{Z}]+(?![^\t\n\x0B\f\r\x{85}\p{Z}]))");
  EXPECT_EQ(rewrite_whitespace_classes(R"([^\s\p{L}])"), R"([^\t\n\x0B\f\r\x{85}\p{Z}\p{L}])");
  EXPECT_EQ(rewrite_whitespace_classes(R"([]\s])"), R"([]\t\n\x0B\f\r\x{85}\p{Z}])");
}

}  // namespace
}  // namespace brasa
