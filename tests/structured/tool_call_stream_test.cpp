#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "structured/tool_call_parser.h"
#include "structured/tool_call_stream.h"

namespace brasa {
namespace {

// The stream of one response, put back together as a client would.
struct Assembled {
  std::string content;
  std::vector<std::string> names;
  std::vector<std::string> arguments;
  std::vector<std::string> ids;
  bool index_order_ok = true;
};

void add(Assembled& out, const StreamDelta& delta) {
  out.content += delta.content;
  for (const ToolCallDelta& call : delta.tool_calls) {
    if (!call.id.empty()) {
      // A new call: its index must be the next one, and it must carry the name.
      if (call.index != static_cast<int32_t>(out.names.size()) || call.name.empty()) out.index_order_ok = false;
      out.ids.push_back(call.id);
      out.names.push_back(call.name);
      out.arguments.emplace_back();
    }
    if (call.index < 0 || call.index >= static_cast<int32_t>(out.arguments.size())) {
      out.index_order_ok = false;
      continue;
    }
    out.arguments[call.index] += call.arguments;
  }
}

// Feeds `text` in pieces of `chunk` bytes.
Assembled stream(const std::string& text, size_t chunk, std::vector<std::string>* contents = nullptr,
                 const ToolCallPolicy& policy = {}) {
  ToolCallStreamParser parser(policy);
  Assembled out;
  for (size_t i = 0; i < text.size(); i += chunk) {
    StreamDelta delta = parser.feed(text.substr(i, chunk));
    if (contents != nullptr && !delta.content.empty()) contents->push_back(delta.content);
    add(out, delta);
  }
  add(out, parser.finish());
  return out;
}

const char* kTexts[] = {
    "Hello, world.",
    "[get_weather(location=\"London\"), other(a=1)]",
    "Sure. [get_weather(location='Paris', units=[\"c\", 'f'])]\n",
    "<|python_start|>[a(x={'k': [1, 2]}), b()]<|python_end|>",
    "{\"name\": \"f\", \"parameters\": {\"q\": \"[x(y=1)]\"}}; {\"name\": \"g\", \"arguments\": {}}",
    "[{\"name\": \"a\", \"parameters\": {}}]",
    "see [the docs] and {curly} and <b>html</b> and [x",
    "{\"name\": \"f\", \"parameters\": [1]} then {\"name\": \"g\", \"parameters\": {}}",
    "Use {\"name\": \"x\"} here, then [g(b=2)]",
    "{\"name\": \"Bob\", \"age\": 3}",
    "[1, 2]",
};

TEST(ToolCallStream, MatchesWholeTextParse) {
  for (const char* text : kTexts) {
    ParsedToolOutput whole = parse_tool_calls(text);
    for (size_t chunk : {1u, 2u, 3u, 7u, 1000u}) {
      Assembled streamed = stream(text, chunk);
      SCOPED_TRACE(std::string(text) + " chunk " + std::to_string(chunk));
      EXPECT_TRUE(streamed.index_order_ok);
      EXPECT_EQ(streamed.content, whole.content);
      ASSERT_EQ(streamed.names.size(), whole.tool_calls.size());
      for (size_t i = 0; i < whole.tool_calls.size(); ++i) {
        EXPECT_EQ(streamed.names[i], whole.tool_calls[i].name);
        EXPECT_EQ(streamed.arguments[i], whole.tool_calls[i].arguments);
        EXPECT_EQ(streamed.ids[i].rfind("call_", 0), 0u);
      }
    }
  }
}

TEST(ToolCallStream, NoCallSyntaxLeaksIntoContent) {
  std::vector<std::string> contents;
  Assembled out = stream("Checking now. [get_weather(location=\"Rome\")]", 1, &contents);
  ASSERT_EQ(out.names.size(), 1u);
  for (const std::string& piece : contents) {
    EXPECT_EQ(piece.find('['), std::string::npos) << piece;
    EXPECT_EQ(piece.find("get_"), std::string::npos) << piece;
  }
  EXPECT_EQ(out.content, "Checking now. ");
}

TEST(ToolCallStream, NameArrivesBeforeArguments) {
  ToolCallStreamParser parser;
  StreamDelta first = parser.feed("[get_weather(loc");
  ASSERT_EQ(first.tool_calls.size(), 1u);
  EXPECT_EQ(first.tool_calls[0].name, "get_weather");
  EXPECT_EQ(first.tool_calls[0].arguments, "");
  EXPECT_TRUE(first.content.empty());

  StreamDelta second = parser.feed("ation=\"x\")]");
  ASSERT_EQ(second.tool_calls.size(), 1u);
  EXPECT_TRUE(second.tool_calls[0].id.empty());
  EXPECT_EQ(second.tool_calls[0].arguments, R"({"location":"x"})");
  EXPECT_TRUE(parser.finish().tool_calls.empty());
}

TEST(ToolCallStream, ContentFlowsWithoutCalls) {
  ToolCallStreamParser parser;
  EXPECT_EQ(parser.feed("plain text ").content, "plain text ");
  EXPECT_EQ(parser.feed("more [").content, "more ");
  EXPECT_EQ(parser.feed("1]").content, "[1]");
  EXPECT_EQ(parser.finish().content, "");
}

// Once a call's name is sent the stream cannot take it back, unlike
// parse_tool_calls, which returns these texts whole as content.
TEST(ToolCallStream, BrokenCallAfterSentCallBecomesContent) {
  Assembled out = stream("[a(x=1), b(y=", 4);
  ASSERT_EQ(out.names.size(), 2u);
  EXPECT_EQ(out.arguments[0], R"({"x":1})");
  EXPECT_EQ(out.arguments[1], "{}");
  EXPECT_EQ(out.content, ", b(y=");

  Assembled unclosed = stream("[get_weather(location=\"London\")", 5);
  ASSERT_EQ(unclosed.names.size(), 1u);
  EXPECT_EQ(unclosed.arguments[0], R"({"location":"London"})");
  EXPECT_EQ(unclosed.content, "");

  Assembled trailing = stream("[f(a=1)] trailing words", 3);
  ASSERT_EQ(trailing.names.size(), 1u);
  EXPECT_EQ(trailing.content, "] trailing words");
}

}  // namespace
}  // namespace brasa

