#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "structured/tool_call_parser.h"

namespace brasa {
namespace {

using nlohmann::json;

// Compares arguments as parsed JSON, so the test does not depend on spacing.
json args(const ToolCall& call) { return json::parse(call.arguments); }

TEST(ToolCallParser, PythonicSingleCall) {
  ParsedToolOutput out = parse_tool_calls(R"([get_weather(location="London")])");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.content, "");
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
  EXPECT_EQ(args(out.tool_calls[0]), json({{"location", "London"}}));
  EXPECT_EQ(out.tool_calls[0].id.rfind("call_", 0), 0u);
  EXPECT_EQ(out.tool_calls[0].id.size(), 29u);
}

TEST(ToolCallParser, PythonicSeveralCallsAndLiterals) {
  std::string text =
      R"([get_weather(location='Paris, "FR"', days=3), other(a=1.5e2, b=True, c=None, d=[1, (2, 3)], )"
      R"(e={'k': "v", 2: False}, f=-7, g="tab\tq\'uote\\", h='caf\u00e9 \U0001F600 \x41')])";
  ParsedToolOutput out = parse_tool_calls(text);
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
  EXPECT_EQ(args(out.tool_calls[0]), json::parse(R"({"location": "Paris, \"FR\"", "days": 3})"));
  EXPECT_EQ(out.tool_calls[1].name, "other");
  json expected = json::parse(
      R"({"a": 150.0, "b": true, "c": null, "d": [1, [2, 3]], "e": {"k": "v", "2": false}, "f": -7,)"
      R"( "g": "tab\tq'uote\\", "h": "café 😀 A"})");
  EXPECT_EQ(args(out.tool_calls[1]), expected);
  EXPECT_NE(out.tool_calls[0].id, out.tool_calls[1].id);
}

TEST(ToolCallParser, PythonicKeepsArgumentOrder) {
  ParsedToolOutput out = parse_tool_calls(R"([f(z=1, a=2, m=3)])");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0].arguments, R"({"z":1,"a":2,"m":3})");
}

TEST(ToolCallParser, BracketsAndQuotesInsideStrings) {
  ParsedToolOutput out = parse_tool_calls(R"x([search(query="a) b], c(d=\"e\")", note='[x(y=1)]'), noop()])x");
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(args(out.tool_calls[0]), json::parse(R"x({"query": "a) b], c(d=\"e\")", "note": "[x(y=1)]"})x"));
  EXPECT_EQ(out.tool_calls[1].name, "noop");
  EXPECT_EQ(out.tool_calls[1].arguments, "{}");
}

TEST(ToolCallParser, PythonStartWrapper) {
  ParsedToolOutput out = parse_tool_calls("<|python_start|>[a(x=1), b(y=\"2\")]<|python_end|>");
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].name, "a");
  EXPECT_EQ(out.tool_calls[1].name, "b");

  ParsedToolOutput bare = parse_tool_calls("<|python_start|>get_time(tz=\"UTC\")<|python_end|><|eom|>");
  ASSERT_EQ(bare.tool_calls.size(), 1u);
  EXPECT_EQ(args(bare.tool_calls[0]), json({{"tz", "UTC"}}));
}

TEST(ToolCallParser, TextBeforeCallIsContent) {
  ParsedToolOutput out = parse_tool_calls("Let me check [the] weather.\n[get_weather(location=\"Oslo\")]\n");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.content, "Let me check [the] weather.\n");
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
}

TEST(ToolCallParser, JsonForms) {
  ParsedToolOutput one = parse_tool_calls(R"({"name": "f", "parameters": {"a": [1, {"b": null}], "s": "}{"}})");
  ASSERT_EQ(one.tool_calls.size(), 1u);
  EXPECT_EQ(one.tool_calls[0].name, "f");
  EXPECT_EQ(args(one.tool_calls[0]), json::parse(R"({"a": [1, {"b": null}], "s": "}{"})"));

  ParsedToolOutput arguments_key = parse_tool_calls(R"({"name": "g", "arguments": "{\"x\": 2}"})");
  ASSERT_EQ(arguments_key.tool_calls.size(), 1u);
  EXPECT_EQ(args(arguments_key.tool_calls[0]), json({{"x", 2}}));

  ParsedToolOutput semicolons = parse_tool_calls(R"({"name": "a", "parameters": {}}; {"name": "b", "parameters": {"u": "\u00fc"}})");
  ASSERT_EQ(semicolons.tool_calls.size(), 2u);
  EXPECT_EQ(semicolons.tool_calls[1].name, "b");
  EXPECT_EQ(args(semicolons.tool_calls[1]), json({{"u", "ü"}}));

  ParsedToolOutput list = parse_tool_calls(R"([{"name": "a", "parameters": {"n": 1}}, {"name": "b", "arguments": {}}])");
  ASSERT_EQ(list.tool_calls.size(), 2u);
  EXPECT_EQ(list.tool_calls[0].name, "a");
  EXPECT_EQ(list.tool_calls[1].name, "b");
}

