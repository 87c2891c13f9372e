// Drives the OpenAI routes over real loopback HTTP, with the echo engine and
// byte tokenizer from fakes.h in place of a model.

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "server/http_server.h"
#include "server/openai_service.h"
#include "server/fakes.h"
#include "server/response_format.h"

namespace brasa::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
using tcp = asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string body;
  http::response<http::string_body> raw;
  json parsed() const { return json::parse(body); }
};

// The events of a server-sent event stream, without the "data: " prefix.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    events.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return events;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { start_server(""); }

  void start_server(const std::string& api_key, uint64_t body_limit = 1 << 20, int64_t max_connections = 1024) {
    server_.reset();
    service_.reset();
    engine_ = std::make_unique<testing::EchoEngine>(256, 8);
    engine_->start();
    // The template reads `tools` without printing them, so the output is the echoed messages
    // and the server does not add the tool system prompt it uses for templates without tools.
    chat_template_ = make_jinja_chat_template(
        "{% for m in messages %}{{ bos_token }}{{ m['content'] }}{% endfor %}{% if tools %}{% endif %}");
    service_ = std::make_unique<OpenAiService>(ServiceConfig{"echo-model", api_key}, *engine_, tokenizer_, chat_template_.get());
    HttpServerOptions options;
    options.port = 0;
    options.body_limit_bytes = body_limit;
    options.max_connections = max_connections;
    server_ = std::make_unique<HttpServer>(options, [this](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
      service_->handle(std::move(request), std::move(writer));
    });
    server_->start();
  }

  void TearDown() override {
    server_->stop_accepting();
    engine_->stop();
    server_->stop();
  }

  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& authorization = "") {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    Reply reply;
    http::read(stream, buffer, reply.raw);
    reply.status = int(reply.raw.result_int());
    reply.body = reply.raw.body();
    return reply;
  }

  Reply post(const std::string& target, const json& body) { return call("POST", target, body.dump()); }

  // Waits until the engine has no sequence left, because cancels finish on the engine thread.
  bool engine_drains() {
    for (int i = 0; i < 500; ++i) {
      if (engine_->stats().n_running == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  testing::ByteTokenizer tokenizer_;
  std::unique_ptr<testing::EchoEngine> engine_;
  std::unique_ptr<ChatTemplate> chat_template_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> server_;
};

json chat_body(const std::string& content) {
  return json{{"model", "echo-model"}, {"messages", {{{"role", "user"}, {"content", content}}}}};
}

TEST_F(HttpApiTest, ChatReturnsEchoedText) {
  Reply reply = post("/v1/chat/completions", chat_body("hello there"));
  ASSERT_EQ(reply.status, 200) << reply.body;
  json body = reply.parsed();
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "echo-model");
  EXPECT_EQ(body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "hello there");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 12);  // BOS + 11 bytes
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);  // 11 bytes + EOS
  EXPECT_EQ(body["usage"]["total_tokens"], 24);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

TEST_F(HttpApiTest, ChatMaxTokensGivesLength) {
  json request = chat_body("hello there");
  request["max_tokens"] = 4;
  json body = post("/v1/chat/completions", request).parsed();
  EXPECT_EQ(body["choices"][0]["message"]["content"], "hell");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
}

TEST_F(HttpApiTest, StopStringEndsTextAndIsNotSent) {
  json request = chat_body("one, two. three");
  request["stop"] = {". ", "zzz"};
  json body = post("/v1/chat/completions", request).parsed();
  EXPECT_EQ(body["choices"][0]["message"]["content"], "one, two");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(engine_drains());
}

TEST_F(HttpApiTest, NChoicesAreIndexed) {
  json request = chat_body("abc");
  request["n"] = 3;
  json body = post("/v1/chat/completions", request).parsed();
  ASSERT_EQ(body["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(body["choices"][i]["index"], i);
    EXPECT_EQ(body["choices"][i]["message"]["content"], "abc");
  }
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 4);
}

