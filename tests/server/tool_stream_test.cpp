// Streams tool calls over real loopback HTTP: the echo engine from fakes.h
// returns the prompt, so the test chooses the model output exactly.

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "server/fakes.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "structured/tool_prompt.h"

namespace brasa::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
using tcp = asio::ip::tcp;

// Neither template reads `tools`, so the server adds the Llama 4 tool system prompt.
// The first echoes only the last message, so the output is that message's text.
const char* kLastMessageTemplate =
    "{% for m in messages %}{% if loop.last %}{{ bos_token }}{{ m['content'] }}{% endif %}{% endfor %}";
const char* kAllMessagesTemplate = "{{ bos_token }}{% for m in messages %}{{ m['role'] }}:{{ m['content'] }}|{% endfor %}";

const char* kWeatherTools = R"([{"type": "function", "function": {"name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])";

// The assembled result of a chat stream.
struct StreamResult {
  std::string content;
  json tool_calls = json::array();  // OpenAI message tool_calls, assembled from the deltas
  json first_call_deltas = json::array();
  std::string finish_reason;
  bool done = false;
};

StreamResult assemble(const std::string& body) {
  StreamResult result;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    std::string event = body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (event == "[DONE]") {
      result.done = true;
      continue;
    }
    json choice = json::parse(event)["choices"][0];
    json delta = choice["delta"];
    if (delta.contains("content")) result.content += delta["content"].get<std::string>();
    for (const json& call : delta.value("tool_calls", json::array())) {
      size_t index = call["index"].get<size_t>();
      if (index >= result.tool_calls.size()) {
        result.first_call_deltas.push_back(call);
        result.tool_calls.push_back({{"id", call["id"]}, {"type", call["type"]},
                                     {"function", {{"name", call["function"]["name"]}, {"arguments", ""}}}});
      }
      std::string fragment = call["function"]["arguments"];
      result.tool_calls[index]["function"]["arguments"] = result.tool_calls[index]["function"]["arguments"].get<std::string>() + fragment;
    }
    if (!choice["finish_reason"].is_null()) result.finish_reason = choice["finish_reason"];
  }
  return result;
}

class ToolStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { start_server(kLastMessageTemplate); }

  void start_server(const std::string& template_source) {
    stop_server();
    engine_ = std::make_unique<testing::EchoEngine>(4096, 8);
    engine_->start();
    chat_template_ = make_jinja_chat_template(template_source);
    service_ = std::make_unique<OpenAiService>(ServiceConfig{"echo-model", ""}, *engine_, tokenizer_, chat_template_.get());
    HttpServerOptions options;
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, [this](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
      service_->handle(std::move(request), std::move(writer));
    });
    server_->start();
  }

  void stop_server() {
    if (!server_) return;
    server_->stop_accepting();
    engine_->stop();
    server_->stop();
    server_.reset();
  }

  void TearDown() override { stop_server(); }

  std::pair<int, std::string> post(const json& body) {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    http::request<http::string_body> request(http::verb::post, "/v1/chat/completions", 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.body() = body.dump();
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return {int(response.result_int()), response.body()};
  }

  testing::ByteTokenizer tokenizer_;
  std::unique_ptr<testing::EchoEngine> engine_;
  std::unique_ptr<ChatTemplate> chat_template_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> server_;
};

json tool_request(const std::string& output, bool stream) {
  return json{{"model", "echo-model"},
              {"messages", {{{"role", "user"}, {"content", output}}}},
              {"tools", json::parse(kWeatherTools)},
              {"stream", stream}};
}

