#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "structured/grammar.h"

namespace brasa {

// The syntax values are written in. Json: compact JSON text. Python: Python literals as
// in a pythonic tool call, with True/False/None, strings in either quote
// style, and ", " and ": " between items.
enum class LiteralSyntax { Json, Python };

// Grammar rules for the pieces of literal text (strings, numbers, any value),
// added to a GrammarBuilder on first use and then reused.
class JsonTextRules {
 public:
  explicit JsonTextRules(GrammarBuilder& builder, LiteralSyntax syntax = LiteralSyntax::Json)
      : builder_(builder), syntax_(syntax) {}

  LiteralSyntax syntax() const { return syntax_; }

  // The literals that differ between the syntaxes.
  Symbols true_literal();
  Symbols false_literal();
  Symbols null_literal();
  Symbols item_separator();  // between array items and object members
  Symbols key_separator();   // between an object key and its value

  // `value` written as a literal of this syntax (in Python, strings without a
  // single quote also get the single-quoted spelling).
  std::vector<Symbols> value_literals(const nlohmann::json& value);

  int32_t any_value();
  int32_t any_object();
  int32_t any_string();
  int32_t any_integer();  // at most 16 digits
  int32_t any_number();   // at most 16 integer and 16 fraction digits, exponent of at most 2 digits

  // A string of min_length..max_length characters (max_length < 0: no bound),
  // counted as JSON Schema counts them (code points; an escape is one).
  int32_t string_of_length(int64_t min_length, int64_t max_length);

  // A string in the given format, or -1 when the format is not supported.
  int32_t string_format(const std::string& format);

  // A string that differs from every one of `names`. It is printable ASCII
  // without escapes in double quotes, so that no escaped spelling can equal a name.
  int32_t string_excluding(const std::set<std::string>& names);

  // A Python identifier ([A-Za-z_][A-Za-z0-9_]*) other than `names`, then "=":
  // the keyword of an extra argument in a pythonic call.
  int32_t keyword_excluding(const std::set<std::string>& names);

  // An integer (or, with integer == false, a decimal number without exponent)
  // within [low, high]; a missing bound means 16 digits at most.
  int32_t bounded_number(std::optional<int64_t> low, std::optional<int64_t> high, bool integer);

 private:
  int32_t string_char(const StringSyntax& syntax);
  int32_t quoted_string(const StringSyntax& syntax, int64_t min_length, int64_t max_length);
  int32_t name_excluding(const std::set<std::string>& names, const std::string& open, const ByteSet& first,
                         const ByteSet& rest, const std::string& close, bool allow_empty);
  Symbols digits(int64_t count);
  int32_t unsigned_range(uint64_t low, uint64_t high);
  Symbols fixed_width_range(const std::string& low, const std::string& high);
  int32_t fraction(bool zeros_only);

  GrammarBuilder& builder_;
  LiteralSyntax syntax_;
  std::map<uint8_t, int32_t> chars_;  // character rule by quote byte
  int32_t value_ = -1;
  int32_t object_ = -1;
  int32_t string_ = -1;
  int32_t integer_ = -1;
  int32_t number_ = -1;
  std::map<std::string, int32_t> formats_;
};

}  // namespace brasa
