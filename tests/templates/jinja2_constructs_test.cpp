// Renders each small template in constructs.json (one Jinja construct, filter,
// test, method or error per case) with brasa and with Python's jinja2 through
// tools/templates/render_jinja2.py, and requires the same output, or an error
// from both.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "templates/chat_template.h"
#include "templates/jinja_interpreter.h"
#include "templates/jinja2_reference.h"

namespace {

namespace fs = std::filesystem;

fs::path cases_path() { return fs::path(BRASA_SOURCE_DIR) / "tests/templates/constructs.json"; }

nlohmann::ordered_json load_cases() {
  std::ifstream in(cases_path());
  return nlohmann::ordered_json::parse(in, nullptr, false);
}

const nlohmann::json& expected_results() {
  static const nlohmann::json results =
      brasa::test::run_jinja2_reference({"--cases", cases_path().string()}, {cases_path()});
  return results;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& c : load_cases()) names.push_back(c["name"].get<std::string>());
  return names;
}

class Jinja2Construct : public ::testing::TestWithParam<std::string> {};

TEST_P(Jinja2Construct, MatchesPythonJinja2) {
  const nlohmann::json& results = expected_results();
  ASSERT_TRUE(results.is_array()) << "tools/templates/render_jinja2.py failed to run with /usr/bin/python3";
  nlohmann::ordered_json cases = load_cases();
  ASSERT_EQ(results.size(), cases.size());

  size_t index = 0;
  while (index < cases.size() && cases[index]["name"] != GetParam()) ++index;
  ASSERT_LT(index, cases.size());
  const auto& test_case = cases[index];
  const nlohmann::json& expected = results[index];
  std::string source = test_case["template"].get<std::string>();
  SCOPED_TRACE("template: " + source);

  brasa::jinja::RenderOptions options;
  options.now = brasa::test::kReferenceNow;
  brasa::jinja::Value variables = brasa::jinja::Value::from_json(test_case["variables"]);

  if (expected.contains("error")) {
    EXPECT_THROW(brasa::jinja::Template(source).render(variables, options), brasa::TemplateError)
        << "jinja2 raised " << expected["error"].get<std::string>();
    return;
  }
  try {
    brasa::jinja::Template compiled(source);
    EXPECT_EQ(compiled.render(variables, options), expected["output"].get<std::string>());
  } catch (const brasa::TemplateError& error) {
    ADD_FAILURE() << "brasa raised " << error.what() << " but jinja2 rendered "
                  << expected["output"].get<std::string>();
  }
}

INSTANTIATE_TEST_SUITE_P(Constructs, Jinja2Construct, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
