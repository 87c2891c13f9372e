#include "structured/tool_call_syntax.h"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include <nlohmann/json.hpp>

namespace brasa::tool_syntax {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kPythonStart = "<|python_start|>";
constexpr std::array<std::string_view, 3> kEndMarkers = {"<|python_end|>", "<|eom|>", "<|eot|>"};

// Nesting bound for literals, so hostile output cannot exhaust the stack.
constexpr int kMaxDepth = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string dump_compact(const OrderedJson& value) {
  // Replace invalid UTF-8 instead of throwing: model output may split a character.
  return value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// A recursive-descent reader over a possibly truncated text. Every read that
// runs past the end sets `truncated`, so a failed parse can tell "needs more
// text" (Incomplete) from "cannot be a call" (Invalid).
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool truncated() const { return truncated_; }
  size_t pos() const { return pos_; }

  bool at_end() {
    if (pos_ < text_.size()) return false;
    truncated_ = true;
    return true;
  }

  char peek() { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  // Consumes `literal` when the text continues with it. A text that ends inside
  // the literal counts as truncated.
  bool consume(std::string_view literal) {
    std::string_view rest = text_.substr(pos_);
    if (rest.size() < literal.size()) {
      if (literal.substr(0, rest.size()) == rest) truncated_ = true;
      return false;
    }
    if (rest.substr(0, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  std::optional<std::string> read_name() {
    if (at_end() || !is_name_start(text_[pos_])) return std::nullopt;
    size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    if (pos_ == text_.size()) truncated_ = true;  // the name may go on
    return std::string(text_.substr(start, pos_ - start));
  }

  // Reads a Python or JSON literal.
  std::optional<OrderedJson> read_value(int depth) {
    if (depth > kMaxDepth || at_end()) return std::nullopt;
    char c = text_[pos_];
    if (c == '"' || c == '\'') return read_string();
    if (c == '[') return read_sequence(']', depth);
    if (c == '(') return read_sequence(')', depth);
    if (c == '{') return read_dict(depth);
    if (c == '-' || c == '+' || c == '.' || is_digit(c)) return read_number();
    if (is_name_start(c)) return read_keyword();
    return std::nullopt;
  }

 private:
  std::optional<OrderedJson> read_keyword() {
    std::optional<std::string> word = read_name();
    if (!word) return std::nullopt;
    if (*word == "True" || *word == "true") return OrderedJson(true);
    if (*word == "False" || *word == "false") return OrderedJson(false);
    if (*word == "None" || *word == "null") return OrderedJson(nullptr);
    return std::nullopt;
  }

  std::optional<OrderedJson> read_number() {
    size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+') ++pos_;
    bool is_float = false;
    bool any_digit = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (is_digit(c)) {
        any_digit = true;
      } else if (c == '.' || c == 'e' || c == 'E') {
        is_float = true;
      } else if ((c == '+' || c == '-') && (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E')) {
        // exponent sign
      } else if (c != '_') {
        break;
      }
      ++pos_;
    }
    if (pos_ == text_.size()) truncated_ = true;  // more digits may follow
    if (!any_digit) return std::nullopt;

    std::string digits;
    for (char c : text_.substr(start, pos_ - start)) {
      if (c != '_') digits += c;
    }
    errno = 0;
    char* end = nullptr;
    if (!is_float) {
      long long value = std::strtoll(digits.c_str(), &end, 10);
      if (errno == 0 && end == digits.c_str() + digits.size()) return OrderedJson(static_cast<int64_t>(value));
      errno = 0;  // out of int64 range: fall through to a double
    }
    double value = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size() || errno == ERANGE) return std::nullopt;
    return OrderedJson(value);
  }

  std::optional<uint32_t> read_hex(int n_digits) {
    if (pos_ + n_digits > text_.size()) {
      truncated_ = true;
      return std::nullopt;
    }
    uint32_t value = 0;
    for (int k = 0; k < n_digits; ++k) {
      char c = text_[pos_++];
      value <<= 4;
      if (is_digit(c)) value |= c - '0';
      else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
      else return std::nullopt;
    }
    return value;
  }

  // Python strings: '...' or "..." or their triple-quoted forms, with the escapes
  // of Python 3 (unknown escapes keep their backslash) plus JSON's "\/".
  std::optional<OrderedJson> read_string() {
    char quote = text_[pos_];
    std::string closing(1, quote);
    if (text_.substr(pos_, 3) == std::string(3, quote)) closing.assign(3, quote);
    pos_ += closing.size();

    std::string out;
    while (true) {
      if (at_end()) return std::nullopt;
      if (text_.substr(pos_, closing.size()) == closing) {
        pos_ += closing.size();
        return OrderedJson(out);
      }
      char c = text_[pos_++];
      if (c == '\n' && closing.size() == 1) return std::nullopt;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return std::nullopt;
      char e = text_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '/': out += '/'; break;
        case '\n': break;  // line continuation
        case 'x': {
          std::optional<uint32_t> byte = read_hex(2);
          if (!byte) return std::nullopt;
          append_utf8(out, *byte);
          break;
        }
        case 'u':
        case 'U': {
          std::optional<uint32_t> cp = read_hex(e == 'u' ? 4 : 8);
          if (!cp) return std::nullopt;
          // A UTF-16 surrogate pair, as JSON writes characters outside the BMP.
          if (*cp >= 0xD800 && *cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            std::optional<uint32_t> low = read_hex(4);
            if (!low || *low < 0xDC00 || *low > 0xDFFF) return std::nullopt;
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
          }
          if ((*cp >= 0xD800 && *cp <= 0xDFFF) || *cp > 0x10FFFF) return std::nullopt;
          append_utf8(out, *cp);
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
  }

  std::optional<OrderedJson> read_sequence(char close, int depth) {
    ++pos_;
    OrderedJson items = OrderedJson::array();
    while (true) {
      skip_space();
      if (at_end()) return std::nullopt;
      if (text_[pos_] == close) {
        ++pos_;
        return items;
      }
      std::optional<OrderedJson> item = read_value(depth + 1);
      if (!item) return std::nullopt;
      items.push_back(std::move(*item));
      skip_space();
      if (at_end()) return std::nullopt;
      if (text_[pos_] == ',') {
        ++pos_;
      } else if (text_[pos_] != close) {
        return std::nullopt;
      }
    }
  }

  std::optional<OrderedJson> read_dict(int depth) {
    ++pos_;
    OrderedJson object = OrderedJson::object();
    while (true) {
      skip_space();
      if (at_end()) return std::nullopt;
      if (text_[pos_] == '}') {
        ++pos_;
        return object;
      }
      std::optional<OrderedJson> key = read_value(depth + 1);
      if (!key || key->is_array() || key->is_object()) return std::nullopt;
      skip_space();
      if (!consume(":")) return std::nullopt;
      skip_space();
      std::optional<OrderedJson> value = read_value(depth + 1);
      if (!value) return std::nullopt;
      std::string key_text = key->is_string() ? key->get<std::string>() : dump_compact(*key);
      object[key_text] = std::move(*value);
      skip_space();
      if (at_end()) return std::nullopt;
      if (text_[pos_] == ',') {
        ++pos_;
      } else if (text_[pos_] != '}') {
        return std::nullopt;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  bool truncated_ = false;
};

// Turns a JSON-form call object into a call: it needs a string "name" and a
// "parameters" or "arguments" member that is an object (or a string holding one).
std::optional<RawCall> call_from_object(const OrderedJson& object) {
  if (!object.is_object()) return std::nullopt;
  auto name = object.find("name");
  if (name == object.end() || !name->is_string() || name->get<std::string>().empty()) return std::nullopt;
  auto arguments = object.find("parameters");
  if (arguments == object.end()) arguments = object.find("arguments");
  if (arguments == object.end()) return std::nullopt;

  OrderedJson parsed = *arguments;
  if (parsed.is_string()) parsed = OrderedJson::parse(parsed.get<std::string>(), nullptr, false);
  if (!parsed.is_object()) return std::nullopt;
  return RawCall{name->get<std::string>(), dump_compact(parsed)};
}

class RegionParser {
 public:
  explicit RegionParser(std::string_view text) : reader_(text) {}

  RegionParse run() {
    reader_.skip_space();
    bool wrapped = reader_.consume(kPythonStart);
    if (!wrapped && reader_.truncated()) return finish(false);
    reader_.skip_space();

    bool ok = false;
    char c = reader_.peek();
    if (c == '[') {
      ok = read_list();
    } else if (c == '{') {
      ok = read_json_calls();
    } else if (wrapped && is_name_start(c)) {
      ok = read_python_calls('\0');  // bare calls inside <|python_start|>
    }
    if (!ok) return finish(false);
    return finish(read_trailer());
  }

 private:
  RegionParse finish(bool ok) {
    if (ok) {
      result_.status = RegionStatus::Complete;
    } else {
      result_.status = reader_.truncated() ? RegionStatus::Incomplete : RegionStatus::Invalid;
    }
    if (result_.status != RegionStatus::Incomplete) result_.open_name.clear();
    return std::move(result_);
  }

  bool read_list() {
    reader_.consume("[");
    reader_.skip_space();
    if (reader_.peek() == '{') return read_json_list();
    return read_python_calls(']');
  }

  // name(key=value, ...) calls separated by ','. With close == ']' the list must
  // end with that bracket; with close == '\0' (bare calls) it ends at the first
  // text that is not ','.
  bool read_python_calls(char close) {
    while (true) {
      reader_.skip_space();
      if (!read_python_call()) return false;
      reader_.skip_space();
      if (close != '\0' && reader_.consume(std::string(1, close))) return true;
      if (reader_.consume(",")) continue;
      return close == '\0';
    }
  }

  bool read_python_call() {
    std::optional<std::string> name = reader_.read_name();
    if (!name) return false;
    reader_.skip_space();
    if (!reader_.consume("(")) return false;
    result_.open_name = *name;

    OrderedJson arguments = OrderedJson::object();
    while (true) {
      reader_.skip_space();
      if (reader_.consume(")")) break;
      std::optional<std::string> key = reader_.read_name();
      if (!key) return false;
      reader_.skip_space();
      if (!reader_.consume("=")) return false;
      reader_.skip_space();
      std::optional<OrderedJson> value = reader_.read_value(0);
      if (!value) return false;
      arguments[*key] = std::move(*value);
      reader_.skip_space();
      if (reader_.consume(")")) break;
      if (!reader_.consume(",")) return false;
    }
    result_.calls.push_back({*name, dump_compact(arguments)});
    result_.calls_end = reader_.pos();
    result_.call_ends.push_back(result_.calls_end);
    result_.open_name.clear();
    return true;
  }

  bool read_json_call() {
    std::optional<OrderedJson> object = reader_.read_value(0);
    if (!object) return false;
    std::optional<RawCall> call = call_from_object(*object);
    if (!call) return false;
    result_.calls.push_back(std::move(*call));
    result_.calls_end = reader_.pos();
    result_.call_ends.push_back(result_.calls_end);
    return true;
  }

  bool read_json_list() {
    while (true) {
      reader_.skip_space();
      if (!read_json_call()) return false;
      reader_.skip_space();
      if (reader_.consume("]")) return true;
      if (!reader_.consume(",")) return false;
    }
  }

  // One or more JSON call objects separated by ';' (a trailing ';' is allowed).
  bool read_json_calls() {
    while (true) {
      if (!read_json_call()) return false;
      reader_.skip_space();
      if (!reader_.consume(";")) return true;
      reader_.skip_space();
      if (reader_.at_end() || reader_.peek() != '{') return true;
    }
  }

  // Whitespace and end markers up to the end of the text.
  bool read_trailer() {
    while (true) {
      reader_.skip_space();
      if (reader_.at_end()) {
        return true;
      }
      bool matched = false;
      for (std::string_view marker : kEndMarkers) {
        if (reader_.consume(marker)) {
          matched = true;
          break;
        }
      }
      if (!matched) return false;
    }
  }

  Reader reader_;
  RegionParse result_;
};

}  // namespace

RegionParse parse_region(std::string_view text) { return RegionParser(text).run(); }

bool is_json_region(std::string_view text) {
  if (text.empty()) return false;
  if (text[0] == '{') return true;
  if (text[0] != '[') return false;
  size_t i = 1;
  while (i < text.size() && is_space(text[i])) ++i;
  return i < text.size() && text[i] == '{';
}

StartMatch match_start(std::string_view text) {
  if (text.empty()) return StartMatch::None;

  if (text[0] == '<') {
    if (text.size() < kPythonStart.size()) {
      return kPythonStart.substr(0, text.size()) == text ? StartMatch::Prefix : StartMatch::None;
    }
    return text.substr(0, kPythonStart.size()) == kPythonStart ? StartMatch::Confirmed : StartMatch::None;
  }

  size_t i = 1;
  auto skip_space = [&] {
    while (i < text.size() && is_space(text[i])) ++i;
  };
  auto match_name_key = [&]() {
    constexpr std::string_view kNameKey = "\"name\"";
    std::string_view rest = text.substr(i);
    if (rest.size() < kNameKey.size()) {
      return kNameKey.substr(0, rest.size()) == rest ? StartMatch::Prefix : StartMatch::None;
    }
    return rest.substr(0, kNameKey.size()) == kNameKey ? StartMatch::Confirmed : StartMatch::None;
  };

  if (text[0] == '{') {
    skip_space();
    return match_name_key();
  }
  if (text[0] != '[') return StartMatch::None;

  skip_space();
  if (i == text.size()) return StartMatch::Prefix;
  if (text[i] == '{') {
    ++i;
    skip_space();
    return match_name_key();
  }
  if (!is_name_start(text[i])) return StartMatch::None;
  while (i < text.size() && is_name_char(text[i])) ++i;
  skip_space();
  if (i == text.size()) return StartMatch::Prefix;
  return text[i] == '(' ? StartMatch::Confirmed : StartMatch::None;
}

}  // namespace brasa::tool_syntax
