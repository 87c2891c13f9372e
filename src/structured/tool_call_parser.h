#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace brasa {

// One function call found in model output, in the OpenAI shape.
struct ToolCall {
  std::string id;         // "call_" + 24 random alphanumerics
  std::string name;
  std::string arguments;  // a JSON object as compact text, keys in output order
};

// Model output split into the text meant for the user and the calls.
struct ParsedToolOutput {
  std::string content;  // text before the first call; the whole output when there is no call
  std::vector<ToolCall> tool_calls;
};

// The rules that decide which parsed calls may come back as tool_calls. Under tool_choice "auto" a
// call in a form that LazyToolCallConstraint could not enforce, or of a tool
// the request does not list, was generated without its schema, so it stays
// content instead. The default allows every call.
struct ToolCallPolicy {
  bool json_form = true;                // {"name": ..., "parameters": ...}, alone or in a list
  bool pythonic_form = true;            // [name(...)], bare or after <|python_start|>
  std::vector<std::string> tool_names;  // when not empty, the only names a call may have

  bool allows_region(std::string_view region) const;  // the form of the region that starts at region[0]
  bool allows_name(std::string_view name) const;
};

// Parses the tool calls in a finished assistant turn. Two syntaxes are read:
//   pythonic (Llama 4, Llama 3.2):  [get_weather(location="London"), other(a=1)]
//     bare or inside <|python_start|> ... <|python_end|>; arguments are Python
//     literals (both quote kinds, escapes, ints, floats, True/False/None, lists,
//     tuples, dicts) or JSON literals (true/false/null);
//   JSON (Llama 3.x):  {"name": "f", "parameters": {...}} ("arguments" also),
//     one object, several separated by ';', or a JSON list of them.
// A call region must run to the end of the text (trailing whitespace and a
// <|python_end|>, <|eom|> or <|eot|> marker may follow). Text before it is kept as
// content. Output that does not parse as calls, or whose calls `policy`
// rejects, comes back whole as content.
ParsedToolOutput parse_tool_calls(std::string_view text, const ToolCallPolicy& policy = {});

// Returns a fresh OpenAI-style call id.
std::string make_tool_call_id();

}  // namespace brasa
