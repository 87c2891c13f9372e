#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/protocol.h"

namespace brasa::server {
namespace {

// Returns the `param` of the 400 the chat parser raises, or "<accepted>".
std::string chat_error_param(const std::string& body) {
  try {
    parse_chat_request(body);
  } catch (const ApiException& e) {
    EXPECT_EQ(e.error().status, 400) << body;
    return e.error().param;
  }
  return "<accepted>";
}

std::string completion_error_param(const std::string& body) {
  try {
    parse_completion_request(body);
  } catch (const ApiException& e) {
    EXPECT_EQ(e.error().status, 400) << body;
    return e.error().param;
  }
  return "<accepted>";
}

const std::string kMessages = R"("model": "m", "messages": [{"role": "user", "content": "hi"}])";

TEST(ChatParser, ReadsEveryField) {
  ChatRequest request = parse_chat_request(R"({
    "model": "m", "messages": [{"role": "system", "content": "be brief"},
                               {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0.5, "top_p": 0.9, "n": 3,
    "stop": ["x", "yz"], "seed": 42, "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "logit_bias": {"17": -100, "3": 2.5}, "logprobs": true, "top_logprobs": 5, "stream": true,
    "stream_options": {"include_usage": true}, "user": "u1", "top_k": 40, "min_p": 0.1,
    "repetition_penalty": 1.1, "ignore_eos": true, "prompt_logprobs": 0, "unknown_field": {"x": 1}})");
  EXPECT_EQ(request.model, "m");
  ASSERT_EQ(request.messages.size(), 2u);
  EXPECT_EQ(request.messages[1]["content"], "a\nb");
  EXPECT_EQ(request.max_tokens, 7);  // max_completion_tokens wins over max_tokens
  EXPECT_FLOAT_EQ(request.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(request.sampling.top_p, 0.9f);
  EXPECT_EQ(request.n, 3);
  EXPECT_EQ(request.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ(request.sampling.seed, 42u);
  EXPECT_FLOAT_EQ(request.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(request.sampling.frequency_penalty, -0.5f);
  ASSERT_EQ(request.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(request.sampling.logprobs, 5);
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.user, "u1");
  EXPECT_EQ(request.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(request.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(request.sampling.repetition_penalty, 1.1f);
  EXPECT_TRUE(request.ignore_eos);
  EXPECT_EQ(request.sampling.prompt_logprobs, 0);  // a positive value cannot stream
}

TEST(ChatParser, DefaultsMatchOpenAi) {
  ChatRequest request = parse_chat_request("{" + kMessages + "}");
  EXPECT_FALSE(request.max_tokens.has_value());
  EXPECT_FLOAT_EQ(request.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(request.sampling.top_p, 1.0f);
  EXPECT_EQ(request.n, 1);
  EXPECT_EQ(request.sampling.logprobs, -1);
  EXPECT_FALSE(request.stream);
  EXPECT_TRUE(request.tools.is_null());
}

TEST(ChatParser, NullFieldsCountAsUnset) {
  ChatRequest request = parse_chat_request("{" + kMessages + R"(, "temperature": null, "stop": null, "n": null})");
  EXPECT_FLOAT_EQ(request.sampling.temperature, 1.0f);
  EXPECT_TRUE(request.stop.empty());
}

TEST(ChatParser, LogprobsWithoutTopMeansZero) {
  ChatRequest request = parse_chat_request("{" + kMessages + R"(, "logprobs": true})");
  EXPECT_EQ(request.sampling.logprobs, 0);
}

TEST(ChatParser, RejectsMalformedJson) {
  for (const char* body : {"", "{", "{\"model\": }", "[1, 2]", "\"text\"", "{\"a\": 1} trailing", "{\"bad\": \"\xff\"}"}) {
    try {
      parse_chat_request(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ApiException& e) {
      EXPECT_EQ(e.error().status, 400) << body;
    }
  }
}

TEST(ChatParser, RejectsBadFieldsNamingThem) {
  struct Case {
    std::string extra;  // appended to a valid body
    std::string param;
  };
  const Case cases[] = {
      {R"("temperature": 2.5)", "temperature"},
      {R"("temperature": -0.1)", "temperature"},
      {R"("temperature": "hot")", "temperature"},
      {R"("top_p": 0)", "top_p"},
      {R"("top_p": 1.5)", "top_p"},
      {R"("n": 0)", "n"},
      {R"("n": 129)", "n"},
      {R"("n": 1.5)", "n"},
      {R"("max_tokens": 0)", "max_tokens"},
      {R"("max_tokens": -1)", "max_tokens"},
      {R"("max_tokens": "10")", "max_tokens"},
      {R"("max_tokens": 99999999999)", "max_tokens"},
      {R"("max_completion_tokens": 0)", "max_completion_tokens"},
      {R"("stop": ["a", "b", "c", "d", "e"])", "stop"},
      {R"("stop": [1])", "stop"},
      {R"("stop": "")", "stop"},
      {R"("stop": 5)", "stop"},
      {R"("presence_penalty": 3)", "presence_penalty"},
      {R"("frequency_penalty": -2.5)", "frequency_penalty"},
      {R"("logit_bias": {"abc": 1})", "logit_bias"},
      {R"("logit_bias": {"5": 101})", "logit_bias"},
      {R"("logit_bias": [1])", "logit_bias"},
      {R"("logprobs": "yes")", "logprobs"},
      {R"("logprobs": true, "top_logprobs": 21)", "top_logprobs"},
      {R"("top_logprobs": 3)", "top_logprobs"},
      {R"("stream": 1)", "stream"},
      {R"("stream_options": {"include_usage": true})", "stream_options"},
      {R"("seed": 1.5)", "seed"},
      {R"("top_k": -2)", "top_k"},
      {R"("min_p": 2)", "min_p"},
      {R"("repetition_penalty": 0)", "repetition_penalty"},
      {R"("prompt_logprobs": 21)", "prompt_logprobs"},
      {R"("user": 5)", "user"},
      {R"("tools": {})", "tools"},
      {R"("tools": [{"type": "function"}])", "tools[0].function"},
      {R"("tool_choice": "always")", "tool_choice"},
      {R"("response_format": {"type": "xml"})", "response_format"},
      {R"("response_format": {"type": "json_schema"})", "response_format"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(chat_error_param("{" + kMessages + ", " + c.extra + "}"), c.param) << c.extra;
  }
}

TEST(ChatParser, RejectsBadMessages) {
  EXPECT_EQ(chat_error_param(R"({"model": "m"})"), "messages");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": []})"), "messages");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": "hi"})"), "messages");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [5]})"), "messages[0]");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [{"content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [{"role": "robot", "content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [{"role": "user"}]})"), "messages[0].content");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [{"role": "user", "content": 5}]})"), "messages[0].content");
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"),
            "messages[0].content");
  EXPECT_EQ(chat_error_param(R"({"messages": [{"role": "user", "content": "x"}]})"), "model");
  // An assistant message that only calls tools may omit content.
  EXPECT_EQ(chat_error_param(R"({"model": "m", "messages": [{"role": "assistant", "tool_calls": []}]})"), "<accepted>");
}

TEST(CompletionParser, AcceptsEveryPromptShape) {
  EXPECT_EQ(parse_completion_request(R"({"model": "m", "prompt": "hello"})").prompts.size(), 1u);
  auto strings = parse_completion_request(R"({"model": "m", "prompt": ["a", "b"]})");
  ASSERT_EQ(strings.prompts.size(), 2u);
  EXPECT_EQ(strings.prompts[1].text, "b");
  auto ids = parse_completion_request(R"({"model": "m", "prompt": [1, 403, 407]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_TRUE(ids.prompts[0].is_token_ids);
  EXPECT_EQ(ids.prompts[0].token_ids, (std::vector<int32_t>{1, 403, 407}));
  auto nested = parse_completion_request(R"({"model": "m", "prompt": [[1, 2], [3]]})");
  ASSERT_EQ(nested.prompts.size(), 2u);
  EXPECT_EQ(nested.prompts[1].token_ids, (std::vector<int32_t>{3}));
}

TEST(CompletionParser, EchoWithLogprobsScoresPrompt) {
  auto request = parse_completion_request(R"({"model": "m", "prompt": "x", "echo": true, "logprobs": 3, "max_tokens": 0})");
  EXPECT_TRUE(request.echo);
  EXPECT_EQ(request.max_tokens, 0);
  EXPECT_EQ(request.sampling.logprobs, 3);
  EXPECT_EQ(request.sampling.prompt_logprobs, 3);
}

TEST(CompletionParser, RejectsBadPrompts) {
  EXPECT_EQ(completion_error_param(R"({"model": "m"})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": ""})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": []})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": [[]]})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": [1, -2]})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": [1, "a"]})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": [1.5]})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": 5})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": [{"a": 1}]})"), "prompt");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "logprobs": 21})"), "logprobs");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "echo": "yes"})"), "echo");
}