namespace brasa {
namespace {

// Random texts over the characters of call syntax: nothing crashes, and text
// that contains no call comes back unchanged as content, whole or streamed.
TEST(ToolCallStream, RandomTextNeverLosesContent) {
  const std::string alphabet = "[](){}\"'=,;: \\<|>_abxy01.-\n";
  const std::string pieces[] = {"<|python_start|>", "<|python_end|>", "f(", "x=", "{\"name\": \"f\", ", "\"parameters\": {}}", "[g(a=1)]"};
  std::mt19937 rng(42);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    int length = static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) {
      if (rng() % 6 == 0) {
        text += pieces[rng() % 7];
      } else {
        text += alphabet[rng() % alphabet.size()];
      }
    }

    ParsedToolOutput whole = parse_tool_calls(text);
    if (whole.tool_calls.empty()) EXPECT_EQ(whole.content, text);
    for (const ToolCall& call : whole.tool_calls) EXPECT_TRUE(nlohmann::json::accept(call.arguments)) << call.arguments;

    Assembled streamed = stream(text, 1 + rng() % 5);
    EXPECT_TRUE(streamed.index_order_ok) << text;
    if (streamed.names.empty()) EXPECT_EQ(streamed.content, text);
    for (const std::string& arguments : streamed.arguments) EXPECT_TRUE(nlohmann::json::accept(arguments)) << text;
  }
}

// A call the policy rejects stays content, as in parse_tool_calls, unless
// calls before it in the same list were already sent.
TEST(ToolCallStream, PolicyRejectsCalls) {
  ToolCallPolicy policy;
  policy.tool_names = {"f"};
  policy.json_form = false;
  const char* rejected[] = {"[g(a=1)]", "Text [g(a=1)]", R"({"name": "f", "parameters": {}})"};
  for (const char* text : rejected) {
    for (size_t chunk : {1u, 3u, 1000u}) {
      Assembled streamed = stream(text, chunk, nullptr, policy);
      EXPECT_TRUE(streamed.names.empty()) << text << " chunk " << chunk;
      EXPECT_EQ(streamed.content, text) << " chunk " << chunk;
      EXPECT_EQ(streamed.content, parse_tool_calls(text, policy).content);
    }
  }

  // In one piece nothing was sent before "g", so the whole text is content.
  std::string listed_then_not = "[f(a=1), g(b=2)]";
  Assembled whole = stream(listed_then_not, 1000, nullptr, policy);
  EXPECT_TRUE(whole.names.empty());
  EXPECT_EQ(whole.content, listed_then_not);

  for (size_t chunk : {1u, 3u}) {
    Assembled streamed = stream(listed_then_not, chunk, nullptr, policy);
    ASSERT_EQ(streamed.names, std::vector<std::string>{"f"}) << "chunk " << chunk;
    EXPECT_EQ(nlohmann::json::parse(streamed.arguments[0]), nlohmann::json({{"a", 1}}));
    EXPECT_EQ(streamed.content, ", g(b=2)]") << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace brasa
