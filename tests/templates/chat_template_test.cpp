// The built-in Llama 4 format, load_chat_template, error messages and the limits
// against runaway templates.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_work_dir.h"
#include "core/error.h"
#include "templates/chat_template.h"
#include "templates/jinja_interpreter.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

fs::path shared_dir() { return fs::path(BRASA_SHARED_DIR); }

// A fresh, empty folder under the test work directory.
fs::path work_dir(const std::string& name) {
  fs::path dir = fs::path(::brasa::test::work_dir()) / "templates" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

brasa::ChatTemplateInputs conversation(const std::string& messages_json) {
  brasa::ChatTemplateInputs inputs;
  inputs.messages = ordered_json::parse(messages_json);
  return inputs;
}

// The first fenced block after `heading` in llama-models' Llama 4 prompt_format.md.
std::string prompt_format_example(const std::string& heading) {
  std::string doc = read_file(shared_dir() / "testdata/llama-models/llama4/prompt_format.md");
  size_t at = doc.find(heading);
  if (at == std::string::npos) return "";
  size_t open = doc.find("```\n", at);
  size_t close = doc.find("\n```", open + 4);
  if (open == std::string::npos || close == std::string::npos) return "";
  return doc.substr(open + 4, close - open - 4);
}

const char* const kTools = R"([{"type": "function", "function": {"name": "get_weather",
  "description": "Get weather info for places",
  "parameters": {"type": "dict", "required": ["city"],
                 "properties": {"city": {"type": "string", "description": "The city"}}}}}])";

// ---- Built-in Llama 4 format ----

TEST(BuiltinLlama4, MatchesPromptFormatExample) {
  std::string example = prompt_format_example("## Simple User and assistant conversation");
  ASSERT_FALSE(example.empty());
  auto chat_template = brasa::make_builtin_llama4_chat_template();
  std::string rendered = chat_template->render(conversation(R"([
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Answer who are you in the form of jeopardy?"}])"));
  EXPECT_EQ(rendered, example);
}

TEST(BuiltinLlama4, MatchesVllmTemplateWithoutTools) {
  // vLLM's Llama 4 template renders plain conversations the same way.
  auto vllm = brasa::make_jinja_chat_template(
      read_file(shared_dir() / "testdata/templates/vllm/tool_chat_template_llama4_pythonic.jinja"));
  auto builtin = brasa::make_builtin_llama4_chat_template();
  for (const char* messages : {
           R"([{"role": "user", "content": "Hi"}])",
           R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])",
           R"([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
               {"role": "user", "content": "3+3?"}])",
       }) {
    for (bool generation_prompt : {true, false}) {
      brasa::ChatTemplateInputs inputs = conversation(messages);
      inputs.add_generation_prompt = generation_prompt;
      inputs.bos_token = "<|begin_of_text|>";
      EXPECT_EQ(builtin->render(inputs), vllm->render(inputs)) << messages;
    }
  }
}

TEST(BuiltinLlama4, RendersToolsInSystemMessage) {
  auto chat_template = brasa::make_builtin_llama4_chat_template();
  brasa::ChatTemplateInputs inputs = conversation(R"([{"role": "user", "content": "Weather in SF?"}])");
  inputs.tools = ordered_json::parse(kTools);
  std::string rendered = chat_template->render(inputs);

  EXPECT_EQ(rendered.rfind("<|begin_of_text|><|header_start|>system<|header_end|>\n\n", 0), 0u) << rendered;
  // The function list is json.dumps(indent=4) of the function objects, as in the
  // documented zero-shot example.
  std::string functions = R"([
    {
        "name": "get_weather",
        "description": "Get weather info for places",
        "parameters": {
            "type": "dict",
            "required": [
                "city"
            ],
            "properties": {
                "city": {
                    "type": "string",
                    "description": "The city"
                }
            }
        }
    }
]<|eot|>)";
  EXPECT_NE(rendered.find("Here is a list of functions in JSON format that you can invoke:\n" + functions),
            std::string::npos)
      << rendered;
  EXPECT_NE(rendered.find("[func_name1(param1=value1, param2=value2), func_name2(...)]"), std::string::npos);
  std::string tail = "<|header_start|>user<|header_end|>\n\nWeather in SF?<|eot|><|header_start|>assistant<|header_end|>\n\n";
  EXPECT_EQ(rendered.substr(rendered.size() - tail.size()), tail);
  EXPECT_TRUE(chat_template->supports_tools());
  EXPECT_EQ(chat_template->source(), "builtin:llama4");
}

