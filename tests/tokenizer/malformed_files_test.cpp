// Malformed tokenizer files must raise brasa::Error naming the file and the
// problem, never crash.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_work_dir.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(::brasa::test::work_dir()) / "malformed_tokenizers" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Loads `path` and expects an Error whose message names the file and contains `expected`.
void expect_load_error(const fs::path& path, const fs::path& named_file, const std::string& expected) {
  try {
    load_tokenizer(path.string());
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(named_file.string()), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
}

// A minimal byte-level tokenizer.json with the given model section.
std::string tokenizer_json(const std::string& model) {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"}, "model": )" + model + "}";
}

TEST(MalformedTokenizer, MissingPath) {
  const fs::path path = fs::path(::brasa::test::work_dir()) / "no_such_tokenizer_dir";
  expect_load_error(path, path, "not found");
}

TEST(MalformedTokenizer, EmptyDirectory) {
  const fs::path dir = fresh_dir("empty");
  expect_load_error(dir, dir, "no tokenizer.json or tokenizer.model");
}

TEST(MalformedTokenizer, InvalidJson) {
  const fs::path dir = fresh_dir("bad_json");
  write_file(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
  expect_load_error(dir, dir / "tokenizer.json", "invalid JSON");
}

TEST(MalformedTokenizer, UnknownModelType) {
  const fs::path dir = fresh_dir("wordpiece");
  write_file(dir / "tokenizer.json", tokenizer_json(R"({"type": "WordPiece", "vocab": {"a": 0}})"));
  expect_load_error(dir, dir / "tokenizer.json", "unsupported tokenizer model type \"WordPiece\"");
}

TEST(MalformedTokenizer, MergeWithUnknownToken) {
  const fs::path dir = fresh_dir("unknown_merge");
  write_file(dir / "tokenizer.json",
             tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a z"]})"));
  expect_load_error(dir, dir / "tokenizer.json", "merge 1 (\"a z\") refers to a token not in the vocabulary");
}

TEST(MalformedTokenizer, MergeWithoutSpace) {
  const fs::path dir = fresh_dir("merge_without_space");
  write_file(dir / "tokenizer.json", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]})"));
  expect_load_error(dir, dir / "tokenizer.json", "merge 0 is not");
}

TEST(MalformedTokenizer, MergeResultNotInVocabulary) {
  const fs::path dir = fresh_dir("merge_result_missing");
  write_file(dir / "tokenizer.json", tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})"));
  expect_load_error(dir, dir / "tokenizer.json", "makes a token not in the vocabulary");
}

TEST(MalformedTokenizer, MissingVocab) {
  const fs::path dir = fresh_dir("missing_vocab");
  write_file(dir / "tokenizer.json", tokenizer_json(R"({"type": "BPE", "merges": []})"));
  expect_load_error(dir, dir / "tokenizer.json", "model.vocab missing");
}

TEST(MalformedTokenizer, InvalidPreTokenizerRegex) {
  const fs::path dir = fresh_dir("bad_regex");
  write_file(dir / "tokenizer.json", R"({"added_tokens": [], "normalizer": null,
    "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false},
    "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  expect_load_error(dir, dir / "tokenizer.json", "invalid pre-tokenizer regex");
}

TEST(MalformedTokenizer, InvalidAddedToken) {
  const fs::path dir = fresh_dir("bad_added_token");
  write_file(dir / "tokenizer.json", R"({"added_tokens": [{"id": -3, "content": "<x>"}], "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  expect_load_error(dir, dir / "tokenizer.json", "invalid entry in added_tokens");
}

TEST(MalformedTokenizer, TiktokenInvalidBase64) {
  const fs::path dir = fresh_dir("tiktoken_base64");
  write_file(dir / "tokenizer.model", "IQ== 0\nI@== 1\n");
  expect_load_error(dir, dir / "tokenizer.model", "line 2: invalid base64");
}

TEST(MalformedTokenizer, TiktokenInvalidRank) {
  const fs::path dir = fresh_dir("tiktoken_rank");
  write_file(dir / "tokenizer.model", "IQ== 0\nIg== one\n");
  expect_load_error(dir, dir / "tokenizer.model", "line 2: invalid rank \"one\"");
}

TEST(MalformedTokenizer, TiktokenRankOutOfOrder) {
  const fs::path dir = fresh_dir("tiktoken_order");
  write_file(dir / "tokenizer.model", "IQ== 0\nIg== 5\n");
  expect_load_error(dir, dir / "tokenizer.model", "line 2: rank 5 out of order");
}

TEST(MalformedTokenizer, TiktokenLineWithoutRank) {
  const fs::path dir = fresh_dir("tiktoken_no_rank");
  write_file(dir / "tokenizer.model", "IQ== 0\nIg==\n");
  expect_load_error(dir, dir / "tokenizer.model", "line 2: expected \"<base64> <rank>\"");
}

TEST(MalformedTokenizer, TiktokenUnknownVocabularySize) {
  const fs::path dir = fresh_dir("tiktoken_size");
  write_file(dir / "tokenizer.model", "IQ== 0\nIg== 1\n");
  expect_load_error(dir, dir / "tokenizer.model", "unknown tiktoken vocabulary of 2 tokens");
}

TEST(MalformedTokenizer, SentencePieceProtobufAsTiktoken) {
  const fs::path dir = fresh_dir("sentencepiece_model");
  write_file(dir / "tokenizer.model", std::string("\x0a\x0b\x0a\x05\xe2\x96\x81the\x15\x00\x00", 14));
  expect_load_error(dir, dir / "tokenizer.model", "not a tiktoken rank file");
}

TEST(MalformedTokenizer, GenerationConfigWithBadEos) {
  const fs::path dir = fresh_dir("bad_generation_config");
  write_file(dir / "tokenizer.model", "IQ== 0\n");
  write_file(dir / "generation_config.json", R"({"eos_token_id": "two"})");
  expect_load_error(dir, dir / "generation_config.json", "eos_token_id must be an integer or a list of integers");
}

TEST(MalformedTokenizer, TokenizerConfigInvalidJson) {
  const fs::path dir = fresh_dir("bad_tokenizer_config");
  write_file(dir / "tokenizer.model", "IQ== 0\n");
  write_file(dir / "tokenizer_config.json", "{");
  expect_load_error(dir, dir / "tokenizer_config.json", "invalid JSON");
}

TEST(MalformedTokenizer, WrongFileName) {
  const fs::path dir = fresh_dir("wrong_name");
  write_file(dir / "vocab.txt", "a\n");
  expect_load_error(dir / "vocab.txt", dir / "vocab.txt", "not a tokenizer file");
}

}  // namespace
}  // namespace brasa
