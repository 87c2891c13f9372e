#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/sequence.h"

namespace brasa {

struct SchedulerConfig {
  int32_t max_num_seqs = 64;
  int32_t max_num_batched_tokens = 512;
};

// One sequence's share of a step: tokens [start_pos, start_pos + n_tokens).
struct ScheduledSequence {
  Sequence* seq = nullptr;
  int32_t start_pos = 0;
  int32_t n_tokens = 0;
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;
  std::vector<Sequence*> preempted;   // moved back to the waiting queue this step
  std::vector<Sequence*> admitted;    // moved from waiting to running this step
  int32_t n_tokens = 0;
};

// Prefix-cache figures for EngineStats.
struct SchedulerCounters {
  int64_t prefix_cache_queries = 0;
  int64_t prefix_cache_hits = 0;
  int64_t n_preemptions = 0;
};

// Continuous-batching scheduler. Owns the sequences from add() until finish()
// or remove(). Not thread-safe: the engine thread alone calls it.
class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvCacheManager& kv);

  // Appends a sequence to the waiting queue.
  void add(std::unique_ptr<Sequence> seq);

  // Picks the tokens of the next step.
  SchedulerOutput schedule();

  // Frees the blocks of a sequence and drops it; returns it to the caller.
  std::unique_ptr<Sequence> finish(Sequence* seq);

  // Removes a waiting or running sequence by request id (cancel); null when not found.
  std::unique_ptr<Sequence> remove(const std::string& id);

  const std::deque<std::unique_ptr<Sequence>>& waiting() const { return waiting_; }
  const std::vector<std::unique_ptr<Sequence>>& running() const { return running_; }
  bool empty() const { return waiting_.empty() && running_.empty(); }
  const SchedulerCounters& counters() const { return counters_; }

 private:
  int32_t tokens_to_schedule(const Sequence& seq, int32_t start, int32_t budget) const;
  void preempt_last(SchedulerOutput& out);

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // in order of admission
  SchedulerCounters counters_;
  int64_t next_admit_order_ = 0;
};

}  // namespace brasa