TEST(BuiltinLlama4, RendersToolCallsAndResults) {
  auto chat_template = brasa::make_builtin_llama4_chat_template();
  brasa::ChatTemplateInputs inputs = conversation(R"([
    {"role": "user", "content": "Weather in SF and Seattle?"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"San Francisco\"}"}},
      {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Seattle", "days": 2}}}]},
    {"role": "tool", "content": "sunny"}])");
  inputs.add_generation_prompt = true;
  EXPECT_EQ(chat_template->render(inputs),
            "<|begin_of_text|><|header_start|>user<|header_end|>\n\nWeather in SF and Seattle?<|eot|>"
            "<|header_start|>assistant<|header_end|>\n\n"
            "[get_weather(city=\"San Francisco\"), get_weather(city=\"Seattle\", days=2)]<|eom|>"
            "<|header_start|>ipython<|header_end|>\n\nsunny<|eot|>"
            "<|header_start|>assistant<|header_end|>\n\n");
}

TEST(BuiltinLlama4, RendersContentParts) {
  auto chat_template = brasa::make_builtin_llama4_chat_template();
  brasa::ChatTemplateInputs inputs = conversation(R"([{"role": "user", "content": [
    {"type": "image"}, {"type": "text", "text": "Describe this image"}]}])");
  inputs.add_generation_prompt = false;
  EXPECT_EQ(chat_template->render(inputs),
            "<|begin_of_text|><|header_start|>user<|header_end|>\n\n<|image|>Describe this image<|eot|>");
}

TEST(BuiltinLlama4, RejectsMalformedMessages) {
  auto chat_template = brasa::make_builtin_llama4_chat_template();
  EXPECT_THROW(chat_template->render(conversation(R"([{"content": "no role"}])")), brasa::TemplateError);
  EXPECT_THROW(chat_template->render(conversation(R"([{"role": "user", "content": 5}])")), brasa::TemplateError);
  EXPECT_THROW(chat_template->render(conversation(R"([{"role": "assistant", "tool_calls": [
    {"function": {"name": "f", "arguments": "{not json"}}]}])")),
               brasa::TemplateError);
}

// ---- load_chat_template ----

TEST(LoadChatTemplate, ReadsChatTemplateJinja) {
  fs::path dir = work_dir("jinja_file");
  write_file(dir / "chat_template.jinja", "{% for m in messages %}[{{ m.content }}]{% endfor %}\n");
  write_file(dir / "tokenizer_config.json", R"({"chat_template": "ignored"})");
  auto chat_template = brasa::load_chat_template(dir.string());
  EXPECT_EQ(chat_template->render(conversation(R"([{"role": "user", "content": "a"}])")), "[a]");
}

TEST(LoadChatTemplate, ReadsChatTemplateJson) {
  fs::path dir = work_dir("json_file");
  write_file(dir / "chat_template.json", R"({"chat_template": "json:{{ messages[0].content }}"})");
  auto chat_template = brasa::load_chat_template(dir.string());
  EXPECT_EQ(chat_template->render(conversation(R"([{"role": "user", "content": "a"}])")), "json:a");
}

TEST(LoadChatTemplate, ReadsTokenizerConfigString) {
  fs::path dir = work_dir("config_string");
  write_file(dir / "tokenizer_config.json", R"({"bos_token": "<s>", "chat_template": "{{ bos_token }}cfg"})");
  auto chat_template = brasa::load_chat_template(dir.string());
  brasa::ChatTemplateInputs inputs;
  inputs.bos_token = "<s>";
  EXPECT_EQ(chat_template->render(inputs), "<s>cfg");
}

