#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "structured/constraint.h"
#include "structured/grammar.h"
#include "structured/vocabulary.h"

namespace brasa {

// A grammar bound to a vocabulary, shared by every sequence that uses it. It
// caches token bitmasks by matcher state, because most states recur: every
// character inside an unbounded string leaves the matcher in the same state.
class CompiledGrammar {
 public:
  CompiledGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabularyIndex> vocabulary);

  const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }
  const VocabularyIndex& vocabulary() const { return *vocabulary_; }

  // Thread-safe: sequences of different requests share one CompiledGrammar.
  std::shared_ptr<const std::vector<uint64_t>> find_mask(const std::string& state_key) const;
  void store_mask(const std::string& state_key, std::shared_ptr<const std::vector<uint64_t>> mask);

 private:
  static constexpr size_t kMaxCachedMasks = 128;

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const VocabularyIndex> vocabulary_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const std::vector<uint64_t>>> masks_;
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

 private:
  std::shared_ptr<CompiledGrammar> compiled_;
  std::unique_ptr<class GrammarMatcher> matcher_;
  bool ended_ = false;  // end-of-sequence accepted, or the matcher died
};

}  // namespace brasa
