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
// Sorting a 200k-token vocabulary costs more than a whole decode step of a small
// model, so tokens are ordered only as far as the filters can keep them, and
// not at all when no filter is set.
int32_t Sampler::draw(int32_t vocab_size) {
  // 1. Softmax at the temperature over the whole vocabulary, in id order.
  const float inv_t = 1.0f / params_.temperature;
  const float* x = processed_.data();
  float max_scaled = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < vocab_size; ++i) max_scaled = std::max(max_scaled, x[i] * inv_t);
  probs_.resize(size_t(vocab_size));
  double total = 0.0;
  for (int32_t i = 0; i < vocab_size; ++i) {
    probs_[size_t(i)] = std::exp(x[i] * inv_t - max_scaled);
    total += probs_[size_t(i)];
  }
  if (!(total > 0.0)) return argmax_lowest(x, vocab_size);  // every logit is -inf

  const bool filtered = params_.top_k > 0 || params_.top_p < 1.0f || params_.min_p > 0.0f;
  if (!filtered) {
    double target = uniform() * total;
    double cumulative = 0.0;
    for (int32_t i = 0; i < vocab_size; ++i) {
      cumulative += probs_[size_t(i)];
      if (target < cumulative) return i;
    }
    return argmax_lowest(x, vocab_size);
  }

  // 2. Order candidates by probability, best first (lowest id on ties). top-k and
  // min-p bound how many can be kept; min-p keeps tokens with at least min_p
  // times the top probability, which is exp(0) = 1 after subtracting the max.
  order_.resize(size_t(vocab_size));
  std::iota(order_.begin(), order_.end(), 0);
  const float* p = probs_.data();
  auto better = [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
  int32_t limit = params_.top_k > 0 ? std::min(vocab_size, params_.top_k) : vocab_size;
  if (params_.min_p > 0.0f) {
    int32_t above = 0;
    for (int32_t i = 0; i < vocab_size; ++i) above += p[i] >= params_.min_p ? 1 : 0;
    limit = std::min(limit, std::max(above, 1));
  }

  // top-p needs its denominator: the mass of the top-k set, or of the whole
  // vocabulary. Without top-k, grow the sorted prefix until it contains top_p of that mass.
  int32_t n = (params_.top_p < 1.0f && params_.top_k <= 0) ? std::min(limit, 256) : limit;
  double denominator = total;
  while (true) {
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), better);
    if (params_.top_p >= 1.0f || n == limit) break;
    double mass = 0.0;
    for (int32_t i = 0; i < n; ++i) mass += p[order_[size_t(i)]];
    if (mass >= double(params_.top_p) * denominator) break;
    n = std::min(limit, n * 8);
  }
  if (params_.top_k > 0) {
    denominator = 0.0;
    for (int32_t i = 0; i < n; ++i) denominator += p[order_[size_t(i)]];
  }

  // 3. top-p: the smallest prefix whose probability mass reaches top_p.
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (int32_t i = 0; i < n; ++i) {
      cumulative += p[order_[size_t(i)]] / denominator;
      if (cumulative >= params_.top_p) {
        n = i + 1;
        break;
      }
    }
  }

  // 4. Draw from what is left.
  double kept = 0.0;
  for (int32_t i = 0; i < n; ++i) kept += p[order_[size_t(i)]];
  double target = uniform() * kept;
  double cumulative = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    cumulative += p[order_[size_t(i)]];
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
