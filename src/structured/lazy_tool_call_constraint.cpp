#include "structured/lazy_tool_call_constraint.h"

#include <algorithm>
#include <utility>

namespace brasa {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Clears every entry of `allowed` except those of `ids`, which keep their value.
void keep_only(std::vector<uint8_t>& allowed, const std::vector<int32_t>& ids) {
  std::vector<uint8_t> values;
  for (int32_t id : ids) values.push_back(id >= 0 && static_cast<size_t>(id) < allowed.size() ? allowed[id] : 0);
  std::fill(allowed.begin(), allowed.end(), 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= 0 && static_cast<size_t>(ids[i]) < allowed.size()) allowed[ids[i]] = values[i];
  }
}

bool opens_with_brace(const std::string& bytes) {
  for (char c : bytes) {
    if (!is_space(c)) return c == '{';
  }
  return false;
}

// The tokens whose first visible character is '{', computed once per vocabulary.
const std::vector<int32_t>& json_openers(const VocabularyIndex& vocabulary) {
  auto compute = [&]() -> std::shared_ptr<const void> {
    auto ids = std::make_shared<std::vector<int32_t>>();
    for (int32_t id = 0; id < vocabulary.vocab_size(); ++id) {
      if (opens_with_brace(vocabulary.token_bytes(id))) ids->push_back(id);
    }
    return ids;
  };
  return *std::static_pointer_cast<const std::vector<int32_t>>(vocabulary.derived("json-call-openers", compute));
}

// Returns whether a '[' or '{' comes before a '(' or '"' in `bytes`, so the token could
// open a call and confirm it on its own.
bool may_open_call_alone(const std::string& bytes) {
  size_t opener = bytes.find_first_of("[{");
  return opener != std::string::npos && bytes.find_first_of("(\"", opener + 1) != std::string::npos;
}

// The tokens of may_open_call_alone, computed once per vocabulary.
const std::vector<int32_t>& lone_call_openers(const VocabularyIndex& vocabulary) {
  auto compute = [&]() -> std::shared_ptr<const void> {
    auto ids = std::make_shared<std::vector<int32_t>>();
    for (int32_t id = 0; id < vocabulary.vocab_size(); ++id) {
      if (may_open_call_alone(vocabulary.token_bytes(id))) ids->push_back(id);
    }
    return ids;
  };
  return *std::static_pointer_cast<const std::vector<int32_t>>(vocabulary.derived("lone-call-openers", compute));
}

}  // namespace

LazyToolCallConstraint::LazyToolCallConstraint(LazyToolCallGrammars grammars,
                                               std::shared_ptr<const VocabularyIndex> vocabulary)
    : grammars_(std::move(grammars)), vocabulary_(std::move(vocabulary)) {
  python_start_ = vocabulary_->special_token_id("<|python_start|>");
  python_end_ = vocabulary_->special_token_id("<|python_end|>");
  if (grammars_.pythonic != nullptr) {
    opening_ = std::make_unique<GrammarMatcher>(grammars_.pythonic->grammar());
    pythonic_root_ = std::make_unique<GrammarMatcher>(grammars_.pythonic->grammar());
  }
  if (grammars_.json != nullptr) json_root_ = std::make_unique<GrammarMatcher>(grammars_.json->grammar());
}

// Special tokens have no bytes here, so EOS and other specials are not blank:
// a model may still end its turn or switch to the <|python_start|> form.
bool LazyToolCallConstraint::is_blank(int32_t token) const {
  if (token < 0 || token >= vocabulary_->vocab_size()) return false;
  const std::string& bytes = vocabulary_->token_bytes(token);
  return !bytes.empty() && std::all_of(bytes.begin(), bytes.end(), is_space);
}

bool LazyToolCallConstraint::opens_json_call(int32_t token) const {
  if (grammars_.json == nullptr || token < 0 || token >= vocabulary_->vocab_size()) return false;
  return opens_with_brace(vocabulary_->token_bytes(token));
}

// Clears the tokens that would write the "(" of "[name(" and then text the
// call grammar rejects. The other tokens either keep the text a prefix of
// "[name(", or leave it before the "(" and so turn it into plain text.
// Used at the start of the output, where the grammar has read nothing yet.
void LazyToolCallConstraint::mask_pythonic_opening(std::vector<uint8_t>& allowed) {
  if (opening_ == nullptr) return;
  for (int32_t id : vocabulary_->tokens_containing('(')) {
    if (static_cast<size_t>(id) >= allowed.size() || allowed[id] == 0) continue;
    std::string_view text = opening_text(id);

    // The list opens with '[', so the grammar accepts no byte of any other token.
    if (text.empty() || text[0] != '[') continue;
    size_t paren = text.find('(');
    size_t accepted = opening_->accepted_prefix_length(text);
    if (accepted > paren && accepted < text.size()) allowed[id] = 0;
  }
}

