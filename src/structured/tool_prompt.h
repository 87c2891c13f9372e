#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace brasa {

// The Llama 4 zero-shot tool convention for chat templates that do not read
// `tools`: the function definitions go into the system message as a JSON list,
// with an instruction to reply with a pythonic call list,
// [func_name(param1=value1, param2=value2), ...].

// Returns the system-prompt text that lists `tools` (OpenAI tool objects).
std::string format_tool_system_prompt(const nlohmann::json& tools);

// Returns a copy of `messages` with the tool instructions added: prepended to the
// first system message, or as a new system message at the front. Assistant
// messages with tool_calls get their calls as pythonic content, and "tool"
// messages become "ipython" messages, the role Llama 4 uses for tool results.
nlohmann::json add_tool_system_prompt(const nlohmann::json& messages, const nlohmann::json& tools);

// Formats OpenAI tool_calls (arguments as JSON text) as a pythonic call list.
std::string format_pythonic_calls(const nlohmann::json& tool_calls);

}  // namespace brasa
