#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace brasa::server {

// A Prometheus histogram with fixed upper bounds in seconds. Thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines in the Prometheus text format.
  void render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // one per bound, plus +Inf, not cumulative
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

// The server's own counters; engine figures are read from EngineStats when rendering.
class ServerMetrics {
 public:
  ServerMetrics();

  void count_request(int status);
  void add_tokens(int64_t prompt_tokens, int64_t generation_tokens);

  Histogram time_to_first_token;
  Histogram inter_token_latency;
  Histogram e2e_request_latency;

  // Renders every metric in the Prometheus text exposition format 0.0.4.
  std::string render(const EngineStats& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> requests_by_status_;
  std::atomic<int64_t> prompt_tokens_{0};
  std::atomic<int64_t> generation_tokens_{0};
};

}  // namespace brasa::server
