#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "engine/request.h"

namespace brasa {

// Chooses the next token of one sequence from its logits row, in these steps:
// 1. logit_bias.
// 2. repetition_penalty over prompt and output tokens: a seen token's positive
//    logit is divided by it and a negative one multiplied (the HF convention).
// 3. presence and frequency penalties over output tokens (OpenAI's formula).
// 4. logprobs from these processed logits, before temperature.
// 5. temperature (0: greedy argmax, the lowest id on ties), top-k, top-p, min-p,
//    and a draw from the seeded RNG.
// Each sequence owns one Sampler, so the same seed gives the same tokens.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  SampledToken sample(const float* logits, int32_t vocab_size, std::span<const int32_t> prompt,
                      std::span<const int32_t> output);

  // Applies logit_bias and the penalties to `logits` in place.
  void process_logits(float* logits, int32_t vocab_size, std::span<const int32_t> prompt,
                      std::span<const int32_t> output) const;

 private:
  int32_t draw(int32_t vocab_size);
  double uniform();

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> processed_;
  std::vector<float> probs_;
  std::vector<int32_t> order_;
};

// Log-probability of `token` and the top_n most likely tokens (best first, the
// lower id first on ties) under an F32 stable log-softmax of `logits`.
SampledToken compute_logprobs(const float* logits, int32_t vocab_size, int32_t token, int32_t top_n);

}  // namespace brasa