// The part of a token that goes to the pythonic grammar before a call starts.
// Whitespace before the first visible character stays plain content, like the
// text that parse_tool_calls keeps before a call.
std::string_view LazyToolCallConstraint::opening_text(int32_t token) const {
  std::string_view bytes = vocabulary_->token_bytes(token);
  if (state_ != State::Undecided) return bytes;
  size_t first = 0;
  while (first < bytes.size() && is_space(bytes[first])) ++first;
  return bytes.substr(first);
}

void LazyToolCallConstraint::mask(std::vector<uint8_t>& allowed) {
  switch (state_) {
    case State::Text:
      mask_text_openings(allowed, text_tail_);
      return;

    case State::JsonCall:
    case State::PythonicCall:
      call_->mask(allowed);
      return;

    case State::WrappedCall:
      if (!call_->is_complete()) {
        call_->mask(allowed);
      } else if (python_end_ >= 0) {
        keep_only(allowed, {python_end_});  // the list is closed
      } else {
        keep_only(allowed, vocabulary_->eos_ids());
      }
      return;

    case State::WrappedClosed:
      keep_only(allowed, vocabulary_->eos_ids());
      return;

    case State::Bracket:
      // The same as after plain text: opening_text_ reads "[" and part of a name.
      mask_text_openings(allowed, opening_text_);
      return;

    case State::Undecided:
      break;
  }

  // Undecided: a token that opens a JSON call must be one the JSON grammar
  // accepts, apart from the whitespace before its '{'.
  if (grammars_.json != nullptr) {
    GrammarMatcher json_start(grammars_.json->grammar());
    for (int32_t id : json_openers(*vocabulary_)) {
      if (static_cast<size_t>(id) >= allowed.size() || allowed[id] == 0) continue;
      std::string_view text = opening_text(id);
      if (json_start.accepted_prefix_length(text) < text.size()) allowed[id] = 0;
    }
  }
  mask_pythonic_opening(allowed);
  mask_text_openings_in(allowed, "", lone_call_openers(*vocabulary_), nullptr);
}

bool LazyToolCallConstraint::accepts_opening(const CallOpening& opening, std::string_view call_text) {
  GrammarMatcher* root = opening.form == CallForm::Pythonic ? pythonic_root_.get() : json_root_.get();
  if (root == nullptr) return true;  // that form is not constrained
  return root->accepted_prefix_length(call_text) == call_text.size();
}

// Clears the tokens of `ids` after which a call opens in `tail` + the token's
// bytes whose text, from its '[' or '{' through the token, the call grammar rejects.
void LazyToolCallConstraint::mask_text_openings_in(std::vector<uint8_t>& allowed, std::string_view tail,
                                                   const std::vector<int32_t>& ids, const FirstByteFilter* filter) {
  // When the grammar already rejects the tail, as in {"name": "get_ with its
  // space, every token that confirms the tail's call is cleared without a
  // grammar check of its own.
  bool tail_accepted = true;
  if (!tail.empty()) {
    GrammarMatcher* root = tail[0] == '[' ? pythonic_root_.get() : json_root_.get();
    tail_accepted = root == nullptr || root->accepted_prefix_length(tail) == tail.size();
  }

  // Many tokens confirm the same opening, such as every token that starts
  // with '\\' after {"name":"get_. When the grammar rejects that opening
  // itself, it is kept here so those tokens skip the grammar check.
  std::string rejected_opening;

  for (int32_t id : ids) {
    if (static_cast<size_t>(id) >= allowed.size() || allowed[id] == 0) continue;
    const std::string& bytes = vocabulary_->token_bytes(id);
    if (filter != nullptr && (bytes.empty() || !(*filter)[static_cast<uint8_t>(bytes[0])])) continue;

    scratch_.assign(tail);
    scratch_ += bytes;
    CallOpening opening = find_call_opening(scratch_, grammars_.tool_names);
    if (opening.form == CallForm::None) continue;
    if (opening.start == 0 && !tail_accepted) {
      allowed[id] = 0;
      continue;
    }

    GrammarMatcher* root = opening.form == CallForm::Pythonic ? pythonic_root_.get() : json_root_.get();
    if (root == nullptr) continue;  // that form is not constrained
    std::string_view call_text = std::string_view(scratch_).substr(opening.start);
    std::string_view confirmed = call_text.substr(0, opening.end - opening.start);
    if (!rejected_opening.empty() && confirmed == rejected_opening) {
      allowed[id] = 0;
      continue;
    }
    size_t accepted = root->accepted_prefix_length(call_text);
    if (accepted < confirmed.size()) rejected_opening.assign(confirmed);
    if (accepted < call_text.size()) allowed[id] = 0;
  }
}

