#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace brasa {

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager& kv) : config_(config), kv_(kv) {
  BRASA_CHECK(config.max_num_seqs > 0, "max_num_seqs must be positive");
  BRASA_CHECK(config.max_num_batched_tokens > 0, "max_num_batched_tokens must be positive");
}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
  seq->status = SequenceStatus::Waiting;
  kv_.update_hashes(*seq);
  waiting_.push_back(std::move(seq));
}

int32_t Scheduler::tokens_to_schedule(const Sequence& seq, int32_t start, int32_t budget) const {
  int32_t n = std::min<int32_t>(int32_t(seq.tokens.size()) - start, budget);

  // Stop at the chunk boundary, so one step never needs the local blocks of two chunks.
  const int32_t chunk = kv_.config().chunk_size;
  if (chunk > 0) n = std::min(n, chunk - start % chunk);
  return std::max(n, 0);
}

void Scheduler::preempt_last(SchedulerOutput& out) {
  std::unique_ptr<Sequence> victim = std::move(running_.back());
  running_.pop_back();
  kv_.free(*victim);
  victim->status = SequenceStatus::Waiting;
  victim->n_preemptions += 1;
  counters_.n_preemptions += 1;
  out.preempted.push_back(victim.get());
  waiting_.push_front(std::move(victim));
}

// There is no prefill phase and no decode phase: each step, every running
// sequence's n_computed catches up with its tokens as far as the token budget
// allows, and a long prompt is split over steps (chunked prefill). Running
// sequences go first, in admission order, so a new prompt never stalls a
// stream. When the pool runs out, the most recently admitted sequence is
// preempted: its blocks are freed and it is recomputed later from the front
// of the waiting queue.
SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int32_t budget = config_.max_num_batched_tokens;

  // 1. Running sequences.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence& seq = *running_[i];
    const int32_t n = tokens_to_schedule(seq, seq.n_computed, budget);
    if (n == 0) {
      ++i;
      continue;
    }

    bool preempted_self = false;
    while (!kv_.can_allocate(seq, n)) {
      preempted_self = running_.back().get() == &seq;
      preempt_last(out);
      if (preempted_self) break;
    }
    if (preempted_self) break;

    out.scheduled.push_back({&seq, seq.n_computed, n});
    kv_.allocate(seq, n);
    budget -= n;
    ++i;
  }

  // 2. Waiting sequences, unless this step had to preempt: the pool is full.
  while (out.preempted.empty() && !waiting_.empty() && int32_t(running_.size()) < config_.max_num_seqs &&
         budget > 0) {
    Sequence& seq = *waiting_.front();
    const PrefixHit hit = kv_.find_cached_prefix(seq);
    const int32_t n = tokens_to_schedule(seq, hit.n_tokens, budget);
    BRASA_CHECK(n > 0, "waiting sequence " + seq.request.id + " has no token to compute");
    if (!kv_.can_allocate(seq, n, hit)) break;

    kv_.allocate(seq, n, hit);
    if (seq.n_cached_tokens < 0) {
      seq.n_cached_tokens = hit.n_tokens;
      counters_.prefix_cache_queries += seq.n_prompt;
      counters_.prefix_cache_hits += hit.n_tokens;
    }
    seq.status = SequenceStatus::Running;
    seq.admit_order = next_admit_order_++;
    out.scheduled.push_back({&seq, seq.n_computed, n});
    out.admitted.push_back(&seq);
    budget -= n;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }

  BRASA_CHECK(budget >= 0, "token budget overrun");
  BRASA_CHECK(int32_t(running_.size()) <= config_.max_num_seqs, "running sequences over max_num_seqs");
  out.n_tokens = config_.max_num_batched_tokens - budget;
  return out;
}

std::unique_ptr<Sequence> Scheduler::finish(Sequence* seq) {
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == seq; });
  BRASA_CHECK(it != running_.end(), "finish() of a sequence that is not running");
  std::unique_ptr<Sequence> owned = std::move(*it);
  running_.erase(it);
  kv_.free(*owned);
  owned->status = SequenceStatus::Finished;
  return owned;
}

std::unique_ptr<Sequence> Scheduler::remove(const std::string& id) {
  auto running_it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p->request.id == id; });
  if (running_it != running_.end()) return finish(running_it->get());

  auto waiting_it = std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& p) { return p->request.id == id; });
  if (waiting_it == waiting_.end()) return nullptr;
  std::unique_ptr<Sequence> owned = std::move(*waiting_it);
  waiting_.erase(waiting_it);
  kv_.free(*owned);
  owned->status = SequenceStatus::Finished;
  return owned;
}

}  // namespace brasa
