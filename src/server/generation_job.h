#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/api_error.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/stop_matcher.h"
#include "structured/tool_call_stream.h"
#include "tokenizer/tokenizer.h"

namespace brasa::server {

enum class ApiKind { Chat, Completion };

// The settings of one API request that shape its output.
struct JobOptions {
  ApiKind kind = ApiKind::Chat;
  std::string id;            // "chatcmpl-..." or "cmpl-..."
  std::string model;         // the served model name
  int64_t created = 0;       // Unix seconds
  bool stream = false;
  bool include_usage = false;
  bool echo = false;         // completions: prepend the prompt text
  std::vector<std::string> stop;
  int32_t logprobs = -1;     // -1: none; N: chosen token plus top N
  int32_t prompt_logprobs = -1;
  // Tools are enabled: chat output is split into content and tool_calls, after
  // the end for a whole response and delta by delta for a stream.
  bool has_tools = false;
};

// One choice: one engine sequence and the text and tokens it produced so far.
struct ChoiceState {
  int32_t index = 0;
  int32_t prompt_index = 0;     // completions: which prompt of the request
  std::string engine_id;
  std::vector<int32_t> prompt;
  StopMatcher stop_matcher{{}};
  Utf8Stream utf8;
  std::string text;             // the output text sent or to be sent
  std::vector<SampledToken> tokens;  // every generated token, with logprobs when requested
  std::vector<SampledToken> prompt_logprobs;
  int32_t n_prompt_tokens = 0;
  int32_t n_cached_tokens = 0;
  bool started = false;         // the first chunk (role, echo) went out
  bool finished = false;
  bool cancelled_by_server = false;  // a stop string matched and the sequence was cancelled
  std::string finish_reason;    // "stop", "length", "tool_calls"
  ToolCallStreamParser tool_stream;  // chat streams with tools: splits the text deltas
  int32_t n_tool_calls_sent = 0;     // calls whose first delta went out
  std::chrono::steady_clock::time_point last_token_time;
};

// Drives the sequences of one API request and writes its response. All
// methods run on the connection's strand; engine callbacks are posted there.
class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  GenerationJob(JobOptions options, Engine& engine, const Tokenizer& tokenizer, ServerMetrics& metrics,
                std::shared_ptr<ResponseWriter> writer);

  // Adds a choice for a prompt; call before start().
  void add_choice(int32_t prompt_index, std::vector<int32_t> prompt);

  // Submits every choice to the engine. Returns an error when the engine
  // rejects one (queue full: 503, too long: 400); nothing is then written.
  std::optional<ApiError> start(std::vector<GenerationRequest> requests);

  const JobOptions& options() const { return options_; }
  const std::vector<ChoiceState>& choices() const { return choices_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }

  // Text of a token as shown in logprobs (special tokens included).
  std::string token_piece(int32_t token) const { return tokenizer_.token_bytes(token); }

 private:
  void on_update(size_t choice_index, const GenerationUpdate& update);
  void on_client_gone();
  void append_tokens(ChoiceState& choice, const std::vector<SampledToken>& tokens, std::string& delta,
                     size_t& n_new_tokens);
  void finish_choice(ChoiceState& choice, const std::string& reason);
  void send_delta(ChoiceState& choice, const std::string& delta, size_t first_new_token);
  void send_chat_delta(ChoiceState& choice, const std::string& content, std::vector<ToolCallDelta> calls,
                       std::span<const SampledToken> tokens);
  void complete();
  void fail(const ApiError& error);

  JobOptions options_;
  Engine& engine_;
  const Tokenizer& tokenizer_;
  ServerMetrics& metrics_;
  std::shared_ptr<ResponseWriter> writer_;
  std::vector<ChoiceState> choices_;
  std::chrono::steady_clock::time_point arrival_;
  bool first_token_seen_ = false;
  bool client_gone_ = false;
  bool done_ = false;
  std::optional<ApiError> error_;  // an engine error or a shutdown, sent instead of the result
  size_t n_open_ = 0;              // choices whose engine sequence has not reported its end
};

}  // namespace brasa::server
