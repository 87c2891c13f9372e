#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf_writer.h"

namespace brasa {

// Derives GPT-2 style merges from a tiktoken rank list, where token_bytes[r] is
// the token of rank r. For each token of two or more bytes, in rank order, BPE
// runs on its bytes with only the merges of lower-ranked tokens; the two
// symbols left at the end are the merge that makes the token. Returns the
// merges as (left, right) ranks, ordered by the rank of the token they make,
// so that merge-list BPE gives tiktoken's result. Tokens that lower-ranked
// merges cannot build (their bytes never reduce to two tokens) get no merge.
// Throws brasa::Error when a single byte has no token.
std::vector<std::pair<int32_t, int32_t>> derive_bpe_merges(const std::vector<std::string>& token_bytes);

// Maps raw bytes to GPT-2's byte-level alphabet, where each byte is one
// printable code point (e.g. a space becomes U+0120, "Ġ"), as stored in
// tokenizer.ggml.tokens and tokenizer.ggml.merges of "gpt2" vocabularies.
std::string bytes_to_gpt2_text(const std::string& bytes);

// A byte-level BPE vocabulary as llama.cpp's "gpt2" tokenizer model stores it.
struct GgufBpeVocab {
  std::string pre;                     // tokenizer.ggml.pre, e.g. "llama4" or "llama-bpe"
  std::vector<std::string> tokens;     // byte-level text; special tokens as their literal text
  std::vector<int32_t> token_types;    // 1 normal, 3 control (llama.cpp's llama_token_type)
  std::vector<std::string> merges;     // "A B" in byte-level text, strongest first
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  int32_t pad_id = -1;
  bool add_bos = true;
  std::string chat_template;           // empty: no tokenizer.chat_template key
};

// Builds the GGUF vocabulary of a tiktoken rank list plus special tokens that
// follow it (ids n_base, n_base + 1, ...). Leaves pre, the special ids and the
// chat template to the caller.
GgufBpeVocab tiktoken_to_gguf_vocab(const std::vector<std::string>& base_token_bytes,
                                    const std::vector<std::string>& special_tokens);

// Adds the tokenizer.ggml.* keys (model "gpt2") and tokenizer.chat_template.
void add_gguf_vocab(GgufWriter& writer, const GgufBpeVocab& vocab);

}  // namespace brasa
