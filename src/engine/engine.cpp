#include "engine/engine.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/engine_core.h"

namespace brasa {

namespace {

// Runs EngineCore::step() on its own thread, sleeping while there is no work.
class ThreadedEngine : public Engine {
 public:
  ThreadedEngine(Model& model, const EngineConfig& config) : core_(model, config) {}
  ~ThreadedEngine() override { stop(); }

  SubmitResult submit(GenerationRequest request, UpdateCallback callback) override {
    return core_.submit(std::move(request), std::move(callback));
  }
  void cancel(const std::string& id) override { core_.cancel(id); }
  EngineStats stats() const override { return core_.stats(); }
  const ModelInfo& model_info() const override { return core_.model_info(); }
  int32_t max_model_len() const override { return core_.max_model_len(); }

  void start() override {
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { loop(); });
  }

  void stop() override {
    if (!thread_.joinable()) return;
    stopping_ = true;
    core_.wake();
    thread_.join();
    core_.cancel_all();
  }

 private:
  void loop() {
    spdlog::debug("engine: step thread started");
    auto last_log = std::chrono::steady_clock::now();
    EngineStats last_stats = core_.stats();
    while (!stopping_) {
      if (!core_.step()) {
        core_.wait_for_work();
        continue;
      }

      // One aggregate line per interval while there is work, none while idle.
      const auto now = std::chrono::steady_clock::now();
      const double elapsed_s = std::chrono::duration<double>(now - last_log).count();
      if (elapsed_s >= kLogInterval_s) {
        const EngineStats stats = core_.stats();
        log_stats(stats, last_stats, elapsed_s);
        last_stats = stats;
        last_log = now;
      }
    }
    spdlog::debug("engine: step thread stopped");
  }

  static void log_stats(const EngineStats& stats, const EngineStats& last, double elapsed_s) {
    const double prompt_rate = double(stats.prompt_tokens_total - last.prompt_tokens_total) / elapsed_s;
    const double generation_rate = double(stats.generation_tokens_total - last.generation_tokens_total) / elapsed_s;
    const int64_t queries = stats.prefix_cache_queries - last.prefix_cache_queries;
    const int64_t hits = stats.prefix_cache_hits - last.prefix_cache_hits;
    spdlog::info(
        "engine: prompt {:.1f} tokens/s, generation {:.1f} tokens/s, running {}, waiting {}, KV blocks {}/{} used, "
        "{} cached, prefix cache hit rate {:.1f}%, preemptions {}",
        prompt_rate, generation_rate, stats.n_running, stats.n_waiting, stats.kv_blocks_used, stats.kv_blocks_total,
        stats.kv_blocks_cached, queries > 0 ? 100.0 * double(hits) / double(queries) : 0.0,
        stats.n_preemptions - last.n_preemptions);
  }

  static constexpr double kLogInterval_s = 10.0;

  EngineCore core_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

std::unique_ptr<Engine> make_engine(Model& model, const EngineConfig& config) {
  return std::make_unique<ThreadedEngine>(model, config);
}

}  // namespace brasa
