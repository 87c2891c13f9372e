#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace brasa {

// A template failed to parse or to render (unknown filter, raise_exception, type
// error). The message names the template line.
class TemplateError : public std::runtime_error {
 public:
  explicit TemplateError(const std::string& message) : std::runtime_error(message) {}
};

// Objects keep their key order (ordered_json) because templates print tool schemas
// and arguments with tojson, and Hugging Face renders them in the client's order.
// A nlohmann::json assigned to these fields converts, but its keys are already sorted;
// parse request bodies as nlohmann::ordered_json to keep the client's order.
struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // OpenAI-style messages
  nlohmann::ordered_json tools;                                        // null when the request has none
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  nlohmann::ordered_json extra;                                        // more variables (date_string, ...)
  // The time strftime_now() formats, in the local time zone; unset means now.
  // Tests set it so that rendered dates are reproducible.
  std::optional<std::time_t> now;
};

// A checkpoint's chat template: its own Jinja template, or brasa's built-in Llama 4
// format when the checkpoint has none.
class ChatTemplate {
 public:
  virtual ~ChatTemplate() = default;

  // Renders the prompt text; throws TemplateError.
  virtual std::string render(const ChatTemplateInputs& inputs) const = 0;

  // True when the template reads the `tools` variable, so tool definitions reach
  // the model through it.
  virtual bool supports_tools() const = 0;

  virtual std::string source() const = 0;  // template text, or "builtin:llama4"
};

// Compiles a Jinja chat template; throws TemplateError on a syntax error.
std::unique_ptr<ChatTemplate> make_jinja_chat_template(const std::string& source);

// The built-in Llama 4 chat format.
std::unique_ptr<ChatTemplate> make_builtin_llama4_chat_template();

// Finds the template of a checkpoint directory (chat_template.jinja, chat_template.json,
// or chat_template in tokenizer_config.json), or of a .gguf file (tokenizer.chat_template);
// falls back to the built-in Llama 4 format. When tokenizer_config.json contains a list
// of named templates, the result renders "tool_use" for requests with tools (if the
// list has it) and "default" otherwise. Throws brasa::Error or TemplateError.
std::unique_ptr<ChatTemplate> load_chat_template(const std::string& checkpoint_path);

}  // namespace brasa