TEST(LoadChatTemplate, PicksToolUseTemplateForTools) {
  fs::path dir = work_dir("config_list");
  write_file(dir / "tokenizer_config.json", R"({"chat_template": [
    {"name": "default", "template": "default"},
    {"name": "tool_use", "template": "tools:{{ tools|length }}"},
    {"name": "rag", "template": "rag"}]})");
  auto chat_template = brasa::load_chat_template(dir.string());
  brasa::ChatTemplateInputs inputs;
  EXPECT_EQ(chat_template->render(inputs), "default");
  inputs.tools = ordered_json::parse(kTools);
  EXPECT_EQ(chat_template->render(inputs), "tools:1");
  EXPECT_TRUE(chat_template->supports_tools());
}

TEST(LoadChatTemplate, FallsBackToBuiltinLlama4) {
  fs::path dir = work_dir("no_template");
  write_file(dir / "tokenizer_config.json", R"({"bos_token": "<|begin_of_text|>"})");
  EXPECT_EQ(brasa::load_chat_template(dir.string())->source(), "builtin:llama4");
  EXPECT_EQ(brasa::load_chat_template(work_dir("empty").string())->source(), "builtin:llama4");
}

TEST(LoadChatTemplate, ReportsBadFiles) {
  EXPECT_THROW(brasa::load_chat_template((fs::path(::brasa::test::work_dir()) / "does/not/exist").string()), brasa::Error);

  fs::path bad_json = work_dir("bad_json");
  write_file(bad_json / "tokenizer_config.json", "{not json");
  EXPECT_THROW(brasa::load_chat_template(bad_json.string()), brasa::Error);

  fs::path bad_list = work_dir("bad_list");
  write_file(bad_list / "tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "x"}]})");
  EXPECT_THROW(brasa::load_chat_template(bad_list.string()), brasa::Error);

  fs::path bad_syntax = work_dir("bad_syntax");
  write_file(bad_syntax / "chat_template.jinja", "ok\n{% if %}");
  try {
    brasa::load_chat_template(bad_syntax.string());
    ADD_FAILURE() << "a syntax error loaded";
  } catch (const brasa::TemplateError& error) {
    EXPECT_NE(std::string(error.what()).find("chat_template.jinja"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("line 2"), std::string::npos) << error.what();
  }
}

// Writes a GGUF v3 file with string metadata and no tensors.
void write_gguf(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string bytes = "GGUF";
  auto put = [&](uint64_t value, int size) {
    for (int i = 0; i < size; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xff);
  };
  put(3, 4);
  put(0, 8);
  put(metadata.size(), 8);
  for (const auto& [key, value] : metadata) {
    put(key.size(), 8);
    bytes += key;
    put(8, 4);  // STRING
    put(value.size(), 8);
    bytes += value;
  }
  while (bytes.size() % 32) bytes += '\0';
  write_file(path, bytes);
}

TEST(LoadChatTemplate, ReadsGgufMetadata) {
  fs::path dir = work_dir("gguf");
  write_gguf(dir / "with_template.gguf", {{"general.architecture", "llama"}, {"tokenizer.chat_template", "gguf:{{ messages|length }}"}});
  EXPECT_EQ(brasa::load_chat_template((dir / "with_template.gguf").string())->render(conversation(R"([{"role": "user", "content": "a"}])")),
            "gguf:1");

  // stories260K.gguf carries no chat template.
  EXPECT_EQ(brasa::load_chat_template((shared_dir() / "testdata/models/stories260K.gguf").string())->source(),
            "builtin:llama4");

  write_file(dir / "truncated.gguf", "GGUF\x03");
  EXPECT_THROW(brasa::load_chat_template((dir / "truncated.gguf").string()), brasa::Error);
}

// ---- Errors and limits ----

std::string render_error(const std::string& source, const brasa::jinja::RenderOptions& options = {}) {
  try {
    brasa::jinja::Template(source).render(brasa::jinja::Value::dict(), options);
  } catch (const brasa::TemplateError& error) {
    return error.what();
  }
  return "";
}

TEST(TemplateErrors, NameTheLine) {
  EXPECT_EQ(render_error("a\nb\n{{ 1 + }}"), "template line 3: unexpected end of print statement")
      << "syntax error";
  EXPECT_NE(render_error("\n{{ x|no_such }}").find("template line 2: No filter named 'no_such'."), std::string::npos);
  EXPECT_NE(render_error("\n\n{{ raise_exception('Only user and assistant roles') }}")
                .find("template line 3: Only user and assistant roles"),
            std::string::npos);
  EXPECT_NE(render_error("{% for x in 5 %}{% endfor %}").find("template line 1: 'int' object is not iterable"),
            std::string::npos);
  EXPECT_NE(render_error("{{ 'a' < 1 }}").find("not supported between instances of 'str' and 'int'"), std::string::npos);
}

TEST(TemplateLimits, StopsRunawayLoops) {
  brasa::jinja::RenderOptions options;
  options.limits.max_loop_iterations = 1000;
  std::string error = render_error("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", options);
  EXPECT_NE(error.find("loop iterations exceed the limit of 1000"), std::string::npos) << error;
}

TEST(TemplateLimits, StopsRunawayRecursion) {
  std::string error = render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(error.find("nest deeper than the limit of 256"), std::string::npos) << error;
}

TEST(TemplateLimits, StopsOutputGrowth) {
  brasa::jinja::RenderOptions options;
  options.limits.max_output_bytes = 1000;
  std::string error = render_error("{% for i in range(1000) %}0123456789{% endfor %}", options);
  EXPECT_NE(error.find("rendered output exceeds the limit of 1000 bytes"), std::string::npos) << error;
}

TEST(TemplateLimits, StopsStringDoubling) {
  std::string error = render_error(
      "{% set ns = namespace(s='0123456789abcdef') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
  EXPECT_NE(error.find("string length in bytes exceeds the limit"), std::string::npos) << error;
}

TEST(TemplateLimits, RejectsDeepNesting) {
  std::string error = render_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}");
  EXPECT_NE(error.find("nesting exceeds the limit"), std::string::npos) << error;
  std::string blocks;
  for (int i = 0; i < 2000; ++i) blocks += "{% if true %}";
  EXPECT_NE(render_error(blocks).find("nesting exceeds the limit"), std::string::npos);
}

TEST(TemplateLimits, RejectsSelfContainingNamespace) {
  // jinja2 prints a recursive repr here; brasa stops with an error instead of recursing forever.
  std::string error = render_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}");
  EXPECT_NE(error.find("nests deeper than 512 levels"), std::string::npos) << error;
}

