#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace brasa {

// Everything a loader gathers for a BpeTokenizer.
struct BpeTokenizerSpec {
  enum class Kind {
    kByteLevel,      // GPT-2 / tiktoken style: pre-tokenizer regex, BPE over bytes
    kSentencePiece,  // Llama 2 style: spaces as U+2581, BPE over characters, byte fallback
  };
  Kind kind = Kind::kByteLevel;

  // Per token id: the text as stored in the vocabulary, the bytes it decodes
  // to, and whether it is a special (control) token.
  std::vector<std::string> token_texts;
  std::vector<std::string> token_bytes;
  std::vector<bool> special;

  std::unique_ptr<BpeModel> model;
  PreTokenizer pre_tokenizer;
  std::vector<AddedToken> added_tokens;

  int32_t bos_id = -1;
  bool add_bos = false;
  std::vector<int32_t> eos_ids;

  // SentencePiece: prepend U+2581 to the text and after each special token,
  // and drop one leading space when decoding.
  bool add_space_prefix = false;
  // Meta's tiktoken wrapper (llama-models tokenizer.py): cut text into slices
  // of at most 400,000 characters and runs of at most 25,000 whitespace or
  // non-whitespace characters before encoding.
  bool split_long_runs = false;
};

// Byte-level or SentencePiece-style BPE tokenizer (see BpeTokenizerSpec::Kind).
//
// Invalid UTF-8 in the input is replaced by U+FFFD before encoding, the way
// JavaScript's TextDecoder and Python's errors="replace" decode bytes. The
// HTTP layer only passes valid UTF-8, so this only affects library callers.
class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeTokenizerSpec spec);

  int32_t vocab_size() const override { return static_cast<int32_t>(spec_.token_texts.size()); }
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string token_bytes(int32_t id) const override;
  std::string token_text(int32_t id) const override;
  bool is_special(int32_t id) const override;
  int32_t bos_id() const override { return spec_.bos_id; }
  const std::vector<int32_t>& eos_ids() const override { return spec_.eos_ids; }
  int32_t token_id(std::string_view text) const override;
  bool strips_leading_space() const override { return spec_.add_space_prefix; }

 private:
  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const;
  void encode_byte_level(std::string_view text, std::vector<int32_t>& out) const;

  BpeTokenizerSpec spec_;
  AddedTokenMatcher added_matcher_;
  std::unordered_map<std::string, int32_t> text_ids_;
};

}  // namespace brasa