TEST_F(HttpApiTest, ChatLogprobsHaveOpenAiShape) {
  json request = chat_body("ab");
  request["logprobs"] = true;
  request["top_logprobs"] = 2;
  json body = post("/v1/chat/completions", request).parsed();
  json content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(content[0]["token"], "a");
  EXPECT_EQ(content[0]["logprob"], -1.0);
  EXPECT_EQ(content[0]["bytes"], json::array({97}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][1]["token"], "b");
  EXPECT_EQ(content[0]["top_logprobs"][1]["logprob"], -2.0);
}

TEST_F(HttpApiTest, ToolCallsAreParsedFromOutput) {
  json request = chat_body("[get_weather(city=\"Paris\")]");
  request["tools"] = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  Reply reply = post("/v1/chat/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  json choice = reply.parsed()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  json call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
}

// max_tokens cuts the echoed call inside its string argument. The stream has
// already sent the call's name, but the choice must still end with "length",
// as the non-streaming response does.
TEST_F(HttpApiTest, StreamedCallCutByMaxTokensIsLength) {
  json request = chat_body("[get_weather(city=\"Paris\")]");
  request["tools"] = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  request["max_tokens"] = 20;

  json whole = post("/v1/chat/completions", request).parsed();
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length") << whole.dump();

  request["stream"] = true;
  Reply reply = post("/v1/chat/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  std::string finish;
  std::string name;
  for (const std::string& event : sse_events(reply.body)) {
    if (event == "[DONE]") continue;
    json choice = json::parse(event)["choices"][0];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    if (choice["delta"].contains("tool_calls")) {
      name += choice["delta"]["tool_calls"][0]["function"].value("name", "");
    }
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(finish, "length");
  EXPECT_TRUE(engine_drains());
}

TEST_F(HttpApiTest, InvalidSchemaNamesField) {
  json request = chat_body("x");
  request["response_format"] = json::parse(
      R"({"type": "json_schema", "json_schema": {"schema": {"type": "object", "properties": {"a": {"pattern": "("}}}}})");
  Reply reply = post("/v1/chat/completions", request);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(reply.parsed()["error"]["param"].get<std::string>().rfind("response_format", 0), 0u) << reply.body;
}

TEST_F(HttpApiTest, ChatStreamSendsRoleDeltasFinishUsageDone) {
  json request = chat_body("hi!");
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  Reply reply = post("/v1/chat/completions", request);
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.raw[http::field::content_type], "text/event-stream");
  std::vector<std::string> events = sse_events(reply.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string finish;
  for (size_t i = 1; i + 2 < events.size(); ++i) {
    json chunk = json::parse(events[i]);
    EXPECT_TRUE(chunk["usage"].is_null());
    json choice = chunk["choices"][0];
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(text, "hi!");
  EXPECT_EQ(finish, "stop");
  json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
}

TEST_F(HttpApiTest, StreamHoldsBackSplitStop) {
  json request = chat_body("abcXYdef");
  request["stream"] = true;
  request["stop"] = "XYd";
  std::vector<std::string> events = sse_events(post("/v1/chat/completions", request).body);
  std::string text;
  for (const std::string& event : events) {
    if (event == "[DONE]") continue;
    json delta = json::parse(event)["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, "abc");
}

TEST_F(HttpApiTest, CompletionPromptShapes) {
  json body = post("/v1/completions", {{"model", "echo-model"}, {"prompt", {"ab", "cd"}}, {"max_tokens", 5}}).parsed();
  EXPECT_EQ(body["object"], "text_completion");
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["text"], "ab");
  EXPECT_EQ(body["choices"][1]["text"], "cd");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 6);

  body = post("/v1/completions", {{"model", "echo-model"}, {"prompt", {256, 120, 121}}}).parsed();
  EXPECT_EQ(body["choices"][0]["text"], "xy");
}

TEST_F(HttpApiTest, CompletionEchoScoresPrompt) {
  json request = {{"model", "echo-model"}, {"prompt", "ab"}, {"echo", true}, {"logprobs", 1}, {"max_tokens", 0}};
  Reply reply = post("/v1/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  json choice = reply.parsed()["choices"][0];
  // The BOS the server added is scored but not echoed as text.
  EXPECT_EQ(choice["text"], "ab");
  json logprobs = choice["logprobs"];
  EXPECT_EQ(logprobs["tokens"], json({"<s>", "a", "b"}));
  EXPECT_TRUE(logprobs["token_logprobs"][0].is_null());
  EXPECT_EQ(logprobs["token_logprobs"][1], -1.0);
  EXPECT_EQ(logprobs["text_offset"], json({0, 0, 1}));
  EXPECT_EQ(logprobs["top_logprobs"][1]["a"], -1.0);
}

TEST_F(HttpApiTest, DeeplyNestedJsonIsRejected) {
  // 100,000 nested arrays in an unknown field: copying such a value once
  // overflowed the stack of the request handler.
  const int depth = 100000;
  std::string body = R"({"model": "echo-model", "messages": [{"role": "user", "content": "x", "extra": )" +
                     std::string(depth, '[') + std::string(depth, ']') + "}]}";
  Reply reply = call("POST", "/v1/chat/completions", body);
  EXPECT_EQ(reply.status, 400) << reply.body;
  EXPECT_EQ(reply.parsed()["error"]["code"], "invalid_json");

  // Brackets inside strings (with an escaped quote among them) are not nesting.
  json request = chat_body(std::string(200, '[') + "\\\"{");
  EXPECT_EQ(post("/v1/chat/completions", request).status, 200);

  // The server still serves requests afterwards.
  EXPECT_EQ(post("/v1/chat/completions", chat_body("hi")).status, 200);
}

TEST_F(HttpApiTest, ErrorStatuses) {
  struct Case {
    std::string method;
    std::string target;
    std::string body;
    int status;
    std::string param;
  };
  const std::string long_prompt(300, 'x');
  const Case cases[] = {
      {"POST", "/v1/chat/completions", "{not json", 400, ""},
      {"POST", "/v1/chat/completions", R"({"model": "echo-model", "messages": []})", 400, "messages"},
      {"POST", "/v1/chat/completions", R"({"model": "other", "messages": [{"role": "user", "content": "x"}]})", 404, "model"},
      {"POST", "/v1/chat/completions", chat_body(long_prompt).dump(), 400, "messages"},
      {"POST", "/v1/chat/completions", R"({"model": "echo-model", "messages": [{"role": "user", "content": "x"}], "max_tokens": 300})",
       400, "max_tokens"},
      {"POST", "/v1/completions", R"({"model": "echo-model", "prompt": [1, 258]})", 400, "prompt"},
      {"POST", "/v1/completions", R"({"model": "echo-model", "prompt": ""})", 400, "prompt"},
      {"POST", "/v1/completions", R"({"model": "echo-model", "prompt": "x", "logprobs": 21})", 400, "logprobs"},
      {"POST", "/v1/completions", R"({"model": "echo-model", "prompt": "x", "logit_bias": {"300": 1}})", 400, "logit_bias"},
      {"GET", "/v1/nothing", "", 404, ""},
      {"GET", "/v1/chat/completions", "", 405, ""},
      {"POST", "/v1/models", "", 405, ""},
      {"GET", "/v1/models/other-model", "", 404, "model"},
      {"POST", "/v1/models/echo-model", "", 405, ""},
  };
  for (const Case& c : cases) {
    Reply reply = call(c.method, c.target, c.body);
    EXPECT_EQ(reply.status, c.status) << c.target << " " << c.body;
    json body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.contains("error")) << reply.body;
    EXPECT_TRUE(body["error"]["message"].is_string());
    EXPECT_TRUE(body["error"]["type"].is_string());
    if (!c.param.empty()) {
      EXPECT_EQ(body["error"]["param"], c.param) << c.body;
    }
  }
  EXPECT_EQ(call("GET", "/v1/chat/completions").raw[http::field::allow], "POST");
  EXPECT_TRUE(engine_drains());
}

// GET /v1/models/{model} retrieves the served model, as OpenAI's retrieve-model route does.
TEST_F(HttpApiTest, RetrievesServedModel) {
  Reply reply = call("GET", "/v1/models/echo-model");
  EXPECT_EQ(reply.status, 200);
  json body = json::parse(reply.body);
  EXPECT_EQ(body["id"], "echo-model");
  EXPECT_EQ(body["object"], "model");
}

TEST_F(HttpApiTest, BodyOverLimitIs413) {
  // Only the headers are sent: the declared length alone exceeds the 1 MiB limit,
  // and the server replies before any body arrives.
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::string headers = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(2 << 20) + "\r\n\r\n";
  asio::write(stream, asio::buffer(headers));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  EXPECT_EQ(response.result_int(), 413u);
  EXPECT_EQ(json::parse(response.body())["error"]["type"], "invalid_request_error");
}

TEST_F(HttpApiTest, ApiKeyIsRequired) {
  start_server("sk-secret");
  EXPECT_EQ(call("GET", "/v1/models").status, 401);
  EXPECT_EQ(call("GET", "/v1/models", "", "Bearer sk-wrong").status, 401);
  EXPECT_EQ(call("GET", "/v1/models", "", "sk-secret").status, 401);
  EXPECT_EQ(call("GET", "/v1/models", "", "Bearer sk-secret").status, 200);
  EXPECT_EQ(call("GET", "/health").status, 200);
}

TEST_F(HttpApiTest, ModelsListsServedName) {
  json body = call("GET", "/v1/models").parsed();
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["data"][0]["id"], "echo-model");
  EXPECT_EQ(body["data"][0]["object"], "model");
}

TEST_F(HttpApiTest, QueueFullIs503WithRetryAfter) {
  engine_->set_paused(true);
  // The echo engine accepts at most 8 sequences, so n = 8 fills it.
  json fill = chat_body("x");
  fill["n"] = 8;
  std::thread holder([&] { post("/v1/chat/completions", fill); });
  for (int i = 0; i < 500 && engine_->stats().n_running < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(engine_->stats().n_running, 8);
  Reply reply = post("/v1/chat/completions", chat_body("y"));
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.raw["Retry-After"], "1");
  engine_->set_paused(false);
  holder.join();
  EXPECT_TRUE(engine_drains());
}

TEST_F(HttpApiTest, DisconnectCancelsSequences) {
  engine_->set_paused(true);
  for (bool stream : {true, false}) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    json body = chat_body("abcdef");
    body["stream"] = stream;
    body["n"] = 2;
    std::string payload = body.dump();
    std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(payload.size()) + "\r\n\r\n" + payload;
    asio::write(socket, asio::buffer(request));
    for (int i = 0; i < 500 && engine_->stats().n_running < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(engine_->stats().n_running, 2);
    socket.close();
    EXPECT_TRUE(engine_drains()) << "stream=" << stream;
  }
  EXPECT_EQ(engine_->n_cancelled(), 4);
}

TEST_F(HttpApiTest, KeepAliveServesSeveralRequests) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> request(http::verb::post, "/v1/completions", 11);
    request.set(http::field::host, "x");
    request.body() = json{{"model", "echo-model"}, {"prompt", "q" + std::to_string(i)}}.dump();
    request.prepare_payload();
    http::write(stream, request);
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    ASSERT_EQ(response.result_int(), 200u);
    EXPECT_EQ(json::parse(response.body())["choices"][0]["text"], "q" + std::to_string(i));
  }
}

TEST_F(HttpApiTest, MetricsCountRequests) {
  post("/v1/chat/completions", chat_body("abc"));
  call("GET", "/nothing");
  std::string metrics = call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("brasa_requests_total{status=\"200\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("brasa_requests_total{status=\"404\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("brasa_generation_tokens_total 4"), std::string::npos);
  EXPECT_NE(metrics.find("brasa_time_to_first_token_seconds_count 1"), std::string::npos);
  EXPECT_NE(metrics.find("brasa_kv_cache_blocks_used 0"), std::string::npos);
}

// Reads from a socket until the peer closes it or `timeout` passes.
std::string read_until_closed(tcp::socket& socket, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string data;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  socket.non_blocking(true);
  char chunk[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (ec) break;
    data.append(chunk, n);
  }
  return data;
}

std::string header_value(const std::string& response, const std::string& name) {
  size_t begin = response.find("\r\n" + name + ": ");
  if (begin == std::string::npos) return "";
  begin += name.size() + 4;
  return response.substr(begin, response.find("\r\n", begin) - begin);
}

TEST_F(HttpApiTest, HeadGetsGetHeadersWithoutBody) {
  for (const std::string target : {"/health", "/v1/models"}) {
    Reply get = call("GET", target);
    ASSERT_EQ(get.status, 200);

    // HEAD then GET on one keep-alive connection: a body after the HEAD
    // response would be read as the start of the next response.
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    std::string requests = "HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\nGET " + target +
                           " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    asio::write(socket, asio::buffer(requests));
    std::string data = read_until_closed(socket);

    size_t head_end = data.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << data;
    std::string head = data.substr(0, head_end + 2);
    std::string rest = data.substr(head_end + 4);
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_EQ(header_value(head, "Content-Type"), "application/json");
    // /v1/models carries a creation time, so only /health has a fixed length.
    if (target == "/health") {
      EXPECT_EQ(header_value(head, "Content-Length"), std::to_string(get.body.size()));
    }
    EXPECT_EQ(rest.rfind("HTTP/1.1 200", 0), 0u) << target << ": bytes after the HEAD headers: " << rest.substr(0, 80);
  }
}

TEST_F(HttpApiTest, HeadOnPostRouteIs405) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::string request = "HEAD /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string data = read_until_closed(socket);
  EXPECT_EQ(data.rfind("HTTP/1.1 405", 0), 0u) << data;
  EXPECT_EQ(header_value(data, "Allow"), "POST");
  EXPECT_EQ(data.substr(data.find("\r\n\r\n") + 4), "");
  EXPECT_EQ(call("POST", "/health").raw[http::field::allow], "GET, HEAD");
}

TEST_F(HttpApiTest, BestOfReturnsHighestCumulativeLogprob) {
  // Seeds 2, 3, 4 and 5 give the candidates logprobs -3, -4, -1 and -2 per token.
  json request = {{"model", "echo-model"}, {"prompt", "abc"}, {"n", 2}, {"best_of", 4}, {"seed", 2}, {"logprobs", 0}};
  Reply reply = post("/v1/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  json body = reply.parsed();
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["index"], 0);
  EXPECT_EQ(body["choices"][1]["index"], 1);
  EXPECT_EQ(body["choices"][0]["text"], "abc");
  EXPECT_EQ(body["choices"][0]["logprobs"]["token_logprobs"][0], -1.0);
  EXPECT_EQ(body["choices"][1]["logprobs"]["token_logprobs"][0], -2.0);
  // Usage counts the tokens of all four candidates: 3 bytes and EOS each.
  EXPECT_EQ(body["usage"]["completion_tokens"], 16);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(engine_->n_submitted(), 4);
}

TEST_F(HttpApiTest, BestOfWithoutLogprobsHidesThem) {
  json request = {{"model", "echo-model"}, {"prompt", {"ab", "cd"}}, {"best_of", 3}, {"seed", 1}};
  json body = post("/v1/completions", request).parsed();
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["text"], "ab");
  EXPECT_EQ(body["choices"][1]["text"], "cd");
  EXPECT_EQ(body["choices"][1]["index"], 1);
  EXPECT_TRUE(body["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(engine_->n_submitted(), 6);
}

TEST_F(HttpApiTest, BestOfAndSuffixErrorsNameField) {
  struct Case {
    json extra;
    std::string param;
  };
  const Case cases[] = {
      {{{"suffix", "tail"}}, "suffix"},
      {{{"n", 3}, {"best_of", 2}}, "best_of"},
      {{{"best_of", 2}, {"stream", true}}, "best_of"},
      {{{"prompt", {"a", "b", "c"}}, {"best_of", 50}}, "best_of"},
  };
  for (const Case& c : cases) {
    json request = {{"model", "echo-model"}, {"prompt", "x"}};
    request.update(c.extra);
    Reply reply = post("/v1/completions", request);
    EXPECT_EQ(reply.status, 400) << c.extra.dump();
    EXPECT_EQ(reply.parsed()["error"]["param"], c.param) << c.extra.dump();
  }
  EXPECT_EQ(engine_->n_submitted(), 0);
}

TEST_F(HttpApiTest, ConnectionsPastCapGet503) {
  start_server("", 1 << 20, 3);
  ASSERT_EQ(server_->max_connections(), 3);
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::socket>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<tcp::socket>(io));
    idle.back()->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  }
  for (int i = 0; i < 500 && server_->open_connections() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(server_->open_connections(), 3);

  tcp::socket extra(io);
  extra.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  asio::write(extra, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string data = read_until_closed(extra);
  EXPECT_EQ(data.rfind("HTTP/1.1 503", 0), 0u) << data;
  EXPECT_EQ(header_value(data, "Retry-After"), "1");
  json error = json::parse(data.substr(data.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_TRUE(error.contains("error")) << data;
  EXPECT_EQ(error["error"]["type"], "server_error");
  EXPECT_EQ(error["error"]["code"], "too_many_connections");
  EXPECT_EQ(server_->open_connections(), 3);

  // Once a connection closes, a new one is served.
  idle.pop_back();
  for (int i = 0; i < 500 && server_->open_connections() > 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(call("GET", "/health").status, 200);
}

TEST_F(HttpApiTest, DisconnectIsCountedAs499) {
  engine_->set_paused(true);
  {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    std::string payload = chat_body("abc").dump();
    std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(payload.size()) +
                          "\r\n\r\n" + payload;
    asio::write(socket, asio::buffer(request));
    for (int i = 0; i < 500 && engine_->stats().n_running < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(engine_->stats().n_running, 1);
  }
  ASSERT_TRUE(engine_drains());
  engine_->set_paused(false);

  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    metrics = call("GET", "/metrics").body;
    if (metrics.find("status=\"499\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(metrics.find("brasa_requests_total{status=\"499\"} 1"), std::string::npos) << metrics;
  size_t help = metrics.find("# HELP brasa_requests_total");
  ASSERT_NE(help, std::string::npos);
  std::string help_line = metrics.substr(help, metrics.find('\n', help) - help);
  EXPECT_NE(help_line.find("499"), std::string::npos) << help_line;
  EXPECT_NE(help_line.find("client disconnected"), std::string::npos) << help_line;
}

// stories260K's SentencePiece vocabulary writes a space as "▁", and decoding
// drops the space of the first token, so offsets must not count it.
TEST(EchoText, SentencePieceOffsetsIndexTheEchoedText) {
  const auto tokenizer = load_tokenizer(std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf");
  ASSERT_TRUE(tokenizer->strips_leading_space());
  const std::string prompt_text = "Once upon a time, Lily saw a big dog.";
  const std::vector<int32_t> prompt = tokenizer->encode(prompt_text, true, false);
  ASSERT_EQ(prompt.front(), tokenizer->bos_id());
  ASSERT_GE(prompt.size(), 5u);

  EchoText echo = echo_prompt(*tokenizer, prompt);
  EXPECT_EQ(echo.text, prompt_text);
  ASSERT_EQ(echo.offsets.size(), prompt.size());
  EXPECT_EQ(echo.offsets[0], 0);
  EXPECT_EQ(echo.offsets[1], 0);
  for (size_t i = 1; i < prompt.size(); ++i) {
    std::string piece = tokenizer->token_bytes(prompt[i]);
    if (i == 1 && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    const size_t end = i + 1 < prompt.size() ? size_t(echo.offsets[i + 1]) : echo.text.size();
    EXPECT_EQ(echo.text.substr(size_t(echo.offsets[i]), end - size_t(echo.offsets[i])), piece) << "token " << i;
  }
}

}  // namespace
}  // namespace brasa::server