TEST(TemplateLimits, RejectsDeepJsonInput) {
  auto chat_template = brasa::make_jinja_chat_template("{{ messages|length }}");
  brasa::ChatTemplateInputs inputs;
  ordered_json nested = ordered_json::array();
  for (int i = 0; i < 2000; ++i) nested = ordered_json::array({nested});
  inputs.messages = nested;
  EXPECT_THROW(chat_template->render(inputs), brasa::TemplateError);
}

// Every prefix of a real template must either fail with TemplateError or render;
// nothing may crash or hang.
TEST(TemplateRobustness, TruncatedTemplatesFailCleanly) {
  brasa::ChatTemplateInputs inputs = conversation(R"([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])");
  for (const char* name : {"llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja", "llama.cpp/openai-gpt-oss-120b.jinja",
                           "vllm/tool_chat_template_llama4_pythonic.jinja"}) {
    std::string source = read_file(shared_dir() / "testdata/templates" / name);
    ASSERT_FALSE(source.empty()) << name;
    for (size_t length = 0; length < source.size(); length += 13) {
      try {
        brasa::make_jinja_chat_template(source.substr(0, length))->render(inputs);
      } catch (const brasa::TemplateError&) {
      }
    }
  }
}

TEST(ChatTemplate, SupportsToolsWhenTemplateReadsTools) {
  EXPECT_TRUE(brasa::make_jinja_chat_template(
                  read_file(shared_dir() / "testdata/templates/llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja"))
                  ->supports_tools());
  EXPECT_FALSE(brasa::make_jinja_chat_template(
                   read_file(shared_dir() / "testdata/templates/llama.cpp/google-gemma-2-2b-it.jinja"))
                   ->supports_tools());
}

}  // namespace
