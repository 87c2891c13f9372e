#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/block_pool.h"
#include "engine/request.h"
#include "engine/sampler.h"

namespace brasa {

enum class SequenceStatus { Waiting, Running, Finished };

// The engine's state of one generation request: its tokens, how many of them
// have KV in the cache, its block tables and its output bookkeeping.
struct Sequence {
  GenerationRequest request;
  UpdateCallback callback;
  SequenceStatus status = SequenceStatus::Waiting;

  // Prompt tokens followed by the generated tokens. A step computes KV for
  // tokens [n_computed, n_computed + n) and, once n_computed reaches
  // tokens.size(), samples the next token from the last row of logits.
  std::vector<int32_t> tokens;
  int32_t n_prompt = 0;
  int32_t n_computed = 0;

  // Global block table: logical block i covers positions [i * block_size, (i + 1) * block_size).
  std::vector<int32_t> block_table;
  // Local block table, indexed the same way; -1 where the sequence holds no
  // block (chunks before the current one).
  std::vector<int32_t> local_block_table;
  // Chained hash of each full block of `tokens`, computed or not.
  std::vector<BlockHash> block_hashes;
  // Full computed blocks already entered into the prefix cache.
  int32_t n_registered_blocks = 0;

  // Prompt tokens served from the prefix cache at first admission; -1 before it.
  int32_t n_cached_tokens = -1;
  int64_t admit_order = 0;
  int32_t n_preemptions = 0;

  // Prompt logprobs, one entry per prompt token; filled as prefill chunks finish.
  std::vector<SampledToken> prompt_logprobs;
  int32_t n_prompt_scored = 0;  // entries [0, n_prompt_scored) are final
  bool prompt_logprobs_sent = false;

  // Sampling state: seeded from SamplingParams::seed when set, so a seed gives the same output.
  std::unique_ptr<Sampler> sampler;

  int32_t n_output() const { return int32_t(tokens.size()) - n_prompt; }
  bool wants_prompt_logprobs() const { return request.sampling.prompt_logprobs >= 0; }
  bool prompt_logprobs_done() const { return !wants_prompt_logprobs() || n_prompt_scored >= n_prompt; }
};

}  // namespace brasa
