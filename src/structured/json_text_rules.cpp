#include "structured/json_text_rules.h"

#include <algorithm>
#include <vector>

namespace brasa {
namespace {

constexpr uint64_t kMaxMagnitude = 9999999999999999ull;  // 16 digits
constexpr int64_t kMaxFractionDigits = 16;

ByteSet byte_range(uint8_t first, uint8_t last) { return ByteSet{}.add_range(first, last); }

ByteSet hex_digits() { return ByteSet{}.add_range('0', '9').add_range('a', 'f').add_range('A', 'F'); }

ByteSet lower_hex_digits() { return ByteSet{}.add_range('0', '9').add_range('a', 'f'); }

// Printable ASCII that a JSON string may hold without an escape.
ByteSet plain_ascii() {
  ByteSet set = byte_range(0x20, 0x7F);
  set.remove('"').remove('\\');
  return set;
}

}  // namespace

namespace {

// The string syntaxes. JSON has its own escapes. In Python literals both quote
// styles take the escapes that Python and parse_tool_calls read alike, so
// "\/" (a '/' in JSON, two characters in Python) is left out.
StringSyntax json_string_syntax() {
  ByteSet escapes;
  for (char c : std::string("\"\\/bfnrt")) escapes.add(static_cast<uint8_t>(c));
  return {'"', escapes};
}

StringSyntax python_string_syntax(uint8_t quote) {
  ByteSet escapes;
  for (char c : std::string("\"'\\bfnrt")) escapes.add(static_cast<uint8_t>(c));
  return {quote, escapes};
}

}  // namespace

int32_t JsonTextRules::string_char(const StringSyntax& syntax) {
  auto found = chars_.find(syntax.quote);
  if (found != chars_.end()) return found->second;
  GrammarBuilder& b = builder_;
  ByteSet tail = byte_range(0x80, 0xBF);

  // Surrogate escapes (\uD800-\uDFFF) are left out: a pair counts as one
  // character in JSON Schema and a lone one is not a character.
  ByteSet hex_no_d = ByteSet{}.add_range('0', '9').add_range('a', 'c').add_range('A', 'C').add_range('e', 'f').add_range('E', 'F');
  Symbols hex = b.bytes(hex_digits());
  int32_t escape = b.add_rule({b.bytes(syntax.short_escapes),
                               b.literal("u") + b.bytes(hex_no_d) + hex + hex + hex,
                               b.literal("u") + b.bytes(ByteSet{}.add('d').add('D')) + b.bytes(byte_range('0', '7')) + hex + hex});

  // Printable ASCII except the quote and the backslash, then well-formed UTF-8
  // only (no overlong forms, surrogates or code points past U+10FFFF). Few
  // alternatives keep the matcher fast: each alternative is one stack per byte
  // inside every string. string_body_mask.cpp scans token bytes by the same rules.
  ByteSet plain = byte_range(0x20, 0x7F);
  plain.remove(syntax.quote).remove('\\');
  ByteSet three_byte_leads = byte_range(0xE1, 0xEC).add_range(0xEE, 0xEF);
  int32_t character = b.add_rule({
      b.bytes(plain),
      b.literal("\\") + GrammarBuilder::ref(escape),
      b.bytes(byte_range(0xC2, 0xDF)) + b.bytes(tail),
      b.literal("\xE0") + b.bytes(byte_range(0xA0, 0xBF)) + b.bytes(tail),
      b.bytes(three_byte_leads) + b.bytes(tail) + b.bytes(tail),
      b.literal("\xED") + b.bytes(byte_range(0x80, 0x9F)) + b.bytes(tail),
      b.literal("\xF0") + b.bytes(byte_range(0x90, 0xBF)) + b.bytes(tail) + b.bytes(tail),
      b.bytes(byte_range(0xF1, 0xF3)) + b.bytes(tail) + b.bytes(tail) + b.bytes(tail),
      b.literal("\xF4") + b.bytes(byte_range(0x80, 0x8F)) + b.bytes(tail) + b.bytes(tail),
  });
  chars_[syntax.quote] = character;
  return character;
}

// quote body quote, where body is min_length..max_length characters. The body
// is written out like GrammarBuilder::repeat, and every position between two
// characters is marked, so the token mask can take the string fast path there.
int32_t JsonTextRules::quoted_string(const StringSyntax& syntax, int64_t min_length, int64_t max_length) {
  GrammarBuilder& b = builder_;
  Symbols character = GrammarBuilder::ref(string_char(syntax));
  auto max_left = [&](int64_t written) { return max_length < 0 ? -1 : static_cast<int32_t>(max_length - written); };

  // The optional tail after the required characters: unbounded is
  // `tail := char tail | ε`; bounded is a chain `tail_k := char tail_{k-1} | ε`.
  int32_t tail = -1;
  if (max_length < 0) {
    tail = b.declare();
    b.define(tail, {character + GrammarBuilder::ref(tail), {}});
    b.mark_string_body(tail, 0, 1, syntax, {-1, 0, -1, false});
  } else {
    tail = b.add_rule({{}});
    for (int64_t k = 1; k <= max_length - min_length; ++k) {
      tail = b.add_rule({character + GrammarBuilder::ref(tail), {}});
      b.mark_string_body(tail, 0, 1, syntax, {-1, 0, static_cast<int32_t>(k - 1), false});
    }
  }

  Symbols required;
  for (int64_t k = 0; k < min_length; ++k) required = required + character;
  int32_t body = b.add_rule({required + GrammarBuilder::ref(tail)});
  for (int64_t k = 1; k <= min_length; ++k) {
    b.mark_string_body(body, 0, static_cast<int32_t>(k), syntax,
                       {-1, static_cast<int32_t>(min_length - k), max_left(k), false});
  }

  std::string quote(1, static_cast<char>(syntax.quote));
  int32_t string = b.add_rule({b.literal(quote) + GrammarBuilder::ref(body) + b.literal(quote)});
  b.mark_string_body(string, 0, 1, syntax, {-1, static_cast<int32_t>(min_length), max_left(0), true});
  return string;
}

int32_t JsonTextRules::any_string() {
  if (string_ < 0) string_ = string_of_length(0, -1);
  return string_;
}

int32_t JsonTextRules::string_of_length(int64_t min_length, int64_t max_length) {
  if (syntax_ == LiteralSyntax::Json) return quoted_string(json_string_syntax(), min_length, max_length);
  return builder_.add_rule({GrammarBuilder::ref(quoted_string(python_string_syntax('"'), min_length, max_length)),
                            GrammarBuilder::ref(quoted_string(python_string_syntax('\''), min_length, max_length))});
}

Symbols JsonTextRules::true_literal() { return builder_.literal(syntax_ == LiteralSyntax::Json ? "true" : "True"); }
Symbols JsonTextRules::false_literal() { return builder_.literal(syntax_ == LiteralSyntax::Json ? "false" : "False"); }
Symbols JsonTextRules::null_literal() { return builder_.literal(syntax_ == LiteralSyntax::Json ? "null" : "None"); }
Symbols JsonTextRules::item_separator() { return builder_.literal(syntax_ == LiteralSyntax::Json ? "," : ", "); }
Symbols JsonTextRules::key_separator() { return builder_.literal(syntax_ == LiteralSyntax::Json ? ":" : ": "); }

namespace {

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON value as a Python literal. JSON's string escapes are all Python
// escapes with the same meaning, so strings keep their JSON spelling.
std::string python_literal(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_null()) return "None";
  if (value.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + python_literal(value[i]);
    return out + "]";
  }
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, member] : value.items()) {
      out += (first ? "" : ", ") + dump_json(nlohmann::json(key)) + ": " + python_literal(member);
      first = false;
    }
    return out + "}";
  }
  return dump_json(value);
}

}  // namespace

