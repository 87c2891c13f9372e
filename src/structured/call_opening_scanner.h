#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace brasa {

// The syntax of a tool call that opens in free text.
enum class CallForm { None, Pythonic, Json };

// The position of a call of a known tool in a text, as parse_tool_calls reads it
// (see tool_syntax::match_start), with the whitespace it tolerates:
//   pythonic: "[" ws name ws "("
//   JSON:     "{" ws "\"name\"" ws ":" ws "\"" name "\""
// Only names in the tool list count, so "[1]", "[len(a)]" or {"name": "Bob"}
// stay plain text. The JSON list "[{\"name\"..." opens at its "{". A
// backslash inside a JSON name that so far is a prefix of a tool name also
// counts as an opening, because parse_tool_calls decodes escapes there.
struct CallOpening {
  CallForm form = CallForm::None;  // None: no call opens in the text
  size_t start = std::string_view::npos;  // the opening '[' or '{'; with form None, the start of
                                          // a prefix that may still open a call, or npos
  size_t end = 0;                         // with a form: the offset just past the '(' or the closing quote
};

// Finds the first call opening in `text`. Each candidate is read from its '['
// or '{' on and dropped at the first byte that cannot continue it, so the work
// is linear in the text for a fixed tool list.
CallOpening find_call_opening(std::string_view text, const std::vector<std::string>& tool_names);

}  // namespace brasa
