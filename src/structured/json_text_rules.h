#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "structured/grammar.h"

namespace brasa {

// Grammar rules for the pieces of compact JSON text (strings, numbers, any
// value), added to a GrammarBuilder on first use and then reused.
class JsonTextRules {
 public:
  explicit JsonTextRules(GrammarBuilder& builder) : builder_(builder) {}

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
  // without escapes, so that no escaped spelling can equal a name.
  int32_t string_excluding(const std::set<std::string>& names);

  // An integer (or, with integer == false, a decimal number without exponent)
  // within [low, high]; a missing bound means 16 digits at most.
  int32_t bounded_number(std::optional<int64_t> low, std::optional<int64_t> high, bool integer);

 private:
  int32_t string_char();
  Symbols digits(int64_t count);
  int32_t unsigned_range(uint64_t low, uint64_t high);
  Symbols fixed_width_range(const std::string& low, const std::string& high);
  int32_t fraction(bool zeros_only);

  GrammarBuilder& builder_;
  int32_t value_ = -1;
  int32_t object_ = -1;
  int32_t string_ = -1;
  int32_t char_ = -1;
  int32_t integer_ = -1;
  int32_t number_ = -1;
  std::map<std::string, int32_t> formats_;
};

}  // namespace brasa
