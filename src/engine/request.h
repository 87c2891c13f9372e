#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "structured/constraint.h"

namespace brasa {

// Sampling settings of one sequence, with the OpenAI defaults.
struct SamplingParams {
  float temperature = 1.0f;         // 0 means greedy
  float top_p = 1.0f;
  int32_t top_k = 0;                // 0 means off
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // 1 means off; applies to prompt and output tokens
  float presence_penalty = 0.0f;    // OpenAI: output tokens only
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;
  std::vector<std::pair<int32_t, float>> logit_bias;
  int32_t logprobs = -1;            // -1: none; N >= 0: chosen token plus top N alternatives
  int32_t prompt_logprobs = -1;     // -1: none; N >= 0: score every prompt token, top N alternatives
};

// A token id with its log-probability (F32 log-softmax of the processed logits).
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

// One sampled token, with logprobs when requested.
struct SampledToken {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;    // the top N alternatives, best first
};

enum class FinishReason { None, Stop, Length, Cancelled, Error };

// A sequence to generate: one choice of an API request.
struct GenerationRequest {
  std::string id;                   // unique, for logs and cancel()
  std::vector<int32_t> prompt;
  int32_t max_tokens = 16;          // may be 0 with prompt_logprobs: score only
  SamplingParams sampling;
  std::vector<int32_t> stop_token_ids;  // end generation, not included in the output text
  bool ignore_eos = false;          // when set, stop_token_ids do not end generation
  std::unique_ptr<TokenConstraint> constraint;  // may be null
};

// The report the engine sends for a sequence after a step. Called on the engine
// thread: the callback must not block (post the work to another thread).
struct GenerationUpdate {
  std::vector<SampledToken> tokens;        // new tokens this step; a stop token is never included
  // Prompt logprobs, sent once in the first update when requested: entry i
  // scores prompt token i (entry 0 has no logprob and is reported as null).
  std::vector<SampledToken> prompt_logprobs;
  bool finished = false;
  FinishReason finish_reason = FinishReason::None;
  int32_t n_prompt_tokens = 0;
  int32_t n_cached_tokens = 0;             // prompt tokens served from the prefix cache
  std::string error;                       // set when finish_reason is Error
};

using UpdateCallback = std::function<void(const GenerationUpdate&)>;

}  // namespace brasa
