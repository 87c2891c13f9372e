#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace brasa {

class Tokenizer;

// The byte strings of a vocabulary arranged as a trie, so a token mask walks
// each shared prefix once. Built once per tokenizer and shared by every
// constraint; immutable after construction, so safe to read from any thread.
class VocabularyIndex {
 public:
  struct Node {
    uint8_t byte = 0;
    int32_t first_child = -1;
    int32_t next_sibling = -1;
    int32_t first_token = 0;  // tokens whose bytes end at this node: token_ids_[first_token, end_token)
    int32_t end_token = 0;
  };

  // token_bytes[id] is the raw text of token id. Special tokens and tokens with
  // no bytes never match text; eos_ids are the tokens that end generation. The
  // text given for a special token is its name, for special_token_id.
  VocabularyIndex(const std::vector<std::string>& token_bytes, const std::vector<bool>& is_special,
                  std::vector<int32_t> eos_ids);

  static std::shared_ptr<const VocabularyIndex> from_tokenizer(const Tokenizer& tokenizer);

  int32_t vocab_size() const { return vocab_size_; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  const std::vector<Node>& nodes() const { return nodes_; }  // nodes()[0] is the root
  const std::vector<int32_t>& token_ids() const { return token_ids_; }

  // The bytes of a token; empty for special tokens, which never match text.
  const std::string& token_bytes(int32_t id) const { return token_bytes_[id]; }
  bool is_eos(int32_t id) const;

  // The id of the special token named `name` (such as "<|python_start|>"), or -1.
  int32_t special_token_id(const std::string& name) const;

  // The ids of the tokens whose bytes contain `byte`, in id order. Computed on
  // first use and kept.
  const std::vector<int32_t>& tokens_containing(uint8_t byte) const;

  // Data derived from the vocabulary by other parts of the layer (such as the
  // string body tables of string_body_mask.h), computed on first use and kept
  // under `key`. Thread-safe.
  std::shared_ptr<const void> derived(const std::string& key,
                                      const std::function<std::shared_ptr<const void>()>& compute) const;

 private:
  int32_t vocab_size_ = 0;
  std::vector<std::string> token_bytes_;
  std::vector<int32_t> eos_ids_;
  std::vector<Node> nodes_;
  std::vector<int32_t> token_ids_;
  std::map<std::string, int32_t> special_ids_;

  mutable std::mutex derived_mutex_;
  mutable std::map<std::string, std::shared_ptr<const void>> derived_;
  mutable std::map<uint8_t, std::vector<int32_t>> containing_;
};

}  // namespace brasa
