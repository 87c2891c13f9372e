#include "templates/jinja_lexer.h"

#include <algorithm>
#include <cctype>

#include "templates/jinja_error.h"
#include "templates/jinja_unicode.h"

namespace brasa::jinja {

namespace {

// jinja2 turns \r\n and \r into \n and, without keep_trailing_newline, drops one
// newline at the very end of the template.
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_whitespace_text(const std::string& text, size_t from) {
  if (from >= text.size()) return false;
  size_t pos = from;
  while (pos < text.size()) {
    if (!is_space(decode_utf8(text, pos))) return false;
  }
  return true;
}

// Python's str.rstrip() with no argument.
std::string rstrip_unicode(const std::string& text) {
  std::vector<uint32_t> cps = to_code_points(text);
  size_t end = cps.size();
  while (end > 0 && is_space(cps[end - 1])) --end;
  return from_code_points(cps, 0, end);
}

// Skips Python \s whitespace starting at `pos`.
size_t skip_whitespace(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    size_t next = pos;
    if (!is_space(decode_utf8(s, next))) break;
    pos = next;
  }
  return pos;
}

int count_lines(const std::string& s, size_t begin, size_t end) {
  int lines = 0;
  for (size_t i = begin; i < end && i < s.size(); ++i) lines += s[i] == '\n';
  return lines;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decodes a string literal body the way Python's "unicode-escape" codec does.
std::string decode_string_literal(const std::string& body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    auto read_hex = [&](size_t digits) -> bool {
      uint32_t cp = 0;
      for (size_t k = 1; k <= digits; ++k) {
        if (i + k >= body.size() || !std::isxdigit(static_cast<unsigned char>(body[i + k]))) return false;
        cp = cp * 16 + static_cast<uint32_t>(std::stoi(std::string(1, body[i + k]), nullptr, 16));
      }
      append_utf8(out, cp);
      i += digits;
      return true;
    };
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        if (!read_hex(2)) out += "\\x";
        break;
      case 'u':
        if (!read_hex(4)) out += "\\u";
        break;
      case 'U':
        if (!read_hex(8)) out += "\\U";
        break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
            cp = cp * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          append_utf8(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& source) : source_(normalize_newlines(source)) {
    for (size_t i = 0; i < source_.size(); ++i) {
      if (source_[i] == '\n') newlines_.push_back(i);
    }
  }

  std::vector<Token> run() {
    while (pos_ < source_.size()) {
      size_t tag = find_tag_start(pos_);
      if (tag == std::string::npos) {
        emit_text(source_.substr(pos_));
        break;
      }
      lex_tag(tag);
    }
    tokens_.push_back(Token{Token::Type::End, "", line_at(source_.size())});
    return std::move(tokens_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    size_t at = from;
    while ((at = source_.find('{', at)) != std::string::npos) {
      if (at + 1 < source_.size()) {
        char next = source_[at + 1];
        if (next == '{' || next == '%' || next == '#') return at;
      }
      ++at;
    }
    return std::string::npos;
  }

  void emit_text(const std::string& text) {
    if (!text.empty()) tokens_.push_back(Token{Token::Type::Text, text, line_at(pos_)});
  }

  // 1-based line of byte `pos`: one plus the newlines before it.
  int line_at(size_t pos) const {
    auto before = std::lower_bound(newlines_.begin(), newlines_.end(), pos);
    return 1 + static_cast<int>(before - newlines_.begin());
  }

  // Whether the tag at `tag` is `{% raw %}`; sets `body` to where the raw text starts.
  bool match_raw_begin(size_t tag, size_t& body, bool& strip_after) const {
    size_t p = tag + 2;
    if (p < source_.size() && (source_[p] == '-' || source_[p] == '+')) ++p;
    p = skip_whitespace(source_, p);
    if (source_.compare(p, 3, "raw") != 0) return false;
    p = skip_whitespace(source_, p + 3);
    strip_after = false;
    if (source_.compare(p, 3, "-%}") == 0) {
      strip_after = true;
      body = skip_whitespace(source_, p + 3);
      return true;
    }
    if (source_.compare(p, 2, "%}") == 0) {
      body = p + 2;
      return true;
    }
    return false;
  }

  void lex_tag(size_t tag) {
    std::string text = source_.substr(pos_, tag - pos_);
    char kind = source_[tag + 1];
    char control = tag + 2 < source_.size() ? source_[tag + 2] : '\0';

    if (control == '-') {
      text = rstrip_unicode(text);
    } else if (control != '+' && kind != '{') {
      // lstrip_blocks: drop spaces between the start of the line and a block or comment tag.
      size_t line_begin = text.rfind('\n');
      line_begin = line_begin == std::string::npos ? 0 : line_begin + 1;
      if ((line_begin > 0 || line_starting_) && is_whitespace_text(text, line_begin)) text.resize(line_begin);
    }
    emit_text(text);

    size_t after_begin = tag + 2 + ((control == '-' || control == '+') ? 1 : 0);

    if (kind == '#') {
      lex_comment(tag, after_begin);
      return;
    }

    size_t raw_body = 0;
    bool raw_strip = false;
    if (kind == '%' && match_raw_begin(tag, raw_body, raw_strip)) {
      lex_raw(tag, raw_body);
      return;
    }

    tokens_.push_back(Token{kind == '{' ? Token::Type::VariableBegin : Token::Type::BlockBegin, "", line_at(tag)});
    lex_expression(after_begin, kind == '{');
  }

  void lex_comment(size_t tag, size_t body) {
    size_t end = source_.find("#}", body);
    if (end == std::string::npos) throw_template_error(line_at(tag), "Missing end of comment tag");
    size_t after = end + 2;
    bool minus = end > body && source_[end - 1] == '-';
    bool plus = end > body && source_[end - 1] == '+';
    if (minus) {
      after = skip_whitespace(source_, after);
    } else if (!plus && after < source_.size() && source_[after] == '\n') {
      ++after;  // trim_blocks
    }
    finish_tag(tag, after);
  }

  void lex_raw(size_t tag, size_t body) {
    // Find `{%[-+]? endraw [-+]?%}`.
    size_t search = body;
    while (true) {
      size_t start = source_.find("{%", search);
      if (start == std::string::npos) throw_template_error(line_at(tag), "Missing end of raw directive");
      size_t p = start + 2;
      char control = p < source_.size() ? source_[p] : '\0';
      if (control == '-' || control == '+') ++p;
      p = skip_whitespace(source_, p);
      if (source_.compare(p, 6, "endraw") != 0) {
        search = start + 2;
        continue;
      }
      p = skip_whitespace(source_, p + 6);
      size_t after;
      if (source_.compare(p, 3, "-%}") == 0) {
        after = skip_whitespace(source_, p + 3);
      } else if (source_.compare(p, 3, "+%}") == 0) {
        after = p + 3;
      } else if (source_.compare(p, 2, "%}") == 0) {
        after = p + 2;
        if (after < source_.size() && source_[after] == '\n') ++after;
      } else {
        search = start + 2;
        continue;
      }
      std::string text = source_.substr(body, start - body);
      if (control == '-') {
        text = rstrip_unicode(text);
      } else if (control != '+') {
        size_t line_begin = text.rfind('\n');
        line_begin = line_begin == std::string::npos ? 0 : line_begin + 1;
        if (line_begin > 0 && is_whitespace_text(text, line_begin)) text.resize(line_begin);
      }
      if (!text.empty()) tokens_.push_back(Token{Token::Type::Text, text, line_at(body)});
      finish_tag(tag, after);
      return;
    }
  }

  void finish_tag(size_t tag, size_t after) {
    line_starting_ = after > 0 && source_[after - 1] == '\n';
    pos_ = after;
  }

  void lex_expression(size_t p, bool variable) {
    std::vector<char> brackets;
    int line = line_at(p);
    const char* missing = variable ? "unexpected end of template, expected 'end of print statement'"
                                   : "unexpected end of template, expected 'end of statement block'";
    while (true) {
      size_t ws = skip_whitespace(source_, p);
      line += count_lines(source_, p, ws);
      p = ws;
      if (p >= source_.size()) throw_template_error(line, missing);

      // Tag end, unless a bracket is still open.
      if (brackets.empty()) {
        size_t after = 0;
        if (match_tag_end(p, variable, after)) {
          tokens_.push_back(Token{variable ? Token::Type::VariableEnd : Token::Type::BlockEnd, "", line});
          finish_tag(p, after);
          return;
        }
      }

      char c = source_[p];
      if (c == '\'' || c == '"') {
        size_t q = p + 1;
        while (q < source_.size() && source_[q] != c) {
          if (source_[q] == '\\') ++q;
          ++q;
        }
        if (q >= source_.size()) throw_template_error(line, "unexpected char " + std::string(1, c) + " (unterminated string)");
        tokens_.push_back(Token{Token::Type::String, decode_string_literal(source_.substr(p + 1, q - p - 1)), line});
        line += count_lines(source_, p, q);
        p = q + 1;
        continue;
      }
      if (is_digit(c)) {
        p = lex_number(p, line);
        continue;
      }
      if (is_name_start(c)) {
        size_t q = p;
        while (q < source_.size() && is_name_char(source_[q])) ++q;
        tokens_.push_back(Token{Token::Type::Name, source_.substr(p, q - p), line});
        p = q;
        continue;
      }
      static const char* const two_char[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const char* op : two_char) {
        if (source_.compare(p, 2, op) == 0) {
          tokens_.push_back(Token{Token::Type::Operator, op, line});
          p += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      static const std::string single = "+-/*%~[](){}<>=.:|,;";
      if (single.find(c) == std::string::npos) throw_template_error(line, "unexpected char '" + std::string(1, c) + "'");
      if (c == '(' || c == '[' || c == '{') {
        brackets.push_back(c);
      } else if (c == ')' || c == ']' || c == '}') {
        char open = c == ')' ? '(' : (c == ']' ? '[' : '{');
        if (brackets.empty() || brackets.back() != open) throw_template_error(line, "unexpected '" + std::string(1, c) + "'");
        brackets.pop_back();
      }
      tokens_.push_back(Token{Token::Type::Operator, std::string(1, c), line});
      ++p;
    }
  }

  bool match_tag_end(size_t p, bool variable, size_t& after) const {
    const char* close = variable ? "}}" : "%}";
    if (source_.compare(p, 3, std::string("-") + close) == 0) {
      after = skip_whitespace(source_, p + 3);
      return true;
    }
    if (!variable && source_.compare(p, 3, "+%}") == 0) {
      after = p + 3;
      return true;
    }
    if (source_.compare(p, 2, close) == 0) {
      after = p + 2;
      if (!variable && after < source_.size() && source_[after] == '\n') ++after;  // trim_blocks
      return true;
    }
    return false;
  }

  size_t lex_number(size_t p, int line) {
    auto digits = [&](size_t q) {
      while (q < source_.size() && (is_digit(source_[q]) || (source_[q] == '_' && q + 1 < source_.size() && is_digit(source_[q + 1])))) ++q;
      return q;
    };
    size_t q = digits(p);
    bool is_float = false;
    if (q + 1 < source_.size() && source_[q] == '.' && is_digit(source_[q + 1])) {
      is_float = true;
      q = digits(q + 1);
    }
    if (q < source_.size() && (source_[q] == 'e' || source_[q] == 'E')) {
      size_t e = q + 1;
      if (e < source_.size() && (source_[e] == '+' || source_[e] == '-')) ++e;
      if (e < source_.size() && is_digit(source_[e])) {
        is_float = true;
        q = digits(e);
      }
    }
    std::string text;
    for (size_t i = p; i < q; ++i) {
      if (source_[i] != '_') text += source_[i];
    }
    tokens_.push_back(Token{is_float ? Token::Type::Float : Token::Type::Integer, text, line});
    return q;
  }

  std::string source_;
  std::vector<size_t> newlines_;  // offsets of '\n' in source_, ascending
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(source).run(); }

}  // namespace brasa::jinja
