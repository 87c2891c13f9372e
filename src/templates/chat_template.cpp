#include "templates/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "templates/jinja_interpreter.h"

namespace brasa {

namespace {

// A checkpoint's own Jinja template, rendered with the variables Hugging Face
// transformers passes to apply_chat_template.
class JinjaChatTemplate : public ChatTemplate {
 public:
  explicit JinjaChatTemplate(const std::string& source) : source_(source), template_(source) {}

  std::string render(const ChatTemplateInputs& inputs) const override {
    try {
      return template_.render(make_variables(inputs), render_options(inputs));
    } catch (const std::runtime_error& error) {
      if (dynamic_cast<const TemplateError*>(&error)) throw;
      throw TemplateError(std::string("chat template inputs: ") + error.what());
    }
  }

  bool supports_tools() const override { return template_.uses_variable("tools"); }

  std::string source() const override { return source_; }

 private:
  static jinja::RenderOptions render_options(const ChatTemplateInputs& inputs) {
    jinja::RenderOptions options;
    options.now = inputs.now;
    return options;
  }

  static jinja::Value make_variables(const ChatTemplateInputs& inputs) {
    jinja::Value variables = jinja::Value::dict();
    jinja::ValueDict& dict = variables.as_dict();
    dict.set(jinja::Value("messages"), jinja::Value::from_json(inputs.messages));
    dict.set(jinja::Value("tools"), jinja::Value::from_json(inputs.tools));
    dict.set(jinja::Value("add_generation_prompt"), jinja::Value(inputs.add_generation_prompt));
    dict.set(jinja::Value("bos_token"), jinja::Value(inputs.bos_token));
    dict.set(jinja::Value("eos_token"), jinja::Value(inputs.eos_token));
    if (inputs.extra.is_object()) {
      for (auto it = inputs.extra.begin(); it != inputs.extra.end(); ++it) {
        dict.set(jinja::Value(it.key()), jinja::Value::from_json(it.value()));
      }
    }
    return variables;
  }

  std::string source_;
  jinja::Template template_;
};

// tokenizer_config.json's list form: "tool_use" renders requests that carry tools,
// "default" renders the rest.
class NamedChatTemplates : public ChatTemplate {
 public:
  NamedChatTemplates(std::unique_ptr<ChatTemplate> default_template, std::unique_ptr<ChatTemplate> tool_use)
      : default_(std::move(default_template)), tool_use_(std::move(tool_use)) {}

  std::string render(const ChatTemplateInputs& inputs) const override {
    bool has_tools = !inputs.tools.is_null() && !(inputs.tools.is_array() && inputs.tools.empty());
    return (has_tools && tool_use_ ? *tool_use_ : *default_).render(inputs);
  }

  bool supports_tools() const override {
    return (tool_use_ && tool_use_->supports_tools()) || default_->supports_tools();
  }

  std::string source() const override { return default_->source(); }

 private:
  std::unique_ptr<ChatTemplate> default_;
  std::unique_ptr<ChatTemplate> tool_use_;
};

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read chat template file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::ordered_json read_json_file(const std::filesystem::path& path) {
  try {
    return nlohmann::ordered_json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& error) {
    throw Error("invalid JSON in " + path.string() + ": " + error.what());
  }
}

std::unique_ptr<ChatTemplate> compile(const std::string& source, const std::string& origin) {
  try {
    return make_jinja_chat_template(source);
  } catch (const TemplateError& error) {
    throw TemplateError("chat template from " + origin + ": " + error.what());
  }
}

// The "chat_template" field of tokenizer_config.json or chat_template.json: a
// string, or a list of {"name": ..., "template": ...}.
std::unique_ptr<ChatTemplate> template_from_field(const nlohmann::ordered_json& field, const std::string& origin) {
  if (field.is_string()) return compile(field.get<std::string>(), origin);
  if (!field.is_array()) throw Error(origin + ": chat_template must be a string or a list of {name, template}");

  std::unique_ptr<ChatTemplate> default_template, tool_use;
  for (const auto& entry : field) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
        !entry["name"].is_string() || !entry["template"].is_string()) {
      throw Error(origin + ": each chat_template list entry needs string fields name and template");
    }
    std::string name = entry["name"].get<std::string>();
    if (name == "default") default_template = compile(entry["template"].get<std::string>(), origin + " (default)");
    if (name == "tool_use") tool_use = compile(entry["template"].get<std::string>(), origin + " (tool_use)");
  }
  if (!default_template) {
    if (!tool_use) throw Error(origin + ": the chat_template list has neither a \"default\" nor a \"tool_use\" entry");
    return tool_use;
  }
  if (!tool_use) return default_template;
  return std::make_unique<NamedChatTemplates>(std::move(default_template), std::move(tool_use));
}

}  // namespace

std::unique_ptr<ChatTemplate> make_jinja_chat_template(const std::string& source) {
  return std::make_unique<JinjaChatTemplate>(source);
}

std::unique_ptr<ChatTemplate> load_chat_template(const std::string& checkpoint_path) {
  namespace fs = std::filesystem;
  fs::path path(checkpoint_path);
  std::error_code ec;

  if (fs::is_regular_file(path, ec)) {
    if (path.extension() == ".gguf") {
      GgufFile gguf(checkpoint_path);
      const GgufValue* value = gguf.find("tokenizer.chat_template");
      if (!value) return make_builtin_llama4_chat_template();
      if (value->type != GgufValueType::STRING) {
        throw Error(checkpoint_path + ": tokenizer.chat_template must be a string, not " +
                    gguf_value_type_name(value->type));
      }
      return compile(value->string, checkpoint_path);
    }
    if (path.extension() == ".jinja") return compile(read_text_file(path), checkpoint_path);
    throw Error("cannot find a chat template in " + checkpoint_path +
                ": expected a checkpoint directory, a .gguf file or a .jinja file");
  }
  if (!fs::is_directory(path, ec)) throw Error("checkpoint path not found: " + checkpoint_path);

  fs::path jinja_file = path / "chat_template.jinja";
  if (fs::is_regular_file(jinja_file, ec)) return compile(read_text_file(jinja_file), jinja_file.string());

  fs::path json_file = path / "chat_template.json";
  if (fs::is_regular_file(json_file, ec)) {
    nlohmann::ordered_json json = read_json_file(json_file);
    if (!json.is_object() || !json.contains("chat_template")) {
      throw Error(json_file.string() + ": expected an object with a chat_template field");
    }
    return template_from_field(json["chat_template"], json_file.string());
  }

  fs::path config_file = path / "tokenizer_config.json";
  if (fs::is_regular_file(config_file, ec)) {
    nlohmann::ordered_json config = read_json_file(config_file);
    if (config.is_object() && config.contains("chat_template") && !config["chat_template"].is_null()) {
      return template_from_field(config["chat_template"], config_file.string());
    }
  }
  return make_builtin_llama4_chat_template();
}

}  // namespace brasa
