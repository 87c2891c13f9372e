#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/block_pool.h"
#include "engine/sequence.h"

namespace brasa {

struct KvCacheConfig {
  int32_t block_size = 16;
  int32_t chunk_size = 0;       // chunked-local attention span; 0 when the model has no local layers
  int32_t n_global_blocks = 0;
  int32_t n_local_blocks = 0;   // 0 when the model has no local layers
  bool enable_prefix_caching = true;
  BlockHash model_seed = 0;     // model identity, mixed into every block hash
};

// A prompt prefix whose KV is already in the cache: the first n_tokens tokens,
// held by `blocks` (global logical blocks 0, 1, ...) and `local_blocks`
// (local logical blocks local_first, local_first + 1, ...).
struct PrefixHit {
  int32_t n_tokens = 0;
  std::vector<int32_t> blocks;
  int32_t local_first = 0;
  std::vector<int32_t> local_blocks;
};

// Chained hash of one block: parent hash, the block's tokens and the model seed.
BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens, BlockHash model_seed);

// Assigns KV blocks to sequences: the global pool for layers that attend to the
// whole context, and the local pool of chunked-local layers, where a sequence
// holds only the blocks of its current chunk. Capacity queries are const and
// do not change any state; allocate() commits what can_allocate() approved.
class KvCacheManager {
 public:
  explicit KvCacheManager(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }
  BlockPool& global() { return global_; }
  const BlockPool& global() const { return global_; }
  bool has_local() const { return local_ != nullptr; }
  BlockPool* local() { return local_.get(); }
  const BlockPool* local() const { return local_.get(); }

  // True when a sequence of n_tokens tokens fits in the pools with nothing else running.
  bool fits_alone(int64_t n_tokens) const;

  // Extends seq.block_hashes over the full blocks of seq.tokens.
  void update_hashes(Sequence& seq) const;

  // Finds the longest cached prefix of a sequence that holds no blocks yet. It
  // always leaves the last token to compute, because the engine needs its
  // logits. With local layers it ends where the cached local blocks of its chunk end.
  // REQUIRES: update_hashes(seq) ran after the last change of seq.tokens.
  PrefixHit find_cached_prefix(const Sequence& seq) const;

  // Whether allocate(seq, n_new_tokens, hit) would find enough free blocks.
  // n_new_tokens start at seq.n_computed, or at hit.n_tokens for a sequence
  // that holds no blocks yet. The tokens must stay inside one chunk.
  bool can_allocate(const Sequence& seq, int32_t n_new_tokens, const PrefixHit& hit = {}) const;

  // Takes the blocks of `hit` (setting seq.n_computed to hit.n_tokens) and
  // allocates blocks for n_new_tokens more positions.
  // REQUIRES: can_allocate(seq, n_new_tokens, hit).
  void allocate(Sequence& seq, int32_t n_new_tokens, const PrefixHit& hit = {});

  // Call after a step advanced seq.n_computed: enters the newly full blocks
  // into the prefix cache and releases the local blocks of chunks the
  // sequence has left.
  void on_computed(Sequence& seq);

  // Releases all blocks of a sequence, last block first, so that the blocks
  // least likely to be shared are evicted first. The cached ones stay reusable.
  void free(Sequence& seq);

  std::string dump() const;

 private:
  struct Need {
    int32_t global = 0;
    int32_t local = 0;
  };
  Need blocks_needed(const Sequence& seq, int32_t n_new_tokens, const PrefixHit& hit) const;
  int32_t blocks_for(int64_t n_tokens) const;

  KvCacheConfig config_;
  BlockPool global_;
  std::unique_ptr<BlockPool> local_;
};

}  // namespace brasa
