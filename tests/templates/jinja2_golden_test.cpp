// Renders every chat template under testdata/templates with brasa and with
// Python's jinja2 (tools/templates/render_jinja2.py, configured the way Hugging
// Face transformers configures it) for the conversations in conversations.json,
// and requires byte-identical output, or an error from both.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "templates/chat_template.h"
#include "templates/jinja2_reference.h"

namespace {

namespace fs = std::filesystem;

fs::path conversations_path() { return fs::path(BRASA_SOURCE_DIR) / "tests/templates/conversations.json"; }

std::vector<std::string> template_paths() {
  std::vector<std::string> paths;
  for (const char* folder : {"llama.cpp", "vllm", "chat_templates"}) {
    fs::path dir = fs::path(BRASA_SHARED_DIR) / "testdata/templates" / folder;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".jinja") paths.push_back(entry.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

const nlohmann::json& expected_results() {
  static const nlohmann::json results = [] {
    std::vector<std::string> arguments = {"--conversations", conversations_path().string()};
    std::vector<fs::path> inputs = {conversations_path()};
    for (const std::string& path : template_paths()) {
      arguments.push_back(path);
      inputs.push_back(path);
    }
    return brasa::test::run_jinja2_reference(arguments, inputs);
  }();
  return results;
}

brasa::ChatTemplateInputs inputs_for(const nlohmann::ordered_json& conversation) {
  brasa::ChatTemplateInputs inputs;
  inputs.messages = conversation.value("messages", nlohmann::ordered_json::array());
  inputs.tools = conversation.value("tools", nlohmann::ordered_json());
  inputs.add_generation_prompt = conversation.value("add_generation_prompt", true);
  inputs.bos_token = conversation.value("bos_token", "");
  inputs.eos_token = conversation.value("eos_token", "");
  inputs.extra = conversation.value("extra", nlohmann::ordered_json::object());
  inputs.now = brasa::test::kReferenceNow;
  return inputs;
}

// Where two texts first differ, with some context, for a readable failure.
std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  expected: ..." + expected.substr(from, 100) +
         "\n  actual:   ..." + actual.substr(from, 100);
}

class Jinja2Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Jinja2Golden, MatchesPythonJinja2) {
  const nlohmann::json& results = expected_results();
  ASSERT_TRUE(results.is_object()) << "tools/templates/render_jinja2.py failed to run with /usr/bin/python3";
  const std::string& path = GetParam();
  ASSERT_TRUE(results.contains(path)) << path;
  nlohmann::ordered_json conversations = nlohmann::ordered_json::parse(brasa::test::read_text(conversations_path()));
  const nlohmann::json& expected = results[path];
  ASSERT_EQ(expected.size(), conversations.size());

  std::unique_ptr<brasa::ChatTemplate> chat_template;
  ASSERT_NO_THROW(chat_template = brasa::make_jinja_chat_template(brasa::test::read_text(path)));
  for (size_t i = 0; i < conversations.size(); ++i) {
    std::string name = conversations[i].value("name", std::to_string(i));
    brasa::ChatTemplateInputs inputs = inputs_for(conversations[i]);
    if (expected[i].contains("error")) {
      EXPECT_THROW(chat_template->render(inputs), brasa::TemplateError)
          << name << ": jinja2 raised " << expected[i]["error"].get<std::string>();
      continue;
    }
    std::string want = expected[i]["output"].get<std::string>();
    try {
      std::string got = chat_template->render(inputs);
      EXPECT_EQ(got, want) << name << ": " << first_difference(want, got);
    } catch (const brasa::TemplateError& error) {
      ADD_FAILURE() << name << ": brasa raised " << error.what() << " but jinja2 rendered";
    }
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).parent_path().filename().string() + "_" + fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Templates, Jinja2Golden, ::testing::ValuesIn(template_paths()), test_name);

}  // namespace
