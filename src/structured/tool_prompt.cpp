#include "structured/tool_prompt.h"

namespace brasa {
namespace {

using nlohmann::json;

// Writes a JSON value as a Python literal: JSON string escapes are valid in
// Python, so only the keywords differ.
std::string python_literal(const json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ", ";
      out += python_literal(value[i]);
    }
    return out + "]";
  }
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      if (!first) out += ", ";
      first = false;
      out += json(key).dump() + ": " + python_literal(item);
    }
    return out + "}";
  }
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string text_of(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string out;
    for (const json& part : content) {
      if (part.is_object() && part.value("type", "") == "text") out += part.value("text", "");
    }
    return out;
  }
  return "";
}

}  // namespace

std::string format_tool_system_prompt(const json& tools) {
  json functions = json::array();
  for (const json& tool : tools) {
    if (tool.is_object() && tool.contains("function")) functions.push_back(tool["function"]);
  }

  std::string prompt =
      "You may call functions to answer. To call them, reply with nothing but a Python-style list of calls:\n"
      "[func_name1(param1=value1, param2=value2), func_name2(param=value)]\n"
      "Call only the functions listed below and pass every required parameter. When no function fits, "
      "answer in plain text and call nothing.\n\n"
      "The functions you can call, as JSON:\n";
  prompt += functions.dump(4, ' ', false, json::error_handler_t::replace);
  return prompt;
}

std::string format_pythonic_calls(const json& tool_calls) {
  std::string out = "[";
  bool first = true;
  for (const json& call : tool_calls) {
    if (!call.is_object() || !call.contains("function")) continue;
    const json& function = call["function"];
    json arguments = json::object();
    if (function.contains("arguments")) {
      const json& raw = function["arguments"];
      arguments = raw.is_string() ? json::parse(raw.get<std::string>(), nullptr, false) : raw;
    }
    if (!first) out += ", ";
    first = false;
    out += function.value("name", "") + "(";
    // NOTE: arguments that are not a JSON object (malformed client history) are dropped.
    if (arguments.is_object()) {
      bool first_argument = true;
      for (const auto& [key, value] : arguments.items()) {
        if (!first_argument) out += ", ";
        first_argument = false;
        out += key + "=" + python_literal(value);
      }
    }
    out += ")";
  }
  return out + "]";
}

json add_tool_system_prompt(const json& messages, const json& tools) {
  json out = json::array();
  std::string instructions = format_tool_system_prompt(tools);

  bool has_system = !messages.empty() && messages[0].is_object() && messages[0].value("role", "") == "system";
  if (!has_system) out.push_back({{"role", "system"}, {"content", instructions}});

  for (size_t i = 0; i < messages.size(); ++i) {
    json message = messages[i];
    std::string role = message.is_object() ? message.value("role", "") : "";
    if (i == 0 && has_system) {
      std::string original = message.contains("content") ? text_of(message["content"]) : "";
      message["content"] = original.empty() ? instructions : instructions + "\n\n" + original;
    } else if (role == "assistant" && message.contains("tool_calls") && message["tool_calls"].is_array() &&
               !message["tool_calls"].empty()) {
      std::string content = message.contains("content") ? text_of(message["content"]) : "";
      message["content"] = content + format_pythonic_calls(message["tool_calls"]);
      message.erase("tool_calls");
    } else if (role == "tool") {
      message["role"] = "ipython";
    }
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace brasa