std::vector<Symbols> JsonTextRules::value_literals(const nlohmann::json& value) {
  if (syntax_ == LiteralSyntax::Json) return {builder_.literal(dump_json(value))};
  std::vector<Symbols> out = {builder_.literal(python_literal(value))};
  if (value.is_string()) {
    std::string text = dump_json(value);
    if (text.find('\'') == std::string::npos) out.push_back(builder_.literal("'" + text.substr(1, text.size() - 2) + "'"));
  }
  return out;
}

Symbols JsonTextRules::digits(int64_t count) {
  Symbols out;
  for (int64_t i = 0; i < count; ++i) out = out + builder_.bytes(byte_range('0', '9'));
  return out;
}

int32_t JsonTextRules::any_integer() {
  if (integer_ >= 0) return integer_;
  int32_t magnitude = unsigned_range(0, kMaxMagnitude);
  integer_ = builder_.add_rule({GrammarBuilder::ref(magnitude), builder_.literal("-") + GrammarBuilder::ref(magnitude)});
  return integer_;
}

int32_t JsonTextRules::fraction(bool zeros_only) {
  ByteSet digit = zeros_only ? ByteSet{}.add('0') : byte_range('0', '9');
  int32_t more = builder_.repeat(builder_.bytes(digit), 1, kMaxFractionDigits);
  return builder_.add_rule({builder_.literal(".") + GrammarBuilder::ref(more), {}});
}

