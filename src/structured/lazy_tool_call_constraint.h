#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
};

// The constraint of tool_choice "auto": the model decides whether to call a tool,
// and once it starts a call, the rest of the call is generated under a call grammar.
//
// A call starts in one of three ways:
//   - the first token with visible text starts with '{' (after whitespace): the
//     JSON form. At that point a token that begins with '{' is allowed only
//     when the JSON call grammar accepts its text from the '{' on.
//   - the output so far, after leading whitespace, reads "[" + a tool name +
//     "(": Llama 4's pythonic list. vLLM's llama4_pythonic parser
//     (vllm/entrypoints/openai/tool_parsers/llama4_pythonic_tool_parser.py)
//     likewise reads a list only at the start of the output. Until the "(" the text may
//     still turn out to be plain text, such as "[1]" or "[see below]", so
//     nothing is forced. A token that would complete "[name(" must also
//     continue the call validly past the "(".
//   - the special token <|python_start|>, anywhere, even after plain text: then
//     a pythonic list, <|python_end|>, and end-of-sequence are forced.
// Anything else starts plain text, after which only <|python_start|> can
// start a call. Tokens of only whitespace leave the decision to the next one,
// and whitespace before a bare call stays content, as parse_tool_calls reads it.
// NOTE: a pythonic list written after plain text without <|python_start|> is
// still parsed by parse_tool_calls, but its arguments are not constrained.
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
    Text,           // plain text
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
  void start_call(State state);

  LazyToolCallGrammars grammars_;
  std::shared_ptr<const VocabularyIndex> vocabulary_;
  int32_t python_start_ = -1;
  int32_t python_end_ = -1;

  State state_ = State::Undecided;
  std::unique_ptr<GrammarConstraint> call_;
  std::unique_ptr<GrammarMatcher> opening_;  // the pythonic grammar over the text so far, while Undecided or Bracket
  std::string opening_text_;                 // that text from its "[" on, replayed into call_ once "(" is written
};

}  // namespace brasa
