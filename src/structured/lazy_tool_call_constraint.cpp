#include "structured/lazy_tool_call_constraint.h"

#include <utility>

namespace brasa {

LazyToolCallConstraint::LazyToolCallConstraint(std::unique_ptr<TokenConstraint> call,
                                               std::shared_ptr<const VocabularyIndex> vocabulary)
    : call_(std::move(call)), vocabulary_(std::move(vocabulary)) {}

LazyToolCallConstraint::Opening LazyToolCallConstraint::classify(int32_t token) const {
  if (token < 0 || token >= vocabulary_->vocab_size()) return Opening::Text;
  for (char c : vocabulary_->token_bytes(token)) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
    return c == '{' ? Opening::Call : Opening::Text;
  }
  // Special tokens have no bytes here. EOS and other specials count as text,
  // so a model may still end its turn or switch to the <|python_start|> form.
  return vocabulary_->token_bytes(token).empty() ? Opening::Text : Opening::Blank;
}

void LazyToolCallConstraint::mask(std::vector<uint8_t>& allowed) {
  if (state_ == State::Text) return;
  if (state_ == State::Call) {
    call_->mask(allowed);
    return;
  }

  // Undecided: a token that opens a call must be one the call grammar accepts.
  std::vector<uint8_t> call_allowed(allowed.size(), 1);
  call_->mask(call_allowed);
  for (size_t id = 0; id < allowed.size(); ++id) {
    if (classify(int32_t(id)) == Opening::Call && call_allowed[id] == 0) allowed[id] = 0;
  }
}

void LazyToolCallConstraint::accept(int32_t token) {
  if (state_ == State::Text) return;
  if (state_ == State::Call) {
    call_->accept(token);
    return;
  }
  switch (classify(token)) {
    case Opening::Blank:
      break;
    case Opening::Call:
      state_ = State::Call;
      call_->accept(token);
      break;
    case Opening::Text:
      state_ = State::Text;
      break;
  }
}

bool LazyToolCallConstraint::is_complete() const { return state_ == State::Call && call_->is_complete(); }

std::unique_ptr<TokenConstraint> LazyToolCallConstraint::clone_initial() const {
  return std::make_unique<LazyToolCallConstraint>(call_->clone_initial(), vocabulary_);
}

}  // namespace brasa
