// The string body fast path of the token mask must allow exactly the tokens
// that the full vocabulary trie walk allows, in every string state met while
// sampling, for JSON strings and for both quote styles of Python literals.

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "structured/grammar_constraint.h"
#include "structured/grammar_matcher.h"
#include "structured/json_schema_grammar.h"
#include "structured/string_body_mask.h"
#include "structured/tiktoken_vocab.h"

namespace brasa {
namespace {

using nlohmann::json;

const std::shared_ptr<const VocabularyIndex>& vocabulary() {
  static std::shared_ptr<const VocabularyIndex> vocab = testing::llama3_vocabulary();
  return vocab;
}

StringSyntax json_syntax() {
  ByteSet escapes;
  for (char c : std::string("\"\\/bfnrt")) escapes.add(static_cast<uint8_t>(c));
  return {'"', escapes};
}

TEST(StringBodyScan, CountsCharactersAndFindsTheQuote) {
  using Kind = StringBodyScan::Kind;
  StringSyntax syntax = json_syntax();
  struct Case {
    std::string bytes;
    Kind kind;
    int32_t length;
    int32_t suffix;
  };
  const Case cases[] = {
      {"abc", Kind::Open, 3, 0},
      {"a\\nb", Kind::Open, 3, 0},
      {"\\u00e9x", Kind::Open, 2, 0},
      {"caf\xC3\xA9", Kind::Open, 4, 0},
      {"ab\",", Kind::Close, 2, 3},
      {"\"}", Kind::Close, 0, 1},
      {"\\\"\"", Kind::Close, 1, 3},
      {"x\\", Kind::Open, 2, 0},          // ends inside an escape, which counts
      {"x\\u00", Kind::Open, 2, 0},
      {"\xE2\x82", Kind::Open, 1, 0},     // ends inside a UTF-8 sequence
      {"\\ud800", Kind::Invalid, 0, 0},  // a surrogate escape
      {"\\ud", Kind::Open, 1, 0},         // may still become \uD7FF
      {"\\x41", Kind::Invalid, 0, 0},    // not a JSON escape
      {"a\tb", Kind::Invalid, 0, 0},     // control character
      {"\xC0\x80", Kind::Invalid, 0, 0}, // overlong form
      {"\xED\xA0\x80", Kind::Invalid, 0, 0},
      {"\x80", Kind::Invalid, 0, 0},
  };
  for (const Case& c : cases) {
    StringBodyScan scan = scan_string_body(c.bytes, syntax);
    EXPECT_EQ(scan.kind, c.kind) << c.bytes;
    if (c.kind == Kind::Invalid) continue;
    EXPECT_EQ(scan.length, c.length) << c.bytes;
    EXPECT_EQ(scan.suffix, c.suffix) << c.bytes;
  }
}

// Samples random paths through `grammar` with trie-walk masks and compares the
// fast path with the trie walk in every string body state on the way.
// Returns the number of states compared.
int compare_string_masks(const std::shared_ptr<const Grammar>& grammar, int n_paths, int max_tokens, uint32_t seed) {
  const VocabularyIndex& vocab = *vocabulary();
  auto compiled = std::make_shared<CompiledGrammar>(grammar, vocabulary());
  std::mt19937 rng(seed);
  size_t n_words = (static_cast<size_t>(vocab.vocab_size()) + 63) / 64;
  int compared = 0;

  for (int path = 0; path < n_paths; ++path) {
    GrammarMatcher matcher(grammar);
    std::string text;
    for (int step = 0; step < max_tokens && !matcher.must_end(); ++step) {
      std::vector<uint64_t> walked(n_words, 0);
      matcher.fill_token_bitmask(vocab, walked);
      std::vector<uint64_t> fast(n_words, 0);
      if (fill_string_body_mask(matcher, *compiled, fast)) {
        ++compared;
        for (size_t word = 0; word < n_words; ++word) {
          if (walked[word] == fast[word]) continue;
          uint64_t differ = walked[word] ^ fast[word];
          int bit = __builtin_ctzll(differ);
          int32_t id = static_cast<int32_t>(word * 64 + bit);
          ADD_FAILURE() << "after \"" << text << "\": token " << id << " \"" << vocab.token_bytes(id) << "\" "
                        << ((walked[word] >> bit) & 1 ? "allowed by the walk only" : "allowed by the fast path only");
          return compared;
        }
      }

      // Half of the draws prefer tokens that close something, so strings end.
      std::vector<int32_t> any;
      std::vector<int32_t> closing;
      for (int32_t id = 0; id < vocab.vocab_size(); ++id) {
        if (!((walked[id >> 6] >> (id & 63)) & 1)) continue;
        any.push_back(id);
        if (vocab.token_bytes(id).find_first_of("\"')],}") != std::string::npos) closing.push_back(id);
      }
      if (any.empty()) break;
      const std::vector<int32_t>& pool = (!closing.empty() && rng() % 3 == 0) ? closing : any;
      int32_t token = pool[rng() % pool.size()];
      text += vocab.token_bytes(token);
      EXPECT_TRUE(matcher.accept_bytes(vocab.token_bytes(token)));
    }
  }
  return compared;
}

TEST(StringBodyMask, MatchesTrieWalkForJsonStrings) {
  json schema = json::parse(R"({"type": "object", "properties": {
      "code": {"type": "string", "minLength": 2, "maxLength": 4},
      "name": {"type": "string", "maxLength": 9},
      "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 3}, "maxItems": 3},
      "note": {"type": "string"}},
    "required": ["code", "name", "tags", "note"], "additionalProperties": false})");
  auto grammar = std::make_shared<const Grammar>(compile_json_schema(schema));
  EXPECT_GE(compare_string_masks(grammar, 3, 30, 7), 20);
}

TEST(StringBodyMask, MatchesTrieWalkForPythonStrings) {
  json parameters = json::parse(R"({"type": "object", "properties": {
      "city": {"type": "string", "minLength": 1, "maxLength": 5},
      "words": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 2}},
    "required": ["city", "words"]})");
  auto grammar = std::make_shared<const Grammar>(compile_pythonic_tool_calls({{"lookup", parameters, "tools"}}, false));
  EXPECT_GE(compare_string_masks(grammar, 8, 30, 11), 20);
}

}  // namespace
}  // namespace brasa
