#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"

namespace brasa::server {

// Limits the OpenAI API reference sets on request fields.
inline constexpr int32_t kMaxStopStrings = 4;
inline constexpr int32_t kMaxTopLogprobs = 20;
inline constexpr int32_t kMaxChoices = 128;

// Fields shared by /v1/chat/completions and /v1/completions, validated.
struct CommonRequest {
  std::string model;
  std::optional<int32_t> max_tokens;  // unset: fill the context (chat) or 16 (completions)
  int32_t n = 1;
  SamplingParams sampling;            // logprobs and prompt_logprobs included
  std::vector<std::string> stop;      // at most kMaxStopStrings, none empty
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  bool ignore_eos = false;
  std::string user;
};

struct ChatRequest : CommonRequest {
  // The messages as the chat template expects them: every text content-part
  // list is joined into one string.
  nlohmann::json messages = nlohmann::json::array();
  nlohmann::json tools;            // null when absent
  nlohmann::json tool_choice;      // null when absent
  nlohmann::json response_format;  // null when absent
};

// One /v1/completions prompt: text to tokenize, or token ids used as given.
struct CompletionPrompt {
  std::string text;
  std::vector<int32_t> token_ids;
  bool is_token_ids = false;
};

struct CompletionRequest : CommonRequest {
  std::vector<CompletionPrompt> prompts;  // one choice group of n per prompt
  bool echo = false;
  // Sequences generated per prompt, of which the n with the highest cumulative
  // logprob are returned. Unset means n. Never less than n, and equal to n when streaming.
  std::optional<int32_t> best_of;
};

// Parses and validates a request body. Throws ApiException (400 naming the
// field) on malformed JSON, a wrong type or an out-of-range value. Unknown
// fields are ignored. Checks that need the model (context length, vocabulary
// size, model name) happen later, in the handler.
ChatRequest parse_chat_request(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);

}  // namespace brasa::server
