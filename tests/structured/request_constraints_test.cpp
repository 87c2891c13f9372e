#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "structured/grammar_matcher.h"
#include "structured/json_schema_grammar.h"
#include "structured/request_constraints.h"
#include "structured/tool_call_parser.h"
#include "structured/tool_prompt.h"

namespace brasa {
namespace {

using nlohmann::json;

constexpr int32_t kEos = 0;

// A small vocabulary: EOS, every printable ASCII byte, and some multi-byte
// tokens that cross JSON syntax boundaries.
std::shared_ptr<const VocabularyIndex> small_vocabulary() {
  std::vector<std::string> tokens = {"<eos>"};
  std::vector<bool> special = {true};
  for (int c = 0x20; c < 0x7F; ++c) {
    tokens.emplace_back(1, static_cast<char>(c));
    special.push_back(false);
  }
  for (const char* piece : {"{\"", "\":", "\",\"", "\"}", "true", "null", "name", "parameters", "12", "é", "\xC3"}) {
    tokens.emplace_back(piece);
    special.push_back(false);
  }
  return std::make_shared<const VocabularyIndex>(tokens, special, std::vector<int32_t>{kEos});
}

StructuredOutputPlan plan(const std::string& fields) {
  json body = json::parse(fields);
  StructuredOutputRequest request;
  request.response_format = body.value("response_format", json());
  request.tools = body.value("tools", json());
  request.tool_choice = body.value("tool_choice", json());
  request.parallel_tool_calls = body.value("parallel_tool_calls", json());
  return plan_structured_output(request, small_vocabulary());
}

// Greedy decoding that takes the lowest allowed id each step, which favours
// EOS and then single bytes.
std::string decode_first_allowed(TokenConstraint& constraint, const VocabularyIndex& vocabulary, int max_tokens) {
  std::string text;
  for (int step = 0; step < max_tokens && !constraint.is_complete(); ++step) {
    std::vector<uint8_t> allowed(vocabulary.vocab_size(), 1);
    constraint.mask(allowed);
    int32_t token = -1;
    for (int32_t id = 0; id < vocabulary.vocab_size() && token < 0; ++id) {
      if (allowed[id]) token = id;
    }
    if (token < 0 || token == kEos) break;
    text += vocabulary.token_bytes(token);
    constraint.accept(token);
  }
  return text;
}

const char* kWeatherTool = R"({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
  "properties": {"city": {"type": "string", "maxLength": 3}}, "required": ["city"]}}})";
const char* kTimeTool = R"({"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
  "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": false}}})";

TEST(RequestConstraints, BadFieldsAreNamed) {
  struct Case {
    std::string fields;
    std::string param;
  };
  std::string tools = std::string("[") + kWeatherTool + "," + kTimeTool + "]";
  const Case cases[] = {
      {R"({"tools": [{"type": "function", "function": {"description": "no name"}}]})", "tools[0].function.name"},
      {R"({"tools": [{"type": "function", "function": {"name": "bad name!"}}]})", "tools[0].function.name"},
      {R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": [1]}}]})", "tools[0].function.parameters"},
      {R"({"tools": [{"type": "retrieval"}]})", "tools[0].type"},
      {R"({"tools": {"name": "f"}})", "tools"},
      {"{\"tools\": " + tools + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}}", "tool_choice"},
      {"{\"tools\": " + tools + ", \"tool_choice\": \"sometimes\"}", "tool_choice"},
      {R"({"tool_choice": "required"})", "tool_choice"},
      {"{\"tools\": " + tools + ", \"parallel_tool_calls\": \"yes\"}", "parallel_tool_calls"},
      {"{\"tools\": [" + std::string(kWeatherTool) + "," + kWeatherTool + "]}", "tools[1].function.name"},
      {R"({"response_format": {"type": "xml"}})", "response_format.type"},
      {R"({"response_format": {"type": "json_schema"}})", "response_format.json_schema"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": "string"}}})",
       "response_format.json_schema.schema"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "a+"}}}})",
       "response_format.json_schema.schema.pattern"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"properties": {"a": {"type": "int"}}}}}})",
       "response_format.json_schema.schema.properties.a.type"},
      {R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
         "properties": {"q": {"type": "string", "pattern": "x"}}}}}], "tool_choice": "required"})",
       "tools[0].function.parameters.properties.q.pattern"},
      // Cycles with no branch that ends admit no finite document.
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#"}}}})",
       "response_format.json_schema.schema"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/a",
         "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}}}})",
       "response_format.json_schema.schema"},
  };
  for (const Case& c : cases) {
    StructuredOutputPlan result = plan(c.fields);
    ASSERT_TRUE(result.error.has_value()) << c.fields;
    EXPECT_EQ(result.error->param, c.param) << c.fields << ": " << result.error->message;
    EXPECT_FALSE(result.error->message.empty());
    EXPECT_EQ(result.constraint, nullptr);
  }
}

