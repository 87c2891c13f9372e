#include "server/metrics.h"

#include <cstdio>

namespace brasa::server {

namespace {

std::string format_number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

void render_value(const char* name, const char* type, const char* help, double value, std::string& out) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  out += std::string(name) + " " + format_number(value) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double seconds) {
  std::lock_guard lock(mutex_);
  size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += seconds;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& help, std::string& out) const {
  std::lock_guard lock(mutex_);
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + format_number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += counts_.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += name + "_sum " + format_number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

// Bucket bounds in seconds, from a millisecond CPU step up to minute-long generations.
ServerMetrics::ServerMetrics()
    : time_to_first_token({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                           20.0, 40.0, 80.0}),
      inter_token_latency({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}),
      e2e_request_latency({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0}) {}

void ServerMetrics::count_request(int status) {
  std::lock_guard lock(mutex_);
  ++requests_by_status_[status];
}

void ServerMetrics::add_tokens(int64_t prompt_tokens, int64_t generation_tokens) {
  prompt_tokens_ += prompt_tokens;
  generation_tokens_ += generation_tokens;
}

std::string ServerMetrics::render(const EngineStats& engine) const {
  std::string out;
  out += "# HELP brasa_requests_total HTTP requests served, by response status. Status 499 (nginx's "
         "\"client closed request\") counts requests whose client disconnected before the response was "
         "complete; no 499 is ever sent.\n# TYPE brasa_requests_total counter\n";
  {
    std::lock_guard lock(mutex_);
    for (const auto& [status, count] : requests_by_status_) {
      out += "brasa_requests_total{status=\"" + std::to_string(status) + "\"} " + std::to_string(count) + "\n";
    }
  }
  render_value("brasa_prompt_tokens_total", "counter", "Prompt tokens of finished requests.", double(prompt_tokens_), out);
  render_value("brasa_generation_tokens_total", "counter", "Generated tokens of finished requests.",
               double(generation_tokens_), out);
  time_to_first_token.render("brasa_time_to_first_token_seconds", "Time from request arrival to the first token.", out);
  inter_token_latency.render("brasa_inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", out);
  e2e_request_latency.render("brasa_e2e_request_latency_seconds", "Time from request arrival to its last token.", out);

  render_value("brasa_num_requests_running", "gauge", "Sequences the engine is running.", engine.n_running, out);
  render_value("brasa_num_requests_waiting", "gauge", "Sequences waiting for the engine.", engine.n_waiting, out);
  render_value("brasa_kv_cache_blocks_total", "gauge", "KV blocks in the pool.", engine.kv_blocks_total, out);
  render_value("brasa_kv_cache_blocks_used", "gauge", "KV blocks held by running sequences.", engine.kv_blocks_used, out);
  render_value("brasa_kv_cache_blocks_cached", "gauge", "Free KV blocks that still hold a reusable prefix.",
               engine.kv_blocks_cached, out);
  double usage = engine.kv_blocks_total > 0 ? double(engine.kv_blocks_used) / engine.kv_blocks_total : 0.0;
  render_value("brasa_kv_cache_usage_ratio", "gauge", "Fraction of KV blocks held by running sequences.", usage, out);
  render_value("brasa_prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.",
               double(engine.prefix_cache_queries), out);
  render_value("brasa_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
               double(engine.prefix_cache_hits), out);
  double hit_rate = engine.prefix_cache_queries > 0 ? double(engine.prefix_cache_hits) / engine.prefix_cache_queries : 0.0;
  render_value("brasa_prefix_cache_hit_rate", "gauge", "Prefix cache hits over queries, in tokens, since start.", hit_rate, out);
  render_value("brasa_num_preemptions_total", "counter", "Sequences preempted for lack of KV blocks.",
               double(engine.n_preemptions), out);
  return out;
}

}  // namespace brasa::server