// A call can open only at a token that writes its confirming byte: the '(' of
// a pythonic call, or the '"' that closes a JSON call's name or a '\' inside
// it. When no candidate is pending, only a token that contains its own '['
// or '{' before that byte can open a call, so this step costs little on plain text.
void LazyToolCallConstraint::mask_text_openings(std::vector<uint8_t>& allowed, std::string_view tail) {
  if (!tail.empty()) {
    bool pythonic = tail[0] == '[';
    if (pythonic ? pythonic_root_ != nullptr : json_root_ != nullptr) {
      // The bytes that keep the tail's candidate open. A token that starts
      // with another byte ends it, and can open a call only with a '[' or '{'
      // of its own, as a lone opener. After "[get_" this leaves only "w...".
      FirstByteFilter continues{};
      for (int byte = 0; byte < 256; ++byte) {
        scratch_.assign(tail);
        scratch_ += static_cast<char>(byte);
        continues[byte] = find_call_opening(scratch_, grammars_.tool_names).start == 0;
      }
      mask_text_openings_in(allowed, tail, vocabulary_->tokens_containing(pythonic ? '(' : '"'), &continues);
      if (!pythonic) mask_text_openings_in(allowed, tail, vocabulary_->tokens_containing('\\'), &continues);
    }
  }
  mask_text_openings_in(allowed, tail, lone_call_openers(*vocabulary_), nullptr);
}

void LazyToolCallConstraint::start_call(State state, std::string_view call_text) {
  state_ = state;
  call_ = std::make_unique<GrammarConstraint>(state == State::JsonCall ? grammars_.json : grammars_.pythonic);
  call_->accept_text(call_text);
  opening_.reset();
  opening_text_.clear();
  text_tail_.clear();
}

// Plain text: keeps the tail that may still open a call, or starts the call
// once the text confirms one.
void LazyToolCallConstraint::accept_text(std::string_view bytes) {
  text_tail_ += bytes;
  CallOpening opening = find_call_opening(text_tail_, grammars_.tool_names);
  if (opening.form == CallForm::None) {
    if (opening.start == std::string_view::npos) {
      text_tail_.clear();
    } else {
      text_tail_.erase(0, opening.start);
    }
    return;
  }

  std::string call_text = text_tail_.substr(opening.start);
  text_tail_.clear();
  State state = opening.form == CallForm::Pythonic ? State::PythonicCall : State::JsonCall;
  bool constrained = (state == State::PythonicCall ? grammars_.pythonic : grammars_.json) != nullptr;
  // A token the mask would have cleared (or a form without a grammar) leaves
  // the call unconstrained, so it stays text here.
  if (!constrained || !accepts_opening(opening, call_text)) return;
  start_call(state, call_text);
}

void LazyToolCallConstraint::accept_pythonic_opening(int32_t token) {
  bool in_vocabulary = token >= 0 && token < vocabulary_->vocab_size();
  std::string_view text = in_vocabulary ? opening_text(token) : std::string_view();
  if (opening_ == nullptr || text.empty() || !opening_->accept_bytes(text)) {
    // Plain text from here, which may still open a call from the "[" so far,
    // as in "[ get_weather(" or "[1] [get_weather(".
    state_ = State::Text;
    text_tail_ = opening_text_;
    opening_.reset();
    opening_text_.clear();
    accept_text(text);
    return;
  }
  opening_text_ += text;
  // The grammar takes a "(" only right after a tool name, so the first one
  // completes "[name(".
  if (text.find('(') != std::string_view::npos) {
    std::string call_text = std::move(opening_text_);
    start_call(State::PythonicCall, call_text);
  } else {
    state_ = State::Bracket;
  }
}

void LazyToolCallConstraint::accept(int32_t token) {
  bool before_call = state_ == State::Undecided || state_ == State::Bracket || state_ == State::Text;
  if (before_call && token >= 0 && token == python_start_ && grammars_.pythonic != nullptr) {
    start_call(State::WrappedCall, "");
    return;
  }

  switch (state_) {
    case State::Text:
      if (token >= 0 && token < vocabulary_->vocab_size()) accept_text(vocabulary_->token_bytes(token));
      return;

    case State::WrappedClosed:
      return;

    case State::JsonCall:
    case State::PythonicCall:
      call_->accept(token);
      return;

    case State::WrappedCall:
      if (call_->is_complete() && token == python_end_) {
        state_ = State::WrappedClosed;
      } else {
        call_->accept(token);
      }
      return;

    case State::Bracket:
      accept_pythonic_opening(token);
      return;

    case State::Undecided:
      if (is_blank(token)) return;
      if (opens_json_call(token)) {
        start_call(State::JsonCall, opening_text(token));
        return;
      }
      accept_pythonic_opening(token);
      return;
  }
}

bool LazyToolCallConstraint::is_complete() const {
  switch (state_) {
    case State::JsonCall:
    case State::PythonicCall:
      return call_->is_complete();
    case State::WrappedClosed:
      return true;
    default:
      return false;
  }
}

std::unique_ptr<TokenConstraint> LazyToolCallConstraint::clone_initial() const {
  return std::make_unique<LazyToolCallConstraint>(grammars_, vocabulary_);
}

}  // namespace brasa
