#include "engine/engine.h"

#include <atomic>
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
    while (!stopping_) {
      if (!core_.step()) core_.wait_for_work();
    }
    spdlog::debug("engine: step thread stopped");
  }

  EngineCore core_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

std::unique_ptr<Engine> make_engine(Model& model, const EngineConfig& config) {
  return std::make_unique<ThreadedEngine>(model, config);
}

}  // namespace brasa