TEST(RequestConstraints, NoFieldsNoConstraint) {
  StructuredOutputPlan result = plan("{}");
  EXPECT_FALSE(result.error.has_value());
  EXPECT_EQ(result.constraint, nullptr);
  EXPECT_FALSE(result.expect_tool_calls);
  EXPECT_TRUE(result.tools.empty());

  StructuredOutputPlan text = plan(R"({"response_format": {"type": "text"}})");
  EXPECT_FALSE(text.error.has_value());
  EXPECT_EQ(text.constraint, nullptr);
}

TEST(RequestConstraints, AutoAndNoneToolChoice) {
  std::string tools = std::string("[") + kWeatherTool + "," + kTimeTool + "]";
  StructuredOutputPlan automatic = plan("{\"tools\": " + tools + "}");
  EXPECT_FALSE(automatic.error.has_value());
  EXPECT_NE(automatic.constraint, nullptr);  // lazy: see AutoConstrainsACallOnceStarted
  EXPECT_TRUE(automatic.expect_tool_calls);
  EXPECT_EQ(automatic.tools.size(), 2u);

  StructuredOutputPlan none = plan("{\"tools\": " + tools + ", \"tool_choice\": \"none\"}");
  EXPECT_FALSE(none.error.has_value());
  EXPECT_FALSE(none.expect_tool_calls);
  EXPECT_TRUE(none.tools.empty());
}

// Under "auto" only calls the constraint enforced may become tool_calls: of
// listed tools, in a form whose grammar compiled. Other choices allow any call.
TEST(RequestConstraints, AutoPolicyNamesEnforcedCalls) {
  std::string tools = std::string("[") + kWeatherTool + "," + kTimeTool + "]";
  StructuredOutputPlan automatic = plan("{\"tools\": " + tools + "}");
  EXPECT_EQ(automatic.tool_call_policy.tool_names, (std::vector<std::string>{"get_weather", "get_time"}));
  EXPECT_TRUE(automatic.tool_call_policy.json_form);
  EXPECT_TRUE(automatic.tool_call_policy.pythonic_form);

  // A required property that is no Python identifier cannot be written as a keyword.
  StructuredOutputPlan spaced = plan(R"({"tools": [{"type": "function", "function": {"name": "f", "parameters":
      {"type": "object", "properties": {"first name": {"type": "string"}}, "required": ["first name"]}}}]})");
  ASSERT_FALSE(spaced.error.has_value());
  EXPECT_NE(spaced.constraint, nullptr);
  EXPECT_TRUE(spaced.tool_call_policy.json_form);
  EXPECT_FALSE(spaced.tool_call_policy.pythonic_form);
  EXPECT_TRUE(parse_tool_calls("[f(x=1)]", spaced.tool_call_policy).tool_calls.empty());

  StructuredOutputPlan required = plan("{\"tools\": " + tools + ", \"tool_choice\": \"required\"}");
  EXPECT_TRUE(required.tool_call_policy.tool_names.empty());
  EXPECT_TRUE(required.tool_call_policy.pythonic_form);
}

