#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace brasa {

// A token matched in text before pre-tokenization (Hugging Face "added_tokens",
// GGUF control and user-defined tokens, tiktoken special tokens).
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = true;  // matched only with parse_special; a control token
  bool lstrip = false;  // swallows the whitespace before it
  bool rstrip = false;  // swallows the whitespace after it
};

// One part of a text split on added tokens: either a token or a text span.
struct TextSegment {
  int32_t token_id = -1;  // -1 for text
  size_t begin = 0;
  size_t end = 0;
};

// Finds added tokens in text, leftmost first and longest among those that
// start at the same byte (the order Hugging Face tokenizers and llama.cpp use).
class AddedTokenMatcher {
 public:
  void build(const std::vector<AddedToken>& tokens);
  bool empty() const { return tokens_.empty(); }

  // Splits `text` into tokens and text spans. Special tokens are recognised
  // only with `parse_special`, non-special added tokens always.
  void split(std::string_view text, bool parse_special, std::vector<TextSegment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                 // index into tokens_
  };
  int32_t child(int32_t node, uint8_t byte) const;
  // Returns the index of the longest token allowed here that starts at `pos`
  // and sets `length`, or returns -1.
  int32_t match(std::string_view text, size_t pos, bool parse_special, size_t& length) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

}  // namespace brasa
