#pragma once

#include <memory>
#include <vector>

#include "structured/constraint.h"
#include "structured/vocabulary.h"

namespace brasa {

// The constraint of tool_choice "auto": the model decides whether to call a tool,
// and once it starts a call, the call is generated under the tool grammar.
//
// The decision is the first token with visible text. A token whose text starts
// with '{' opens a call, so at that point only the tokens that the call grammar
// (the JSON form {"name": ..., "parameters": ...}) accepts may begin with '{'.
// Any other token starts plain text, after which nothing is constrained. Tokens
// of only whitespace leave the decision to the next one.
// NOTE: Llama 4's pythonic form ("[get_weather(...)]") counts as text here, so
// such calls are parsed afterwards but their arguments are not constrained.
class LazyToolCallConstraint : public TokenConstraint {
 public:
  LazyToolCallConstraint(std::unique_ptr<TokenConstraint> call, std::shared_ptr<const VocabularyIndex> vocabulary);

  void mask(std::vector<uint8_t>& allowed) override;
  void accept(int32_t token) override;
  bool is_complete() const override;
  std::unique_ptr<TokenConstraint> clone_initial() const override;

 private:
  enum class State { Undecided, Call, Text };
  enum class Opening { Blank, Call, Text };

  Opening classify(int32_t token) const;

  std::unique_ptr<TokenConstraint> call_;
  std::shared_ptr<const VocabularyIndex> vocabulary_;
  State state_ = State::Undecided;
};

}  // namespace brasa