// With a response_format under "auto", the output follows the format's schema,
// so a document that looks like a call stays content.
TEST(RequestConstraints, AutoWithResponseFormatReadsNoCalls) {
  std::string tools = std::string("[") + kWeatherTool + "]";
  StructuredOutputPlan formatted = plan("{\"tools\": " + tools + R"(, "response_format": {"type": "json_object"}})");
  ASSERT_FALSE(formatted.error.has_value());
  EXPECT_FALSE(formatted.tool_call_policy.json_form);
  EXPECT_FALSE(formatted.tool_call_policy.pythonic_form);

  const std::string text = R"({"name": "get_weather", "parameters": {"city": 5}})";
  const ParsedToolOutput parsed = parse_tool_calls(text, formatted.tool_call_policy);
  EXPECT_TRUE(parsed.tool_calls.empty());
  EXPECT_EQ(parsed.content, text);
}

TEST(RequestConstraints, AutoConstrainsACallOnceStarted) {
  std::string tools = std::string("[") + kWeatherTool + "," + kTimeTool + "]";
  auto vocabulary = small_vocabulary();
  auto byte_token = [](char c) { return 1 + (c - 0x20); };

  // Before the first visible character, text (the pythonic '[' form included)
  // and a call opening the tool grammar accepts are allowed.
  StructuredOutputPlan result = plan("{\"tools\": " + tools + "}");
  ASSERT_NE(result.constraint, nullptr);
  std::vector<uint8_t> allowed(vocabulary->vocab_size(), 1);
  result.constraint->mask(allowed);
  EXPECT_EQ(allowed[byte_token('H')], 1);
  EXPECT_EQ(allowed[byte_token(' ')], 1);
  EXPECT_EQ(allowed[kEos], 1);
  EXPECT_EQ(allowed[byte_token('{')], 1);
  EXPECT_EQ(allowed[byte_token('[')], 1);
  EXPECT_EQ(allowed[1 + 0x7F - 0x20], 1);  // the token "{\"" opens a call the grammar accepts
  EXPECT_EQ(allowed[vocabulary->vocab_size() - 2], 1);  // "é" is text

  // Plain text: nothing is constrained afterwards, '{' included.
  std::unique_ptr<TokenConstraint> text = result.constraint->clone_initial();
  text->accept(byte_token(' '));
  text->accept(byte_token('H'));
  allowed.assign(vocabulary->vocab_size(), 1);
  text->mask(allowed);
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), uint8_t(1)), vocabulary->vocab_size());
  EXPECT_FALSE(text->is_complete());

  // A call: after '{' the arguments follow the tool's schema to the end.
  std::unique_ptr<TokenConstraint> call = result.constraint->clone_initial();
  call->accept(byte_token('{'));
  allowed.assign(vocabulary->vocab_size(), 1);
  call->mask(allowed);
  EXPECT_EQ(allowed[byte_token('"')], 1);
  EXPECT_EQ(allowed[byte_token('H')], 0);
  EXPECT_EQ(allowed[kEos], 0);
  std::string rest = decode_first_allowed(*call, *vocabulary, 300);
  ParsedToolOutput parsed = parse_tool_calls("{" + rest);
  ASSERT_EQ(parsed.tool_calls.size(), 1u) << "{" << rest;
  EXPECT_TRUE(parsed.tool_calls[0].name == "get_weather" || parsed.tool_calls[0].name == "get_time");
  // Parallel calls are allowed by default, so the output may end or go on with ';'.
  allowed.assign(vocabulary->vocab_size(), 1);
  call->mask(allowed);
  EXPECT_EQ(allowed[kEos], 1);
  EXPECT_EQ(allowed[byte_token(';')], 1);
  EXPECT_EQ(allowed[byte_token('H')], 0);
}

