#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace brasa {

// Text <-> token ids for one checkpoint. Implementations: byte-level BPE
// (tokenizer.json, tiktoken rank files, GGUF "gpt2") and SentencePiece-style BPE
// (GGUF "llama", tokenizer.json with byte fallback).
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual int32_t vocab_size() const = 0;

  // Encodes text. With parse_special, special-token strings in the text become
  // their ids; without it they are tokenized as ordinary text. add_bos prepends
  // BOS when the tokenizer has one and the checkpoint asks for it.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const = 0;

  // Decodes ids to text. skip_special drops special and control tokens.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special) const = 0;

  // The raw bytes one token stands for (after undoing byte-level or SentencePiece
  // encoding); special tokens give their literal text.
  virtual std::string token_bytes(int32_t id) const = 0;

  // The token's string as stored in the vocabulary (e.g. "Ġthe" or "▁the").
  virtual std::string token_text(int32_t id) const = 0;

  virtual bool is_special(int32_t id) const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when none
  // Tokens that end generation: EOS and every id from generation_config.json's eos_token_id.
  virtual const std::vector<int32_t>& eos_ids() const = 0;
  // -1 when the text is not a single token of the vocabulary.
  virtual int32_t token_id(std::string_view text) const = 0;

  // True when decoding drops one leading space of the text, which SentencePiece
  // vocabularies add when encoding. Detokenizer (tokenizer/detokenizer.h) uses it.
  virtual bool strips_leading_space() const { return false; }
};

// Loads the tokenizer of a checkpoint: a Hugging Face directory (tokenizer.json, or
// a tiktoken tokenizer.model) or a .gguf file. Throws brasa::Error naming the file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace brasa