int32_t JsonTextRules::any_number() {
  if (number_ >= 0) return number_;
  int32_t magnitude = unsigned_range(0, kMaxMagnitude);
  int32_t exponent_digits = builder_.repeat(builder_.bytes(byte_range('0', '9')), 1, 2);
  int32_t exponent = builder_.add_rule({builder_.bytes(ByteSet{}.add('e').add('E')) +
                                            builder_.bytes(ByteSet{}.add('+').add('-')) + GrammarBuilder::ref(exponent_digits),
                                        builder_.bytes(ByteSet{}.add('e').add('E')) + GrammarBuilder::ref(exponent_digits),
                                        {}});
  Symbols unsigned_number = GrammarBuilder::ref(magnitude) + GrammarBuilder::ref(fraction(false)) + GrammarBuilder::ref(exponent);
  number_ = builder_.add_rule({unsigned_number, builder_.literal("-") + unsigned_number});
  return number_;
}

// Decimal strings of the same width from `low` to `high`, built digit by digit
// as in the usual range-to-regex construction. Equal leading digits are fixed.
// Otherwise the low edge, the full middle and the high edge are alternatives.
Symbols JsonTextRules::fixed_width_range(const std::string& low, const std::string& high) {
  if (low.empty()) return {};
  if (low == std::string(low.size(), '0') && high == std::string(high.size(), '9')) {
    return digits(static_cast<int64_t>(low.size()));
  }
  if (low[0] == high[0]) return builder_.literal(low.substr(0, 1)) + fixed_width_range(low.substr(1), high.substr(1));

  size_t rest = low.size() - 1;
  std::vector<Symbols> alternatives;
  alternatives.push_back(builder_.literal(low.substr(0, 1)) + fixed_width_range(low.substr(1), std::string(rest, '9')));
  if (low[0] + 1 <= high[0] - 1) {
    alternatives.push_back(builder_.bytes(byte_range(low[0] + 1, high[0] - 1)) + digits(static_cast<int64_t>(rest)));
  }
  alternatives.push_back(builder_.literal(high.substr(0, 1)) + fixed_width_range(std::string(rest, '0'), high.substr(1)));
  return GrammarBuilder::ref(builder_.add_rule(alternatives));
}

// Integers in [low, high] written without leading zeros.
int32_t JsonTextRules::unsigned_range(uint64_t low, uint64_t high) {
  std::string low_text = std::to_string(low);
  std::string high_text = std::to_string(high);
  std::vector<Symbols> alternatives;
  for (size_t width = low_text.size(); width <= high_text.size(); ++width) {
    std::string smallest_of_width(width, '0');
    smallest_of_width[0] = '1';
    std::string first = width == low_text.size() ? low_text : smallest_of_width;
    std::string last = width == high_text.size() ? high_text : std::string(width, '9');
    alternatives.push_back(fixed_width_range(first, last));
  }
  return builder_.add_rule(alternatives);
}

int32_t JsonTextRules::bounded_number(std::optional<int64_t> low_bound, std::optional<int64_t> high_bound, bool integer) {
  int64_t cap = static_cast<int64_t>(kMaxMagnitude);
  int64_t low = std::max(low_bound.value_or(-cap), -cap);
  int64_t high = std::min(high_bound.value_or(cap), cap);

  // A magnitude m in [a, b]: for integers the range itself; for numbers any
  // fraction below b and only zeros at b, so that a <= m <= b holds.
  auto magnitude = [&](int64_t a, int64_t b) -> Symbols {
    if (integer) return GrammarBuilder::ref(unsigned_range(a, b));
    std::vector<Symbols> alternatives;
    if (a < b) alternatives.push_back(GrammarBuilder::ref(unsigned_range(a, b - 1)) + GrammarBuilder::ref(fraction(false)));
    alternatives.push_back(GrammarBuilder::ref(unsigned_range(b, b)) + GrammarBuilder::ref(fraction(true)));
    return GrammarBuilder::ref(builder_.add_rule(alternatives));
  };

  std::vector<Symbols> alternatives;
  if (high >= 0) alternatives.push_back(magnitude(std::max<int64_t>(low, 0), high));
  if (low < 0) {
    // v = -m with v in [low, min(high, 0)]; integers need m >= 1 so "-0" is not written twice.
    int64_t smallest = integer ? std::max<int64_t>(-high, 1) : std::max<int64_t>(-high, 0);
    if (smallest <= -low) alternatives.push_back(builder_.literal("-") + magnitude(smallest, -low));
  }
  return builder_.add_rule(alternatives);
}