TEST(RequestConstraints, JsonObjectForcesAnObject) {
  StructuredOutputPlan result = plan(R"({"response_format": {"type": "json_object"}})");
  ASSERT_NE(result.constraint, nullptr);
  auto vocabulary = small_vocabulary();
  std::vector<uint8_t> allowed(vocabulary->vocab_size(), 1);
  result.constraint->mask(allowed);
  for (int32_t id = 0; id < vocabulary->vocab_size(); ++id) {
    bool expected = !vocabulary->token_bytes(id).empty() && vocabulary->token_bytes(id)[0] == '{';
    EXPECT_EQ(allowed[id] != 0, expected) << "token " << id << " " << vocabulary->token_bytes(id);
  }

  auto byte_token = [](char c) { return 1 + (c - 0x20); };
  result.constraint->accept(byte_token('{'));
  allowed.assign(vocabulary->vocab_size(), 1);
  result.constraint->mask(allowed);
  EXPECT_EQ(allowed[byte_token('}')], 1);
  EXPECT_EQ(allowed[byte_token('"')], 1);
  EXPECT_EQ(allowed[byte_token('a')], 0);
  EXPECT_EQ(allowed[byte_token(' ')], 0);
  EXPECT_EQ(allowed[kEos], 0);
  result.constraint->accept(byte_token('}'));
  EXPECT_TRUE(result.constraint->is_complete());
}

TEST(RequestConstraints, NamedToolForcesThatCall) {
  std::string tools = std::string("[") + kWeatherTool + "," + kTimeTool + "]";
  StructuredOutputPlan result =
      plan("{\"tools\": " + tools + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}}");
  ASSERT_FALSE(result.error.has_value()) << result.error->message;
  ASSERT_NE(result.constraint, nullptr);
  EXPECT_TRUE(result.expect_tool_calls);
  ASSERT_EQ(result.tools.size(), 1u);
  EXPECT_EQ(result.tools[0]["function"]["name"], "get_time");

  auto vocabulary = small_vocabulary();
  std::string text = decode_first_allowed(*result.constraint, *vocabulary, 200);
  ParsedToolOutput parsed = parse_tool_calls(text);
  ASSERT_EQ(parsed.tool_calls.size(), 1u) << text;
  EXPECT_EQ(parsed.tool_calls[0].name, "get_time");
  EXPECT_EQ(json::parse(parsed.tool_calls[0].arguments), json({{"zone", "CET"}}));

  // Another choice of the same request starts from scratch.
  std::unique_ptr<TokenConstraint> second = result.constraint->clone_initial();
  EXPECT_EQ(decode_first_allowed(*second, *vocabulary, 200), text);
}

TEST(RequestConstraints, RequiredAllowsAnyListedTool) {
  std::string tools = std::string("[") + kWeatherTool + "," + kTimeTool + "]";
  StructuredOutputPlan result = plan("{\"tools\": " + tools + ", \"tool_choice\": \"required\", \"parallel_tool_calls\": false}");
  ASSERT_NE(result.constraint, nullptr);
  auto vocabulary = small_vocabulary();
  std::string text = decode_first_allowed(*result.constraint, *vocabulary, 200);
  ParsedToolOutput parsed = parse_tool_calls(text);
  ASSERT_EQ(parsed.tool_calls.size(), 1u) << text;
  EXPECT_TRUE(parsed.tool_calls[0].name == "get_weather" || parsed.tool_calls[0].name == "get_time");
}

