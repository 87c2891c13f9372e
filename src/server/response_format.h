#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "server/generation_job.h"

namespace brasa::server {

// JSON shapes of the OpenAI API (and vLLM's prompt_logprobs extension) for
// whole responses and stream chunks.

nlohmann::json usage_json(const GenerationJob& job);
nlohmann::json chat_response(const GenerationJob& job);
nlohmann::json completion_response(const GenerationJob& job);

// A chat.completion.chunk for one choice. `tokens` are the tokens behind the
// delta, for logprobs; `finish_reason` is empty while the choice runs.
nlohmann::json chat_chunk(const GenerationJob& job, const ChoiceState& choice, bool with_role, const std::string& delta,
                          std::span<const SampledToken> tokens, const std::string& finish_reason);
// A chat.completion.chunk whose delta carries tool_calls: the first delta of a
// call has index, id, type and function.name, later ones only index and a
// function.arguments fragment.
nlohmann::json chat_tool_call_chunk(const GenerationJob& job, const ChoiceState& choice,
                                    const std::vector<ToolCallDelta>& calls);
nlohmann::json completion_chunk(const GenerationJob& job, const ChoiceState& choice, const std::string& text,
                                std::span<const SampledToken> tokens, const std::string& finish_reason);
// The last chunk when include_usage is set: no choices, only usage.
nlohmann::json usage_chunk(const GenerationJob& job);

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs}]}.
nlohmann::json chat_logprobs(const Tokenizer& tokenizer, std::span<const SampledToken> tokens, int32_t top_n);

// Legacy completions logprobs: {tokens, token_logprobs, top_logprobs, text_offset}.
// `first_is_prompt_start` makes the first entry's logprob null (the first
// prompt token has no context to score it). `text_offsets` has one entry per token.
nlohmann::json legacy_logprobs(const Tokenizer& tokenizer, std::span<const SampledToken> tokens, int32_t top_n,
                               bool first_is_prompt_start, std::span<const int64_t> text_offsets);

// Offsets of generated tokens in code points, from `start`: each token's text
// follows the previous one's, and special tokens add no text.
std::vector<int64_t> generated_text_offsets(const Tokenizer& tokenizer, std::span<const SampledToken> tokens,
                                            int64_t start);

// vLLM's prompt_logprobs: null for the first token, then per token an object
// from token id to {logprob, rank, decoded_token}.
nlohmann::json prompt_logprobs_json(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                                    std::span<const SampledToken> scored);

// Number of Unicode code points in UTF-8 text, the unit of text_offset.
int64_t count_code_points(const std::string& text);

// The prompt text that echo puts in front of a completion (the prompt decoded
// without the BOS token that tokenization added), and where each prompt token
// starts in it, in code points. A leading BOS is at offset 0. A SentencePiece
// vocabulary drops the space of the first token's "▁" from the text, so the
// offsets count it nowhere.
struct EchoText {
  std::string text;
  std::vector<int64_t> offsets;  // one per prompt token
};
EchoText echo_prompt(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt);
std::string echo_prompt_text(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt);

}  // namespace brasa::server
