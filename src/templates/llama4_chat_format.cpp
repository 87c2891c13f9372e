// brasa's built-in Llama 4 chat format, for checkpoints that ship no template.
// Layout (llama-models, models/llama4/chat_format.py and prompt_format.md):
//   <|begin_of_text|> then, per message,
//   <|header_start|>ROLE<|header_end|>\n\n CONTENT <|eot|>
// Tool results use the role "ipython"; an assistant turn that calls tools ends
// with <|eom|>. Tool definitions go into the system message as a JSON list, and
// the model answers with Python-style calls: [get_weather(city="Paris")].

#include <memory>

#include "templates/chat_template.h"
#include "templates/jinja_value.h"

namespace brasa {

namespace {

constexpr const char* kBeginOfText = "<|begin_of_text|>";
constexpr const char* kEndOfTurn = "<|eot|>";
constexpr const char* kEndOfMessage = "<|eom|>";

std::string header(const std::string& role) { return "<|header_start|>" + role + "<|header_end|>\n\n"; }

// Text of a message's content: a string, a list of parts ({"type": "text"} and
// images, which become the <|image|> placeholder), or null.
std::string content_text(const nlohmann::ordered_json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return "";
  if (!content.is_array()) throw TemplateError("builtin:llama4: message content must be a string, a list of parts or null");
  std::string text;
  for (const auto& part : content) {
    if (part.is_string()) {
      text += part.get<std::string>();
      continue;
    }
    std::string type = part.value("type", "");
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string()) throw TemplateError("builtin:llama4: a text part needs a string field text");
      text += part["text"].get<std::string>();
    } else if (type == "image" || type == "image_url") {
      text += "<|image|>";
    } else {
      throw TemplateError("builtin:llama4: unsupported content part type '" + type + "'");
    }
  }
  return text;
}

// json.dumps-style text, the form Python's json module and the Llama 4 examples use.
std::string python_json(const nlohmann::ordered_json& value, int indent) {
  return jinja::Value::from_json(value).to_json(indent, indent >= 0 ? "," : ", ", ": ", false);
}

// One call in the Python-style form: name(key="text", n=3).
std::string format_tool_call(const nlohmann::ordered_json& call) {
  const nlohmann::ordered_json& function = call.contains("function") ? call["function"] : call;
  if (!function.is_object() || !function.contains("name") || !function["name"].is_string()) {
    throw TemplateError("builtin:llama4: a tool call needs function.name");
  }
  nlohmann::ordered_json arguments = function.value("arguments", nlohmann::ordered_json::object());
  if (arguments.is_string()) {
    // OpenAI clients send the arguments as a JSON string.
    try {
      arguments = nlohmann::ordered_json::parse(arguments.get<std::string>());
    } catch (const nlohmann::ordered_json::exception&) {
      throw TemplateError("builtin:llama4: tool call arguments are not valid JSON: " + arguments.get<std::string>());
    }
  }
  if (!arguments.is_object()) throw TemplateError("builtin:llama4: tool call arguments must be a JSON object");

  std::string text = function["name"].get<std::string>() + "(";
  bool first = true;
  for (auto it = arguments.begin(); it != arguments.end(); ++it) {
    if (!first) text += ", ";
    first = false;
    text += it.key() + "=" + python_json(it.value(), -1);
  }
  return text + ")";
}

std::string tool_instructions(const nlohmann::ordered_json& tools) {
  nlohmann::ordered_json functions = nlohmann::ordered_json::array();
  for (const auto& tool : tools) functions.push_back(tool.contains("function") ? tool["function"] : tool);
  return "You can call functions to answer the user. To call functions, reply with only a list of calls "
         "in the form [func_name1(param1=value1, param2=value2), func_name2(...)] and no other text. "
         "Call only the functions listed below; when none fits, answer without a function call.\n\n"
         "Here is a list of functions in JSON format that you can invoke:\n" +
         python_json(functions, 4);
}

class Llama4ChatTemplate : public ChatTemplate {
 public:
  std::string render(const ChatTemplateInputs& inputs) const override {
    if (!inputs.messages.is_array()) throw TemplateError("builtin:llama4: messages must be a list");
    bool has_tools = inputs.tools.is_array() && !inputs.tools.empty();

    std::string prompt = kBeginOfText;
    size_t first = 0;
    std::string system;
    bool has_system = false;
    if (!inputs.messages.empty() && inputs.messages[0].value("role", "") == "system") {
      system = content_text(inputs.messages[0].value("content", nlohmann::ordered_json()));
      has_system = true;
      first = 1;
    }
    if (has_tools) {
      system = has_system ? system + "\n\n" + tool_instructions(inputs.tools) : tool_instructions(inputs.tools);
      has_system = true;
    }
    if (has_system) prompt += header("system") + system + kEndOfTurn;

    for (size_t i = first; i < inputs.messages.size(); ++i) {
      const nlohmann::ordered_json& message = inputs.messages[i];
      if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
        throw TemplateError("builtin:llama4: message " + std::to_string(i) + " needs a string role");
      }
      std::string role = message["role"].get<std::string>();
      if (role == "tool") role = "ipython";
      std::string content = content_text(message.value("content", nlohmann::ordered_json()));

      const nlohmann::ordered_json tool_calls = message.value("tool_calls", nlohmann::ordered_json());
      if (role == "assistant" && tool_calls.is_array() && !tool_calls.empty()) {
        std::string calls = "[";
        for (size_t k = 0; k < tool_calls.size(); ++k) {
          if (k) calls += ", ";
          calls += format_tool_call(tool_calls[k]);
        }
        prompt += header(role) + content + calls + "]" + kEndOfMessage;
        continue;
      }
      prompt += header(role) + content + kEndOfTurn;
    }
    if (inputs.add_generation_prompt) prompt += header("assistant");
    return prompt;
  }

  bool supports_tools() const override { return true; }

  std::string source() const override { return "builtin:llama4"; }
};

}  // namespace

std::unique_ptr<ChatTemplate> make_builtin_llama4_chat_template() { return std::make_unique<Llama4ChatTemplate>(); }

}  // namespace brasa