TEST_F(ToolStreamTest, CallArrivesAsDeltas) {
  auto [status, body] = post(tool_request("[get_weather(city=\"Paris\")]", true));
  ASSERT_EQ(status, 200) << body;
  StreamResult result = assemble(body);
  EXPECT_TRUE(result.done);
  EXPECT_EQ(result.content, "");
  EXPECT_EQ(result.finish_reason, "tool_calls");
  ASSERT_EQ(result.tool_calls.size(), 1u) << body;

  json first = result.first_call_deltas[0];
  EXPECT_EQ(first["index"], 0);
  EXPECT_EQ(first["type"], "function");
  EXPECT_EQ(first["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(first["function"]["name"], "get_weather");
  EXPECT_TRUE(first["function"]["arguments"].is_string());

  json call = result.tool_calls[0];
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
}

TEST_F(ToolStreamTest, JsonCallArrivesAsDeltas) {
  auto [status, body] = post(tool_request(R"({"name": "get_weather", "parameters": {"city": "Oslo"}})", true));
  ASSERT_EQ(status, 200) << body;
  StreamResult result = assemble(body);
  EXPECT_EQ(result.content, "");
  EXPECT_EQ(result.finish_reason, "tool_calls");
  ASSERT_EQ(result.tool_calls.size(), 1u) << body;
  EXPECT_EQ(result.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(result.tool_calls[0]["function"]["arguments"].get<std::string>()), json({{"city", "Oslo"}}));
}

TEST_F(ToolStreamTest, ContentBeforeCallHasNoCallSyntax) {
  auto [status, body] = post(tool_request("Checking. [get_weather(city=\"Rome\"), get_weather(city=\"Bonn\")]", true));
  ASSERT_EQ(status, 200) << body;
  StreamResult result = assemble(body);
  EXPECT_EQ(result.content, "Checking. ");
  EXPECT_EQ(result.finish_reason, "tool_calls");
  ASSERT_EQ(result.tool_calls.size(), 2u) << body;
  EXPECT_EQ(result.first_call_deltas[1]["index"], 1);
  EXPECT_NE(result.tool_calls[0]["id"], result.tool_calls[1]["id"]);
  EXPECT_EQ(json::parse(result.tool_calls[0]["function"]["arguments"].get<std::string>()), json({{"city", "Rome"}}));
  EXPECT_EQ(json::parse(result.tool_calls[1]["function"]["arguments"].get<std::string>()), json({{"city", "Bonn"}}));
}

TEST_F(ToolStreamTest, StreamMatchesWholeResponse) {
  const std::string output = "[get_weather(city=\"Lima\")]";
  auto [whole_status, whole_body] = post(tool_request(output, false));
  auto [stream_status, stream_body] = post(tool_request(output, true));
  ASSERT_EQ(whole_status, 200) << whole_body;
  ASSERT_EQ(stream_status, 200) << stream_body;
  json message = json::parse(whole_body)["choices"][0]["message"];
  StreamResult result = assemble(stream_body);
  ASSERT_EQ(message["tool_calls"].size(), result.tool_calls.size());
  // Ids are random per response, so only the function parts are compared.
  EXPECT_EQ(message["tool_calls"][0]["function"], result.tool_calls[0]["function"]);
  EXPECT_EQ(message["tool_calls"][0]["type"], result.tool_calls[0]["type"]);
}

TEST_F(ToolStreamTest, PlainTextStaysContent) {
  auto [status, body] = post(tool_request("It is sunny {mostly} [often].", true));
  ASSERT_EQ(status, 200) << body;
  StreamResult result = assemble(body);
  EXPECT_EQ(result.content, "It is sunny {mostly} [often].");
  EXPECT_TRUE(result.tool_calls.empty());
  EXPECT_EQ(result.finish_reason, "stop");
}

TEST_F(ToolStreamTest, StreamWithoutToolsIsUntouched) {
  json request = tool_request("[get_weather(city=\"Paris\")]", true);
  request.erase("tools");
  auto [status, body] = post(request);
  ASSERT_EQ(status, 200) << body;
  StreamResult result = assemble(body);
  EXPECT_EQ(result.content, "[get_weather(city=\"Paris\")]");
  EXPECT_TRUE(result.tool_calls.empty());
  EXPECT_EQ(result.finish_reason, "stop");
}

TEST_F(ToolStreamTest, TemplateWithoutToolsGetsSystemPrompt) {
  start_server(kAllMessagesTemplate);
  auto [status, body] = post(tool_request("Weather?", false));
  ASSERT_EQ(status, 200) << body;
  // The echoed prompt ends with "|", so it parses as content, not as a call.
  std::string content = json::parse(body)["choices"][0]["message"]["content"];
  std::string system_prompt = format_tool_system_prompt(json::parse(kWeatherTools));
  EXPECT_EQ(content.rfind("system:", 0), 0u) << content;
  EXPECT_NE(content.find(system_prompt), std::string::npos) << content;
  EXPECT_NE(content.find("get_weather"), std::string::npos);
  EXPECT_NE(content.find("user:Weather?|"), std::string::npos) << content;
}

TEST_F(ToolStreamTest, ToolChoiceNoneAddsNoSystemPrompt) {
  start_server(kAllMessagesTemplate);
  json request = tool_request("Weather?", false);
  request["tool_choice"] = "none";
  auto [status, body] = post(request);
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(json::parse(body)["choices"][0]["message"]["content"], "user:Weather?|");
}

}  // namespace
}  // namespace brasa::server