TEST(ToolCallParser, PlainJsonIsContent) {
  // A JSON object without "parameters" or "arguments" is content, not a call.
  std::string text = R"({"name": "Bob", "age": 3})";
  ParsedToolOutput out = parse_tool_calls(text);
  EXPECT_TRUE(out.tool_calls.empty());
  EXPECT_EQ(out.content, text);
}

TEST(ToolCallParser, MalformedCallsAreContent) {
  const char* cases[] = {
      "[get_weather(location=\"London\")",      // unclosed list
      "[get_weather(location=\"London)]",       // unclosed string
      "[get_weather(\"London\")]",              // positional argument
      "[get_weather(location=London)]",         // bare name as a value
      "[get_weather(location=\"x\")] and more",  // text after the call
      "{\"name\": \"f\", \"parameters\": [1]}",  // parameters not an object
      "{\"name\": 3, \"parameters\": {}}",       // name not a string
      "[1, 2, 3]",
      "[link](http://example.com)",
      "<|python_start|>",
      "[f(a=((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1)]",
      "",
  };
  for (const char* text : cases) {
    ParsedToolOutput out = parse_tool_calls(text);
    EXPECT_TRUE(out.tool_calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
}

TEST(ToolCallParser, UnicodeNamesAndValues) {
  ParsedToolOutput out = parse_tool_calls("Voilà: [traduire(texte=\"日本語 ✓\", n=0.25)]");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.content, "Voilà: ");
  EXPECT_EQ(args(out.tool_calls[0]), json::parse(R"({"texte": "日本語 ✓", "n": 0.25})"));
}

TEST(ToolCallParser, LargeIntegersBecomeNumbers) {
  ParsedToolOutput out = parse_tool_calls("[f(a=12345678901234567890, b=1_000)]");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  json parsed = args(out.tool_calls[0]);
  EXPECT_DOUBLE_EQ(parsed["a"].get<double>(), 12345678901234567890.0);
  EXPECT_EQ(parsed["b"], 1000);
}

TEST(ToolCallParser, PolicyRejectsForm) {
  ToolCallPolicy no_pythonic;
  no_pythonic.pythonic_form = false;
  for (const char* text : {"[f(a=1)]", "Hi <|python_start|>[f(a=1)]<|python_end|>"}) {
    ParsedToolOutput out = parse_tool_calls(text, no_pythonic);
    EXPECT_TRUE(out.tool_calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
  ParsedToolOutput json_call = parse_tool_calls(R"(Hi {"name": "f", "parameters": {"a": 1}})", no_pythonic);
  ASSERT_EQ(json_call.tool_calls.size(), 1u);
  EXPECT_EQ(json_call.content, "Hi ");

  ToolCallPolicy no_json;
  no_json.json_form = false;
  for (const char* text : {R"({"name": "f", "parameters": {}})", R"([ {"name": "f", "parameters": {}}])"}) {
    ParsedToolOutput out = parse_tool_calls(text, no_json);
    EXPECT_TRUE(out.tool_calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
  EXPECT_EQ(parse_tool_calls("[f(a=1)]", no_json).tool_calls.size(), 1u);
}

TEST(ToolCallParser, PolicyRejectsUnlistedName) {
  ToolCallPolicy listed;
  listed.tool_names = {"f", "g"};
  for (const char* text : {"[h(a=1)]", "[f(a=1), h(b=2)]", R"(See {"name": "h", "parameters": {}})"}) {
    ParsedToolOutput out = parse_tool_calls(text, listed);
    EXPECT_TRUE(out.tool_calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
  ParsedToolOutput out = parse_tool_calls("[f(a=1), g(b=2)]", listed);
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[1].name, "g");
}

}  // namespace
}  // namespace brasa
