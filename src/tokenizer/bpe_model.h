#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace brasa {

// The merge loop of byte-pair encoding over one pre-tokenized piece.
//
// Strings here are in "model space": raw bytes for byte-level vocabularies
// (the byte-level alphabet is undone at load time), and the vocabulary's own
// text with U+2581 for spaces for SentencePiece vocabularies.
//
// Two merge rules cover the formats:
// - pair ranks: a list of merges "A B", the earlier the stronger (Hugging Face
//   tokenizer.json, GGUF tokenizer.ggml.merges).
// - token ranks: two adjacent symbols merge when their concatenation is a
//   token, the lower the token's rank the stronger (tiktoken ranks, and
//   SentencePiece scores turned into ranks).
// Both merge the strongest adjacent pair first and the leftmost among equals,
// like tiktoken, Hugging Face tokenizers and llama.cpp.
class BpeModel {
 public:
  enum class MergeRule { kPairRanks, kTokenRanks };
  enum class InitialSymbols { kBytes, kCharacters };

  BpeModel(MergeRule rule, InitialSymbols initial) : rule_(rule), initial_(initial) {}

  // Sets the vocabulary, where `texts[id]` is the token in model space. Empty
  // strings are not indexed, and the lowest id wins a duplicate.
  void set_vocab(std::vector<std::string> texts);
  // The id of a model-space string, or -1.
  int32_t find(std::string_view text) const;
  const std::string& text(int32_t id) const { return texts_[id]; }
  size_t size() const { return texts_.size(); }

  // Pair ranks: merging `left` and `right` gives the token of their concatenation.
  // Returns false when that concatenation is not in the vocabulary.
  bool add_merge(int32_t left, int32_t right, int32_t rank);
  void reserve_merges(size_t count) { merges_.reserve(count); }
  // Token ranks: the rank of every token. Lower ranks merge first, and -1 never merges.
  void set_token_ranks(std::vector<int32_t> ranks) { token_ranks_ = std::move(ranks); }

  // When set, a piece that is itself a token is emitted whole without merging
  // (Hugging Face "ignore_merges", tiktoken, llama.cpp for Llama 3).
  void set_ignore_merges(bool value) { ignore_merges_ = value; }
  // Tokens for single bytes, used when a final symbol is not in the vocabulary
  // (SentencePiece byte fallback, "<0x41>"). An entry of -1 means no such token.
  void set_byte_fallback(const std::array<int32_t, 256>& ids) { byte_fallback_ = ids; }
  // The id emitted for a symbol with neither a token nor a byte fallback, or -1 to drop it.
  void set_unknown_id(int32_t id) { unknown_id_ = id; }

  // Appends the tokens of one piece to `out`. Thread-safe, and results are cached.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Symbol {
    uint32_t begin = 0;
    uint32_t length = 0;
    int32_t id = -1;
    int32_t prev = -1;
    int32_t next = -1;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;
    uint32_t left_length;
    uint32_t right_length;
    int32_t merged_id;
  };

  void encode_uncached(std::string_view piece, std::vector<int32_t>& out) const;
  bool find_merge(std::string_view piece, const Symbol& left, const Symbol& right, int32_t& rank,
                  int32_t& merged_id) const;
  void emit_symbol(std::string_view piece, const Symbol& symbol, std::vector<int32_t>& out) const;

  MergeRule rule_;
  InitialSymbols initial_;
  std::vector<std::string> texts_;
  std::unordered_map<std::string_view, int32_t> ids_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) -> (rank, merged)
  std::vector<int32_t> token_ranks_;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_fallback_;
  int32_t unknown_id_ = -1;

  // Cache of encoded pieces. Natural text repeats its words, so most pieces
  // hit. The cache is dropped whole when it grows past kMaxCacheEntries.
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  static constexpr size_t kMaxCachedPieceBytes = 64;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace brasa
