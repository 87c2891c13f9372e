#include "engine/token_scoring.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace brasa {

namespace {

// log(sum(exp(x))) computed from the max, so large logits do not overflow.
float log_sum_exp(std::span<const float> logits) {
  float max = -std::numeric_limits<float>::infinity();
  for (float x : logits) max = std::max(max, x);
  if (!std::isfinite(max)) return max;
  double sum = 0.0;
  for (float x : logits) sum += std::exp(double(x - max));
  return max + float(std::log(sum));
}

std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, float lse, int32_t top_n) {
  std::vector<TokenLogprob> top;
  if (top_n <= 0) return top;
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const size_t n = std::min(size_t(top_n), ids.size());
  std::partial_sort(ids.begin(), ids.begin() + std::ptrdiff_t(n), ids.end(), [&](int32_t a, int32_t b) {
    return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
  });
  for (size_t i = 0; i < n; ++i) top.push_back({ids[i], logits[size_t(ids[i])] - lse});
  return top;
}

}  // namespace

SampledToken score_token(std::span<const float> logits, int32_t token, int32_t top_n) {
  BRASA_CHECK(token >= 0 && size_t(token) < logits.size(), "token id outside the logits row");
  const float lse = log_sum_exp(logits);
  SampledToken scored;
  scored.token = token;
  scored.logprob = logits[size_t(token)] - lse;
  scored.top = top_logprobs(logits, lse, top_n);
  return scored;
}

SampledToken pick_token(std::span<const float> logits, const SamplingParams& params, std::mt19937_64& rng) {
  int32_t chosen = 0;
  if (params.temperature <= 0.0f) {
    chosen = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  } else {
    // Candidates sorted by logit, cut by top_k, then by top_p on their softmax.
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    size_t n = ids.size();
    if (params.top_k > 0) n = std::min(n, size_t(params.top_k));
    while (n > 1 && !std::isfinite(logits[size_t(ids[n - 1])])) --n;

    std::vector<double> probs(n);
    const double max = logits[size_t(ids[0])];
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      probs[i] = std::exp((double(logits[size_t(ids[i])]) - max) / params.temperature);
      sum += probs[i];
    }
    if (params.top_p < 1.0f) {
      double kept_mass = 0.0;
      size_t cut = 0;
      while (cut < n && kept_mass < params.top_p * sum) kept_mass += probs[cut++];
      n = std::max<size_t>(cut, 1);
      probs.resize(n);
      sum = std::accumulate(probs.begin(), probs.end(), 0.0);
    }
    double draw = std::uniform_real_distribution<double>(0.0, sum)(rng);
    size_t pick = 0;
    while (pick + 1 < n && draw >= probs[pick]) draw -= probs[pick++];
    chosen = ids[pick];
  }

  SampledToken sampled = score_token(logits, chosen, std::max(params.logprobs, 0));
  return sampled;
}

}  // namespace brasa
