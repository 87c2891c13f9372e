#include "server/response_format.h"

#include <cmath>

#include "structured/tool_call_parser.h"
#include "tokenizer/detokenizer.h"

namespace brasa::server {

using nlohmann::json;

namespace {

json bytes_json(const std::string& bytes) {
  json list = json::array();
  for (unsigned char c : bytes) list.push_back(int(c));
  return list;
}

// JSON has no -inf, so the logprob of a masked-out token is sent as -9999.
double finite(float logprob) { return std::isfinite(logprob) ? double(logprob) : -9999.0; }

json response_header(const GenerationJob& job, const char* object) {
  return json{{"id", job.options().id},
              {"object", object},
              {"created", job.options().created},
              {"model", job.options().model}};
}

json finish_json(const std::string& reason) { return reason.empty() ? json() : json(reason); }

}  // namespace

int64_t count_code_points(const std::string& text) {
  int64_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

json usage_json(const GenerationJob& job) {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t completion_tokens = job.n_discarded_tokens();
  int32_t last_prompt = -1;
  for (const ChoiceState& choice : job.choices()) {
    completion_tokens += int64_t(choice.tokens.size());
    // The n choices of one prompt share it, so count it once.
    if (choice.prompt_index != last_prompt) {
      prompt_tokens += int64_t(choice.prompt.size());
      cached_tokens += choice.n_cached_tokens;
      last_prompt = choice.prompt_index;
    }
  }
  return json{{"prompt_tokens", prompt_tokens},
              {"completion_tokens", completion_tokens},
              {"total_tokens", prompt_tokens + completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

json chat_logprobs(const Tokenizer& tokenizer, std::span<const SampledToken> tokens, int32_t top_n) {
  json content = json::array();
  for (const SampledToken& sampled : tokens) {
    std::string piece = tokenizer.token_bytes(sampled.token);
    json top = json::array();
    for (size_t k = 0; k < sampled.top.size() && int32_t(k) < top_n; ++k) {
      std::string top_piece = tokenizer.token_bytes(sampled.top[k].token);
      top.push_back({{"token", top_piece}, {"logprob", finite(sampled.top[k].logprob)}, {"bytes", bytes_json(top_piece)}});
    }
    content.push_back({{"token", piece}, {"logprob", finite(sampled.logprob)}, {"bytes", bytes_json(piece)}, {"top_logprobs", top}});
  }
  return json{{"content", content}};
}

std::vector<int64_t> generated_text_offsets(const Tokenizer& tokenizer, std::span<const SampledToken> tokens,
                                            int64_t start) {
  std::vector<int64_t> offsets;
  offsets.reserve(tokens.size());
  for (const SampledToken& sampled : tokens) {
    offsets.push_back(start);
    if (!tokenizer.is_special(sampled.token)) start += count_code_points(tokenizer.token_bytes(sampled.token));
  }
  return offsets;
}

json legacy_logprobs(const Tokenizer& tokenizer, std::span<const SampledToken> tokens, int32_t top_n,
                     bool first_is_prompt_start, std::span<const int64_t> text_offsets) {
  json pieces = json::array();
  json token_logprobs = json::array();
  json top_logprobs = json::array();
  json offsets = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const SampledToken& sampled = tokens[i];
    pieces.push_back(tokenizer.token_bytes(sampled.token));
    offsets.push_back(i < text_offsets.size() ? text_offsets[i] : 0);
    if (i == 0 && first_is_prompt_start) {
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
      continue;
    }
    token_logprobs.push_back(finite(sampled.logprob));
    json top = json::object();
    for (size_t k = 0; k < sampled.top.size() && int32_t(k) < top_n; ++k) {
      top[tokenizer.token_bytes(sampled.top[k].token)] = finite(sampled.top[k].logprob);
    }
    top_logprobs.push_back(top);
  }
  return json{{"tokens", pieces}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", offsets}};
}

json prompt_logprobs_json(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt, std::span<const SampledToken> scored) {
  json list = json::array();
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (i == 0 || i >= scored.size()) {
      list.push_back(nullptr);
      continue;
    }
    json entry = json::object();
    const SampledToken& token = scored[i];
    for (size_t k = 0; k < token.top.size(); ++k) {
      entry[std::to_string(token.top[k].token)] = {{"logprob", finite(token.top[k].logprob)},
                                                   {"rank", int(k) + 1},
                                                   {"decoded_token", tokenizer.token_bytes(token.top[k].token)}};
    }
    std::string key = std::to_string(prompt[i]);
    if (!entry.contains(key)) {
      entry[key] = {{"logprob", finite(token.logprob)}, {"rank", nullptr}, {"decoded_token", tokenizer.token_bytes(prompt[i])}};
    }
    list.push_back(entry);
  }
  return list;
}

json chat_response(const GenerationJob& job) {
  json response = response_header(job, "chat.completion");
  json choices = json::array();
  for (const ChoiceState& choice : job.choices()) {
    json message = {{"role", "assistant"}, {"content", choice.text}};
    std::string finish_reason = choice.finish_reason;
    if (job.options().has_tools) {
      // Calls in the output become tool_calls; text before the first call stays content.
      ParsedToolOutput parsed = parse_tool_calls(choice.text, job.options().tool_call_policy);
      if (!parsed.tool_calls.empty()) {
        json calls = json::array();
        for (const ToolCall& call : parsed.tool_calls) {
          calls.push_back({{"id", call.id}, {"type", "function"},
                           {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        message["content"] = parsed.content.empty() ? json() : json(parsed.content);
        message["tool_calls"] = calls;
        finish_reason = "tool_calls";
      }
    }
    json logprobs;
    if (job.options().logprobs >= 0) logprobs = chat_logprobs(job.tokenizer(), choice.tokens, job.options().logprobs);
    choices.push_back({{"index", choice.index}, {"message", message}, {"logprobs", logprobs},
                       {"finish_reason", finish_json(finish_reason)}});
  }
  response["choices"] = choices;
  response["usage"] = usage_json(job);
  if (job.options().prompt_logprobs >= 0 && !job.choices().empty()) {
    const ChoiceState& first = job.choices().front();
    response["prompt_logprobs"] = prompt_logprobs_json(job.tokenizer(), first.prompt, first.prompt_logprobs);
  }
  return response;
}

namespace {

// Prompt tokens in the SampledToken shape, for echo without scores.
std::vector<SampledToken> unscored(const std::vector<int32_t>& prompt) {
  std::vector<SampledToken> tokens(prompt.size());
  for (size_t i = 0; i < prompt.size(); ++i) tokens[i].token = prompt[i];
  return tokens;
}

}  // namespace

EchoText echo_prompt(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt) {
  // The detokenizer's chunks add up to Tokenizer::decode() of the same ids, so
  // the text and the offsets come from one pass and cannot disagree.
  EchoText echo;
  echo.offsets.reserve(prompt.size());
  Detokenizer detokenizer(tokenizer, /*skip_special=*/false);
  int64_t n_code_points = 0;
  for (size_t i = 0; i < prompt.size(); ++i) {
    echo.offsets.push_back(n_code_points);
    if (i == 0 && prompt[i] == tokenizer.bos_id()) continue;
    std::string chunk = detokenizer.push(prompt[i]);
    n_code_points += count_code_points(chunk);
    echo.text += chunk;
  }
  echo.text += detokenizer.flush();
  return echo;
}

std::string echo_prompt_text(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt) {
  return echo_prompt(tokenizer, prompt).text;
}

json completion_response(const GenerationJob& job) {
  const JobOptions& options = job.options();
  json response = response_header(job, "text_completion");
  json choices = json::array();
  for (const ChoiceState& choice : job.choices()) {
    json logprobs;
    EchoText echo;
    if (options.echo) echo = echo_prompt(job.tokenizer(), choice.prompt);
    if (options.logprobs >= 0) {
      const int64_t generated_start = count_code_points(echo.text);
      const std::vector<int64_t> generated_offsets = generated_text_offsets(job.tokenizer(), choice.tokens, generated_start);
      if (options.echo) {
        std::vector<SampledToken> prompt_tokens = choice.prompt_logprobs.size() == choice.prompt.size()
                                                      ? choice.prompt_logprobs
                                                      : unscored(choice.prompt);
        logprobs = legacy_logprobs(job.tokenizer(), prompt_tokens, options.logprobs, true, echo.offsets);
        json generated = legacy_logprobs(job.tokenizer(), choice.tokens, options.logprobs, false, generated_offsets);
        for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
          for (auto& item : generated[key]) logprobs[key].push_back(item);
        }
      } else {
        logprobs = legacy_logprobs(job.tokenizer(), choice.tokens, options.logprobs, false, generated_offsets);
      }
    }
    std::string text = echo.text + choice.text;
    json entry = {{"index", choice.index}, {"text", text}, {"logprobs", logprobs},
                  {"finish_reason", finish_json(choice.finish_reason)}};
    if (options.prompt_logprobs >= 0) entry["prompt_logprobs"] = prompt_logprobs_json(job.tokenizer(), choice.prompt, choice.prompt_logprobs);
    choices.push_back(entry);
  }
  response["choices"] = choices;
  response["usage"] = usage_json(job);
  return response;
}

json chat_chunk(const GenerationJob& job, const ChoiceState& choice, bool with_role, const std::string& delta,
                std::span<const SampledToken> tokens, const std::string& finish_reason) {
  json chunk = response_header(job, "chat.completion.chunk");
  json delta_json = json::object();
  if (with_role) delta_json["role"] = "assistant";
  if (with_role || !delta.empty()) delta_json["content"] = delta;
  json logprobs;
  if (job.options().logprobs >= 0 && !tokens.empty()) logprobs = chat_logprobs(job.tokenizer(), tokens, job.options().logprobs);
  chunk["choices"] = json::array({{{"index", choice.index}, {"delta", delta_json}, {"logprobs", logprobs},
                                   {"finish_reason", finish_json(finish_reason)}}});
  if (job.options().include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json chat_tool_call_chunk(const GenerationJob& job, const ChoiceState& choice, const std::vector<ToolCallDelta>& calls) {
  json chunk = response_header(job, "chat.completion.chunk");
  json deltas = json::array();
  for (const ToolCallDelta& call : calls) {
    json delta = {{"index", call.index}};
    json function = json::object();
    if (!call.id.empty()) {
      delta["id"] = call.id;
      delta["type"] = "function";
      function["name"] = call.name;
    }
    function["arguments"] = call.arguments;
    delta["function"] = function;
    deltas.push_back(delta);
  }
  chunk["choices"] = json::array({{{"index", choice.index}, {"delta", {{"tool_calls", deltas}}}, {"logprobs", nullptr},
                                   {"finish_reason", nullptr}}});
  if (job.options().include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json completion_chunk(const GenerationJob& job, const ChoiceState& choice, const std::string& text,
                      std::span<const SampledToken> tokens, const std::string& finish_reason) {
  json chunk = response_header(job, "text_completion");
  json logprobs;
  // NOTE: text_offset in a stream chunk counts from the chunk's own text, not from the start of the output.
  if (job.options().logprobs >= 0 && !tokens.empty()) {
    logprobs = legacy_logprobs(job.tokenizer(), tokens, job.options().logprobs, false,
                               generated_text_offsets(job.tokenizer(), tokens, 0));
  }
  chunk["choices"] = json::array({{{"index", choice.index}, {"text", text}, {"logprobs", logprobs},
                                   {"finish_reason", finish_json(finish_reason)}}});
  if (job.options().include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json usage_chunk(const GenerationJob& job) {
  const char* object = job.options().kind == ApiKind::Chat ? "chat.completion.chunk" : "text_completion";
  json chunk = response_header(job, object);
  chunk["choices"] = json::array();
  chunk["usage"] = usage_json(job);
  return chunk;
}

}  // namespace brasa::server
