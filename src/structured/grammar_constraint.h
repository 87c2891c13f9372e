#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "structured/constraint.h"
#include "structured/grammar.h"
#include "structured/string_body_mask.h"
#include "structured/vocabulary.h"

namespace brasa {

// A grammar bound to a vocabulary, shared by every sequence that uses it. It
// caches token bitmasks by matcher state, because most states recur. Inside
// string bodies the mask comes from precomputed token classes instead
// (string_body_mask.h), since a bounded string changes state at every character.
class CompiledGrammar {
 public:
  CompiledGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabularyIndex> vocabulary);

  const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }
  const VocabularyIndex& vocabulary() const { return *vocabulary_; }

  // Thread-safe: sequences of different requests share one CompiledGrammar.
  std::shared_ptr<const std::vector<uint64_t>> find_mask(const std::string& state_key) const;
  void store_mask(const std::string& state_key, std::shared_ptr<const std::vector<uint64_t>> mask);

  // The closing tokens of a string that the grammar accepts after the string,
  // by syntax and state after the string (see fill_string_body_mask).
  std::shared_ptr<const std::vector<StringCloser>> find_closers(const std::string& key) const;
  void store_closers(const std::string& key, std::shared_ptr<const std::vector<StringCloser>> closers);

 private:
  static constexpr size_t kMaxCachedMasks = 128;

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const VocabularyIndex> vocabulary_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const std::vector<uint64_t>>> masks_;
  std::map<std::string, std::shared_ptr<const std::vector<StringCloser>>> closers_;
};

// A TokenConstraint that allows the tokens continuing a sentence of the grammar,
// end-of-sequence once the sentence is complete, and only end-of-sequence when
// nothing can extend it. A token the mask did not allow (the engine ignored
// it) leaves the constraint dead: it then allows only end-of-sequence.
class GrammarConstraint : public TokenConstraint {
 public:
  explicit GrammarConstraint(std::shared_ptr<CompiledGrammar> compiled);
  ~GrammarConstraint() override;

  void mask(std::vector<uint8_t>& allowed) override;
  void accept(int32_t token) override;
  bool is_complete() const override;
  std::unique_ptr<TokenConstraint> clone_initial() const override;

  // Advances over text that is not one token, such as the part of a token
  // after a prefix that another constraint handled. Text the grammar rejects
  // leaves the constraint dead, like a token the mask did not allow.
  void accept_text(std::string_view text);

 private:
  std::shared_ptr<CompiledGrammar> compiled_;
  std::unique_ptr<class GrammarMatcher> matcher_;
  bool ended_ = false;  // end-of-sequence accepted, or the matcher died
};

}  // namespace brasa
