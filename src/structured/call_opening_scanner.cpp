#include "structured/call_opening_scanner.h"

namespace brasa {
namespace {

// The same character classes as tool_call_syntax.cpp, which parses the calls.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'; }

enum class Match { None, Prefix, Confirmed };

struct CandidateMatch {
  Match match = Match::None;
  size_t length = 0;  // Confirmed: the bytes up to and including the confirming one
};

bool is_known(std::string_view name, const std::vector<std::string>& tool_names) {
  for (const std::string& tool : tool_names) {
    if (tool == name) return true;
  }
  return false;
}

bool is_known_prefix(std::string_view name, const std::vector<std::string>& tool_names) {
  for (const std::string& tool : tool_names) {
    if (std::string_view(tool).substr(0, name.size()) == name) return true;
  }
  return false;
}

size_t skip_space(std::string_view text, size_t i) {
  while (i < text.size() && is_space(text[i])) ++i;
  return i;
}

// Reads "[" ws name ws "(" from text[0].
CandidateMatch match_pythonic(std::string_view text, const std::vector<std::string>& tool_names) {
  size_t i = skip_space(text, 1);
  if (i == text.size()) return {Match::Prefix};
  if (!is_name_start(text[i])) return {};

  size_t name_start = i;
  while (i < text.size() && is_name_char(text[i])) ++i;
  std::string_view name = text.substr(name_start, i - name_start);
  if (i == text.size()) return {is_known_prefix(name, tool_names) ? Match::Prefix : Match::None};
  if (!is_known(name, tool_names)) return {};

  i = skip_space(text, i);
  if (i == text.size()) return {Match::Prefix};
  if (text[i] != '(') return {};
  return {Match::Confirmed, i + 1};
}

// Reads "{" ws "\"name\"" ws ":" ws "\"" name "\"" from text[0].
CandidateMatch match_json(std::string_view text, const std::vector<std::string>& tool_names) {
  constexpr std::string_view kNameKey = "\"name\"";
  size_t i = skip_space(text, 1);
  std::string_view key = text.substr(i, kNameKey.size());
  if (key != kNameKey.substr(0, key.size())) return {};
  if (key.size() < kNameKey.size()) return {Match::Prefix};

  i = skip_space(text, i + kNameKey.size());
  if (i == text.size()) return {Match::Prefix};
  if (text[i] != ':') return {};
  i = skip_space(text, i + 1);
  if (i == text.size()) return {Match::Prefix};
  if (text[i] != '"') return {};

  size_t name_start = ++i;
  while (i < text.size() && text[i] != '"' && text[i] != '\\') ++i;
  std::string_view name = text.substr(name_start, i - name_start);
  if (i == text.size()) return {is_known_prefix(name, tool_names) ? Match::Prefix : Match::None};

  // An escape may still spell a tool name ("get\u005fweather" reads as
  // get_weather), so it counts as opening a call. The call grammar writes
  // names without escapes, so such a token is masked.
  if (text[i] == '\\') return {is_known_prefix(name, tool_names) ? Match::Confirmed : Match::None, i + 1};
  if (!is_known(name, tool_names)) return {};
  return {Match::Confirmed, i + 1};
}

}  // namespace

CallOpening find_call_opening(std::string_view text, const std::vector<std::string>& tool_names) {
  // After a candidate fails, the search resumes just past its first byte, so
  // an opening inside a failed candidate is still tried. A candidate that may
  // still open a call runs to the end of the text, so it is the last one.
  for (size_t start = text.find_first_of("[{"); start != std::string_view::npos;
       start = text.find_first_of("[{", start + 1)) {
    std::string_view rest = text.substr(start);
    bool pythonic = rest[0] == '[';
    CandidateMatch candidate = pythonic ? match_pythonic(rest, tool_names) : match_json(rest, tool_names);
    if (candidate.match == Match::Confirmed) {
      return {pythonic ? CallForm::Pythonic : CallForm::Json, start, start + candidate.length};
    }
    if (candidate.match == Match::Prefix) return {CallForm::None, start, 0};
  }
  return {};
}

}  // namespace brasa
