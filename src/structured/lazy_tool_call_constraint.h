#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "structured/call_opening_scanner.h"
#include "structured/constraint.h"
#include "structured/grammar_constraint.h"
#include "structured/grammar_matcher.h"
#include "structured/vocabulary.h"

namespace brasa {

// The call grammars of a tool_choice "auto" request. Either may be null when
// its tools' schemas cannot be compiled in that form.
struct LazyToolCallGrammars {
  std::shared_ptr<CompiledGrammar> json;      // {"name": ..., "parameters": ...}, see compile_forced_tool_calls
  std::shared_ptr<CompiledGrammar> pythonic;  // [name(key=value), ...], see compile_pythonic_tool_calls
  std::vector<std::string> tool_names;        // the names a call may open with after plain text
};

// The constraint of tool_choice "auto": the model decides whether to call a tool,
// and once it starts a call, the rest of the call is generated under a call grammar.
//
// At the start of the output (after whitespace), a call starts in one of two ways:
//   - the first token with visible text starts with '{': the JSON form. Such a
//     token is allowed only when the JSON call grammar accepts its text from
//     the '{' on.
//   - the text reads "[" + a tool name + "(": Llama 4's pythonic list. Until the
//     "(" the text may still turn out to be plain text, such as "[1]" or
//     "[see below]", so nothing is forced. A token that would complete
//     "[name(" must also continue the call validly past the "(".
// After plain text, a call starts wherever parse_tool_calls would read one of
// a listed tool (see find_call_opening): "[" name "(" or {"name": "name"},
// with the whitespace that parser tolerates. The text before the '[' or '{'
// stays unconstrained content. A token that would open such a call is allowed
// only when the call grammar accepts the call text from the '[' or '{' through
// the end of the token, so the model must write the grammar's spacing. Only
// the open candidate (the tail from its '[' or '{') is kept between steps.
// vLLM's llama4_pythonic parser
// (vllm/entrypoints/openai/tool_parsers/llama4_pythonic_tool_parser.py)
// reads a bare list only at the start of the output, so it never parses these.
// Anywhere before a call, the special token <|python_start|> starts a pythonic
// list, after which <|python_end|> and end-of-sequence are forced. Tokens of
// only whitespace at the start leave the decision to the next one, and that
// whitespace stays content, as parse_tool_calls reads it.
// NOTE: a call form whose grammar is null (its schemas could not be compiled)
// is not constrained here, so plan_structured_output's tool_call_policy keeps
// its calls as content.
class LazyToolCallConstraint : public TokenConstraint {
 public:
  LazyToolCallConstraint(LazyToolCallGrammars grammars, std::shared_ptr<const VocabularyIndex> vocabulary);

  void mask(std::vector<uint8_t>& allowed) override;
  void accept(int32_t token) override;
  bool is_complete() const override;
  std::unique_ptr<TokenConstraint> clone_initial() const override;

 private:
  enum class State {
    Undecided,      // only whitespace so far
    Bracket,        // a prefix of "[name(" so far
    Text,           // plain text, perhaps ending in the start of a call (text_tail_)
    JsonCall,       // inside a JSON-form call
    PythonicCall,   // inside a bare pythonic list
    WrappedCall,    // inside a pythonic list after <|python_start|>
    WrappedClosed,  // <|python_end|> written; only end-of-sequence may follow
  };

  bool opens_json_call(int32_t token) const;
  bool is_blank(int32_t token) const;
  std::string_view opening_text(int32_t token) const;
  void mask_pythonic_opening(std::vector<uint8_t>& allowed);
  void accept_pythonic_opening(int32_t token);
  void start_call(State state, std::string_view call_text);

  // Plain text: finding a call that opens after it.
  bool accepts_opening(const CallOpening& opening, std::string_view call_text);
  void mask_text_openings(std::vector<uint8_t>& allowed, std::string_view tail);
  using FirstByteFilter = std::array<bool, 256>;  // by first byte: whether a token may continue the tail
  void mask_text_openings_in(std::vector<uint8_t>& allowed, std::string_view tail, const std::vector<int32_t>& ids,
                             const FirstByteFilter* filter);
  void accept_text(std::string_view bytes);

  LazyToolCallGrammars grammars_;
  std::shared_ptr<const VocabularyIndex> vocabulary_;
  int32_t python_start_ = -1;
  int32_t python_end_ = -1;

  State state_ = State::Undecided;
  std::unique_ptr<GrammarConstraint> call_;
  std::unique_ptr<GrammarMatcher> opening_;  // the pythonic grammar over the text so far, while Undecided or Bracket
  std::string opening_text_;                 // that text from its "[" on, replayed into call_ once "(" is written

  std::unique_ptr<GrammarMatcher> json_root_;      // the JSON call grammar at its start, for accepted_prefix_length
  std::unique_ptr<GrammarMatcher> pythonic_root_;  // the pythonic call grammar at its start
  std::string text_tail_;  // Text: the text from a '[' or '{' that may still open a call, else empty
  std::string scratch_;    // mask: text_tail_ followed by one token's bytes
};

}  // namespace brasa
