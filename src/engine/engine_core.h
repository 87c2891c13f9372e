#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "engine/kv_cache_manager.h"
#include "engine/scheduler.h"
#include "kernels/kv_pool.h"

namespace brasa {

// Sizes of the two KV pools for a model and a byte budget.
struct KvPoolSizes {
  int32_t n_global_blocks = 0;
  int32_t n_local_blocks = 0;
};

// Splits kv_cache_bytes between the global pool and the local pool of
// chunked-local layers. The split fits max_num_seqs sequences of one length L
// that fill the budget together (L capped at max_model_len): each needs L
// positions globally and min(L, chunk_size) locally. The local pool gets at
// least one chunk. Each element takes kv_element_bytes(kv_dtype) bytes. Throws
// brasa::Error when the budget is smaller than one block of each.
KvPoolSizes size_kv_pools(const KvGeometry& kv, int64_t kv_cache_bytes, int32_t block_size, int64_t max_model_len,
                          int32_t max_num_seqs = 1, DType kv_dtype = DType::F32);

// The engine without its thread. submit() and cancel() are thread-safe and
// queue their work for step(), which runs one scheduler step and the model on
// the calling thread. Tests drive step() directly, and make_engine runs it in a loop.
class EngineCore {
 public:
  EngineCore(Model& model, const EngineConfig& config);

  SubmitResult submit(GenerationRequest request, UpdateCallback callback);
  void cancel(const std::string& id);

  // Takes in the queued submissions and cancellations, then schedules and runs
  // one step and sends the updates. Returns false when there was nothing to run.
  bool step();

  // Blocks until a submission or cancellation is queued or wake() is called.
  void wait_for_work();
  void wake();

  // Finishes every sequence with FinishReason::Cancelled (engine shutdown).
  void cancel_all();

  EngineStats stats() const;
  const ModelInfo& model_info() const { return model_.info(); }
  int32_t max_model_len() const { return max_model_len_; }

  // Block pools and sequences, one line each; also logged after every step when BRASA_DEBUG_KV=1.
  std::string dump() const;

  // Internals, for tests.
  KvCacheManager& kv() { return kv_; }
  Scheduler& scheduler() { return scheduler_; }

 private:
  void take_in_queued_work();
  void run_step(const SchedulerOutput& plan);
  void process_sequence(const ScheduledSequence& item, const StepOutput& out, size_t index,
                        std::vector<Sequence*>& finished);
  void score_prompt_rows(Sequence& seq, int32_t start_pos, int32_t n_tokens, const StepOutput& out, int64_t first_row);
  void send(Sequence& seq, GenerationUpdate update);
  void finish_with_error(Sequence& seq, const std::string& message);
  void publish_stats();

  Model& model_;
  EngineConfig config_;
  int32_t max_model_len_ = 0;
  KvPoolStorage global_storage_;
  KvPoolStorage local_storage_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  bool debug_kv_ = false;
  // Reused from step to step, so that a decode step does not allocate and
  // fault in its logits again (26 MB at batch 32 with a 202,048-token
  // vocabulary). run_step frees it after a step that needed far more.
  StepOutput step_output_;

  // Guarded by mutex_: work queued by other threads for the next step.
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::vector<std::unique_ptr<Sequence>> submitted_;
  std::vector<std::string> cancelled_;
  std::unordered_set<std::string> live_ids_;
  int32_t n_waiting_ = 0;  // submitted plus the scheduler's waiting queue
  bool woken_ = false;
  EngineStats stats_;
  int64_t prompt_tokens_total_ = 0;
  int64_t generation_tokens_total_ = 0;
};

}  // namespace brasa