int32_t JsonTextRules::string_excluding(const std::set<std::string>& names) {
  ByteSet allowed = plain_ascii();
  allowed.remove(0x7F);
  return name_excluding(names, "\"", allowed, allowed, "\"", true);
}

int32_t JsonTextRules::keyword_excluding(const std::set<std::string>& names) {
  ByteSet first = ByteSet{}.add_range('A', 'Z').add_range('a', 'z').add('_');
  ByteSet rest = first;
  rest.add_range('0', '9');
  return name_excluding(names, "", first, rest, "=", false);
}

// open, then a name of `first` and `rest` bytes that differs from every one
// of `names`, then close. The rule follows a trie of the names and leaves it at the first byte
// that no name continues with.
int32_t JsonTextRules::name_excluding(const std::set<std::string>& names, const std::string& open, const ByteSet& first,
                                      const ByteSet& rest, const std::string& close, bool allow_empty) {
  struct TrieNode {
    std::map<uint8_t, int32_t> children;
    bool is_name = false;
  };
  std::vector<TrieNode> trie(1);
  for (const std::string& name : names) {
    // Names with bytes that can never be written need no exclusion.
    bool writable = true;
    for (size_t i = 0; i < name.size(); ++i) {
      writable = writable && (i == 0 ? first : rest).contains(static_cast<uint8_t>(name[i]));
    }
    if (!writable) continue;
    int32_t node = 0;
    for (char c : name) {
      auto found = trie[node].children.find(static_cast<uint8_t>(c));
      if (found == trie[node].children.end()) {
        trie.push_back({});
        int32_t child = static_cast<int32_t>(trie.size()) - 1;
        trie[node].children[static_cast<uint8_t>(c)] = child;
        node = child;
      } else {
        node = found->second;
      }
    }
    trie[node].is_name = true;
  }

  // Once the name leaves the trie it can be anything.
  int32_t free_tail = builder_.repeat(builder_.bytes(rest), 0, -1);
  int32_t free_rest = builder_.add_rule({GrammarBuilder::ref(free_tail) + builder_.literal(close)});

  std::vector<int32_t> rules(trie.size());
  for (size_t i = trie.size(); i-- > 0;) {
    bool is_root = i == 0;
    std::vector<Symbols> alternatives;
    if (!trie[i].is_name && (!is_root || allow_empty)) alternatives.push_back(builder_.literal(close));
    ByteSet leave = is_root ? first : rest;
    for (const auto& [byte, child] : trie[i].children) {
      alternatives.push_back(builder_.bytes(ByteSet{}.add(byte)) + GrammarBuilder::ref(rules[child]));
      leave.remove(byte);
    }
    alternatives.push_back(builder_.bytes(leave) + GrammarBuilder::ref(free_rest));
    rules[i] = builder_.add_rule(alternatives);
  }
  return builder_.add_rule({builder_.literal(open) + GrammarBuilder::ref(rules[0])});
}