TEST(CompletionParser, RejectsSuffix) {
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "suffix": "end"})"), "suffix");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "suffix": ""})"), "suffix");
  // null counts as unset, as for every other field.
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "suffix": null})"), "<accepted>");
}

TEST(CompletionParser, ChecksBestOf) {
  auto request = parse_completion_request(R"({"model": "m", "prompt": "x", "n": 2, "best_of": 5})");
  EXPECT_EQ(request.best_of, 5);
  EXPECT_FALSE(parse_completion_request(R"({"model": "m", "prompt": "x"})").best_of.has_value());
  // best_of equal to n changes nothing, so it may stream.
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "n": 2, "best_of": 2, "stream": true})"), "<accepted>");

  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "n": 3, "best_of": 2})"), "best_of");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "best_of": 2, "stream": true})"), "best_of");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "best_of": 0})"), "best_of");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "best_of": 129})"), "best_of");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "best_of": "2"})"), "best_of");
}

TEST(CompletionParser, PromptLogprobsNotStreamed) {
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "prompt_logprobs": 1, "stream": true})"),
            "prompt_logprobs");
  EXPECT_EQ(chat_error_param("{" + kMessages + R"(, "prompt_logprobs": 2, "stream": true})"), "prompt_logprobs");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "prompt_logprobs": 0, "stream": true})"),
            "<accepted>");
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "prompt_logprobs": 1})"), "<accepted>");

  // echo with logprobs scores the prompt internally, which streams in the echo chunk.
  EXPECT_EQ(completion_error_param(R"({"model": "m", "prompt": "x", "echo": true, "logprobs": 1, "stream": true})"),
            "<accepted>");
}

TEST(ErrorBody, HasOpenAiShape) {
  nlohmann::json body = error_body(ApiError{400, "bad", "invalid_request_error", "n", ""});
  EXPECT_EQ(body["error"]["message"], "bad");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "n");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

}  // namespace
}  // namespace brasa::server