TEST(RequestConstraints, EosOnlyWhenComplete) {
  StructuredOutputPlan result = plan(R"({"response_format": {"type": "json_schema", "json_schema": {"name": "n",
    "schema": {"type": "integer", "minimum": 1, "maximum": 125}}}})");
  ASSERT_NE(result.constraint, nullptr);
  auto vocabulary = small_vocabulary();
  std::vector<uint8_t> allowed(vocabulary->vocab_size(), 1);
  result.constraint->mask(allowed);
  EXPECT_EQ(allowed[kEos], 0);

  int32_t one = vocabulary->token_bytes(1 + '1' - 0x20) == "1" ? 1 + '1' - 0x20 : -1;
  ASSERT_GE(one, 0);
  result.constraint->accept(one);
  allowed.assign(vocabulary->vocab_size(), 1);
  result.constraint->mask(allowed);
  EXPECT_EQ(allowed[kEos], 1);                   // "1" is complete
  EXPECT_FALSE(result.constraint->is_complete());  // but "12" may follow

  int32_t twelve = -1;
  for (int32_t id = 0; id < vocabulary->vocab_size(); ++id) {
    if (vocabulary->token_bytes(id) == "12") twelve = id;
  }
  EXPECT_EQ(allowed[twelve], 1);   // "112"
  result.constraint->accept(twelve);
  EXPECT_TRUE(result.constraint->is_complete());  // "112": a fourth digit would exceed 125
  allowed.assign(vocabulary->vocab_size(), 1);
  result.constraint->mask(allowed);
  for (int32_t id = 0; id < vocabulary->vocab_size(); ++id) EXPECT_EQ(allowed[id], id == kEos ? 1 : 0) << id;
}

// The trie walk must allow exactly the tokens that a matcher accepts one by one.
TEST(RequestConstraints, MaskMatchesBruteForce) {
  auto vocabulary = small_vocabulary();
  auto grammar = std::make_shared<const Grammar>(compile_json_schema(json::parse(
      R"({"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}, "additionalProperties": {"type": "null"}})")));
  for (const std::string prefix : {"", "{", "{\"", "{\"n", "{\"na", "{\"name\":\"\xC3", "{\"n\":1", "{\"x\":nul"}) {
    GrammarMatcher matcher(grammar);
    ASSERT_TRUE(matcher.accept_bytes(prefix)) << prefix;
    std::vector<uint64_t> bits((vocabulary->vocab_size() + 63) / 64, 0);
    matcher.fill_token_bitmask(*vocabulary, bits);
    for (int32_t id = 1; id < vocabulary->vocab_size(); ++id) {
      GrammarMatcher copy = matcher;
      bool expected = copy.accept_bytes(vocabulary->token_bytes(id));
      bool masked = (bits[id >> 6] >> (id & 63)) & 1;
      EXPECT_EQ(masked, expected) << "prefix " << prefix << " token " << vocabulary->token_bytes(id);
    }
  }
}

TEST(ToolPrompt, AddsInstructionsAndRewritesHistory) {
  json tools = json::parse(std::string("[") + kWeatherTool + "]");
  json messages = json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Osl\", \"days\": [1, true, null]}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 3}"}
  ])");
  json out = add_tool_system_prompt(messages, tools);
  ASSERT_EQ(out.size(), 4u);
  std::string system = out[0]["content"];
  EXPECT_NE(system.find("\"get_weather\""), std::string::npos);
  EXPECT_NE(system.find("[func_name1(param1=value1"), std::string::npos);
  EXPECT_NE(system.find("Be brief."), std::string::npos);
  EXPECT_EQ(out[2]["content"], "[get_weather(city=\"Osl\", days=[1, True, None])]");
  EXPECT_FALSE(out[2].contains("tool_calls"));
  EXPECT_EQ(out[3]["role"], "ipython");

  // The rewritten call parses back to the original arguments.
  ParsedToolOutput parsed = parse_tool_calls(out[2]["content"].get<std::string>());
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  EXPECT_EQ(json::parse(parsed.tool_calls[0].arguments), json::parse(R"({"city": "Osl", "days": [1, true, null]})"));

  json without_system = add_tool_system_prompt(json::parse(R"([{"role": "user", "content": "hi"}])"), tools);
  ASSERT_EQ(without_system.size(), 2u);
  EXPECT_EQ(without_system[0]["role"], "system");
}

}  // namespace
}  // namespace brasa
