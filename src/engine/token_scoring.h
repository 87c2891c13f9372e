#pragma once

#include <cstdint>
#include <random>
#include <span>

#include "engine/request.h"

namespace brasa {

// Scores `token` under the log-softmax of a raw logits row and adds the top
// `top_n` alternatives, best first (ties: lower id first). Used for prompt
// logprobs, which score the model's distribution before any sampling setting.
SampledToken score_token(std::span<const float> logits, int32_t token, int32_t top_n);

// Picks the next token from a logits row: argmax at temperature 0 (lowest id
// on ties), else a draw from softmax(logits / temperature) restricted by top_k
// and top_p. Masked tokens carry -infinity and are never picked.
// TODO: replace with the full sampler (penalties, logit_bias, min_p) once
// engine/sampler.h lands; this covers only what the engine tests need.
SampledToken pick_token(std::span<const float> logits, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace brasa