int32_t JsonTextRules::string_format(const std::string& format) {
  auto found = formats_.find(format);
  if (found != formats_.end()) return found->second;
  GrammarBuilder& b = builder_;
  auto range = [&](char first, char last) { return b.bytes(byte_range(first, last)); };
  auto one_of = [&](const std::string& chars) {
    ByteSet set;
    for (char c : chars) set.add(static_cast<uint8_t>(c));
    return b.bytes(set);
  };

  // Dates leave out February 29 rather than check leap years; years run 1000-9999.
  auto date = [&]() {
    Symbols day_1_28 = GrammarBuilder::ref(b.add_rule({b.literal("0") + range('1', '9'), b.literal("1") + range('0', '9'),
                                                        b.literal("2") + range('0', '8')}));
    Symbols any_month = GrammarBuilder::ref(b.add_rule({b.literal("0") + range('1', '9'), b.literal("1") + range('0', '2')}));
    Symbols month_30 = GrammarBuilder::ref(b.add_rule({b.literal("0") + one_of("13456789"), b.literal("1") + range('0', '2')}));
    Symbols month_31 = GrammarBuilder::ref(b.add_rule({b.literal("0") + one_of("13578"), b.literal("1") + one_of("02")}));
    Symbols month_day = GrammarBuilder::ref(b.add_rule({any_month + b.literal("-") + day_1_28,
                                                        month_30 + b.literal("-29"),
                                                        month_30 + b.literal("-30"), month_31 + b.literal("-31")}));
    return range('1', '9') + digits(3) + b.literal("-") + month_day;
  };
  auto time = [&]() {
    Symbols hour = GrammarBuilder::ref(b.add_rule({one_of("01") + range('0', '9'), b.literal("2") + range('0', '3')}));
    Symbols sixty = range('0', '5') + range('0', '9');
    int32_t fraction_digits = b.repeat(range('0', '9'), 1, 6);
    Symbols seconds_fraction = GrammarBuilder::ref(b.add_rule({b.literal(".") + GrammarBuilder::ref(fraction_digits), {}}));
    Symbols offset = GrammarBuilder::ref(b.add_rule({b.literal("Z"), one_of("+-") + hour + b.literal(":") + sixty}));
    return hour + b.literal(":") + sixty + b.literal(":") + sixty + seconds_fraction + offset;
  };

  Symbols body;
  if (format == "date") {
    body = date();
  } else if (format == "time") {
    body = time();
  } else if (format == "date-time") {
    body = date() + b.literal("T") + time();
  } else if (format == "uuid") {
    Symbols hex = b.bytes(lower_hex_digits());
    auto hex_run = [&](int n) {
      Symbols out;
      for (int i = 0; i < n; ++i) out = out + hex;
      return out;
    };
    body = hex_run(8) + b.literal("-") + hex_run(4) + b.literal("-") + hex_run(4) + b.literal("-") + hex_run(4) +
           b.literal("-") + hex_run(12);
  } else if (format == "email") {
    Symbols word = GrammarBuilder::ref(b.repeat(b.bytes(ByteSet{}.add_range('a', 'z').add_range('0', '9')), 1, 32));
    Symbols top_level = GrammarBuilder::ref(b.repeat(b.bytes(ByteSet{}.add_range('a', 'z')), 2, 8));
    Symbols dotted = GrammarBuilder::ref(b.add_rule({b.literal(".") + word, {}}));
    body = word + dotted + b.literal("@") + word + b.literal(".") + top_level;
  } else if (format == "ipv4") {
    Symbols octet = GrammarBuilder::ref(b.add_rule({b.literal("25") + range('0', '5'), b.literal("2") + range('0', '4') + range('0', '9'),
                                                    b.literal("1") + range('0', '9') + range('0', '9'),
                                                    range('1', '9') + range('0', '9'), range('0', '9')}));
    body = octet + b.literal(".") + octet + b.literal(".") + octet + b.literal(".") + octet;
  } else {
    return -1;
  }
  std::vector<Symbols> quoted = {b.literal("\"") + body + b.literal("\"")};
  if (syntax_ == LiteralSyntax::Python) quoted.push_back(b.literal("'") + body + b.literal("'"));
  int32_t rule = b.add_rule(quoted);
  formats_[format] = rule;
  return rule;
}

int32_t JsonTextRules::any_object() {
  if (object_ >= 0) return object_;
  object_ = builder_.declare();
  Symbols member = GrammarBuilder::ref(any_string()) + key_separator() + GrammarBuilder::ref(any_value());
  int32_t members = builder_.separated(member, item_separator(), 0, -1);
  builder_.define(object_, {builder_.literal("{") + GrammarBuilder::ref(members) + builder_.literal("}")});
  return object_;
}

int32_t JsonTextRules::any_value() {
  if (value_ >= 0) return value_;
  value_ = builder_.declare();
  int32_t items = builder_.separated(GrammarBuilder::ref(value_), item_separator(), 0, -1);
  int32_t array = builder_.add_rule({builder_.literal("[") + GrammarBuilder::ref(items) + builder_.literal("]")});
  builder_.define(value_, {GrammarBuilder::ref(any_object()), GrammarBuilder::ref(array), GrammarBuilder::ref(any_string()),
                           GrammarBuilder::ref(any_number()), true_literal(), false_literal(), null_literal()});
  return value_;
}

}  // namespace brasa
