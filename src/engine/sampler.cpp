#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace brasa {

namespace {

int32_t argmax_lowest(const float* x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

}  // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  uint64_t seed = params.seed.has_value() ? *params.seed : (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  rng_.seed(seed);
}

double Sampler::uniform() {
  // 53 random bits give a double in [0, 1) that is identical on every platform,
  // unlike std::uniform_real_distribution, whose algorithm is unspecified.
  return double(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

void Sampler::process_logits(float* logits, int32_t vocab_size, std::span<const int32_t> prompt,
                             std::span<const int32_t> output) const {
  for (const auto& [token, bias] : params_.logit_bias) {
    if (token >= 0 && token < vocab_size) logits[token] += bias;
  }

  if (params_.repetition_penalty != 1.0f) {
    const float penalty = params_.repetition_penalty;
    std::vector<bool> seen(static_cast<size_t>(vocab_size), false);
    for (std::span<const int32_t> tokens : {prompt, output}) {
      for (int32_t t : tokens) {
        if (t < 0 || t >= vocab_size || seen[size_t(t)]) continue;
        seen[size_t(t)] = true;
        logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
      }
    }
  }

  // OpenAI: logit -= count * frequency_penalty + (count > 0) * presence_penalty.
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    std::vector<int32_t> counts(static_cast<size_t>(vocab_size), 0);
    for (int32_t t : output) {
      if (t >= 0 && t < vocab_size) ++counts[size_t(t)];
    }
    for (int32_t t = 0; t < vocab_size; ++t) {
      int32_t c = counts[size_t(t)];
      if (c > 0) logits[t] -= float(c) * params_.frequency_penalty + params_.presence_penalty;
    }
  }
}

SampledToken Sampler::sample(const float* logits, int32_t vocab_size, std::span<const int32_t> prompt,
                             std::span<const int32_t> output) {
  BRASA_CHECK(vocab_size > 0, "sample: empty logits row");
  processed_.assign(logits, logits + vocab_size);
  process_logits(processed_.data(), vocab_size, prompt, output);

  int32_t token = params_.temperature <= 0.0f ? argmax_lowest(processed_.data(), vocab_size) : draw(vocab_size);

  SampledToken result;
  if (params_.logprobs >= 0) {
    result = compute_logprobs(processed_.data(), vocab_size, token, params_.logprobs);
  } else {
    result.token = token;
  }
  return result;
}

// Samples from the processed logits after temperature, top-k, top-p and min-p.
int32_t Sampler::draw(int32_t vocab_size) {
  // 1. Softmax at the temperature, in descending order of probability.
  const float inv_t = 1.0f / params_.temperature;
  order_.resize(size_t(vocab_size));
  std::iota(order_.begin(), order_.end(), 0);
  const float* x = processed_.data();
  auto better = [x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };

  // With top-k only the k best need ordering, which keeps large vocabularies cheap.
  int32_t n = vocab_size;
  if (params_.top_k > 0) n = std::min(n, params_.top_k);
  std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), better);

  probs_.resize(size_t(n));
  const float max_logit = x[order_[0]] * inv_t;
  double sum = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    probs_[size_t(i)] = std::exp(x[order_[size_t(i)]] * inv_t - max_logit);
    sum += probs_[size_t(i)];
  }
  if (!(sum > 0.0)) return order_[0];  // every kept logit is -inf: fall back to the best

  // 2. top-p: the smallest prefix whose probability mass reaches top_p.
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    int32_t keep = n;
    for (int32_t i = 0; i < n; ++i) {
      cumulative += probs_[size_t(i)] / sum;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }

  // 3. min-p: drop tokens below min_p times the top probability.
  if (params_.min_p > 0.0f) {
    const float threshold = params_.min_p * probs_[0];
    int32_t keep = 1;
    while (keep < n && probs_[size_t(keep)] >= threshold) ++keep;
    n = keep;
  }

  // 4. Draw from what is left.
  double kept = 0.0;
  for (int32_t i = 0; i < n; ++i) kept += probs_[size_t(i)];
  double target = uniform() * kept;
  double cumulative = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    cumulative += probs_[size_t(i)];
    if (target < cumulative) return order_[size_t(i)];
  }
  return order_[size_t(n - 1)];
}

SampledToken compute_logprobs(const float* logits, int32_t vocab_size, int32_t token, int32_t top_n) {
  // Stable log-softmax: log p_i = x_i - max - log(sum exp(x_j - max)), accumulated in F32.
  float max_logit = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < vocab_size; ++i) max_logit = std::max(max_logit, logits[i]);
  float sum = 0.0f;
  for (int32_t i = 0; i < vocab_size; ++i) sum += std::exp(logits[i] - max_logit);
  const float log_sum = std::log(sum);

  SampledToken result;
  result.token = token;
  result.logprob = logits[token] - max_logit - log_sum;

  int32_t n = std::min(top_n, vocab_size);
  if (n > 0) {
    std::vector<int32_t> order(static_cast<size_t>(vocab_size));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [logits](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int32_t i = 0; i < n; ++i) {
      int32_t id = order[size_t(i)];
      result.top.push_back({id, logits[id] - max_logit - log_sum});
    }
  }
  return result;
}

}  // namespace brasa
