#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "engine/request.h"
#include "models/model.h"

namespace brasa {

struct EngineConfig {
  int32_t max_num_seqs = 64;            // running sequences at most
  int32_t max_num_batched_tokens = 512; // tokens per step, prefill chunks included
  int32_t max_model_len = 0;            // 0: the model's context length
  int64_t kv_cache_bytes = 256ll << 20; // pool size for global and local layers together
  int32_t block_size = 16;
  DType kv_cache_dtype = DType::F32;    // KV element type, F32 or F16 (2 bytes an element)
  int32_t max_waiting = 256;            // bounded waiting queue; past it submit() rejects
  bool enable_prefix_caching = true;
};

// Live figures for /metrics and the periodic log line.
struct EngineStats {
  int32_t n_running = 0;
  int32_t n_waiting = 0;
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_used = 0;           // held by running sequences
  int32_t kv_blocks_cached = 0;         // free but still holding a reusable prefix
  int64_t prefix_cache_queries = 0;     // prompt tokens looked up
  int64_t prefix_cache_hits = 0;        // prompt tokens found
  int64_t n_preemptions = 0;
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
};

// Invalid: an empty prompt, a token id outside the vocabulary, a negative
// max_tokens, or an id that is already queued or running.
enum class SubmitResult { Accepted, QueueFull, TooLong, Invalid };

// Continuous-batching engine: owns the KV cache and runs model steps on its own
// thread. submit() and cancel() are thread-safe.
class Engine {
 public:
  virtual ~Engine() = default;

  // Queues a sequence. Returns QueueFull when the waiting queue is at its bound and
  // TooLong when prompt plus max_tokens can never fit; the callback is then never called.
  virtual SubmitResult submit(GenerationRequest request, UpdateCallback callback) = 0;

  // Cancels a sequence; its blocks are free before the next step. The callback
  // gets a final update with FinishReason::Cancelled unless it already finished.
  virtual void cancel(const std::string& id) = 0;

  virtual EngineStats stats() const = 0;
  virtual const ModelInfo& model_info() const = 0;
  virtual int32_t max_model_len() const = 0;

  // Starts and stops the step thread; stop() cancels what is still running.
  virtual void start() = 0;
  virtual void stop() = 0;
};

std::unique_ptr<Engine> make_engine(Model& model, const EngineConfig& config);

}  // namespace brasa
