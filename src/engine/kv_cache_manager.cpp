#include "engine/kv_cache_manager.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace brasa {

namespace {

// splitmix64's finalizer: a fast 64-bit mix with full avalanche.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens, BlockHash model_seed) {
  uint64_t h = mix64(parent ^ 0x9e3779b97f4a7c15ull) ^ mix64(model_seed + 0x632be59bd9b4e019ull);
  for (int32_t token : tokens) h = mix64(h ^ (uint64_t(uint32_t(token)) + 0x9e3779b97f4a7c15ull));
  return h;
}

KvCacheManager::KvCacheManager(const KvCacheConfig& config) : config_(config), global_(config.n_global_blocks) {
  BRASA_CHECK(config.block_size > 0, "block_size must be positive");
  if (config.chunk_size > 0) {
    BRASA_CHECK(config.chunk_size % config.block_size == 0, "chunk_size must be a multiple of block_size");
    local_ = std::make_unique<BlockPool>(config.n_local_blocks);
  }
}

int32_t KvCacheManager::blocks_for(int64_t n_tokens) const {
  return int32_t((n_tokens + config_.block_size - 1) / config_.block_size);
}

bool KvCacheManager::fits_alone(int64_t n_tokens) const {
  if (blocks_for(n_tokens) > global_.n_blocks()) return false;
  // A sequence never holds more than one chunk of local blocks.
  if (local_ && blocks_for(std::min<int64_t>(n_tokens, config_.chunk_size)) > local_->n_blocks()) return false;
  return true;
}

void KvCacheManager::update_hashes(Sequence& seq) const {
  const size_t n_full = seq.tokens.size() / size_t(config_.block_size);
  while (seq.block_hashes.size() < n_full) {
    const size_t i = seq.block_hashes.size();
    const BlockHash parent = i == 0 ? 0 : seq.block_hashes[i - 1];
    std::span<const int32_t> block(seq.tokens.data() + i * size_t(config_.block_size), size_t(config_.block_size));
    seq.block_hashes.push_back(hash_block(parent, block, config_.model_seed));
  }
}

PrefixHit KvCacheManager::find_cached_prefix(const Sequence& seq) const {
  PrefixHit hit;
  if (!config_.enable_prefix_caching || !seq.block_table.empty() || seq.tokens.empty()) return hit;
  // Cached tokens produce no logits, so a request that scores its prompt computes all of it.
  if (!seq.prompt_logprobs_done()) return hit;

  const int32_t bs = config_.block_size;
  const size_t max_blocks = std::min(seq.block_hashes.size(), (seq.tokens.size() - 1) / size_t(bs));
  for (size_t i = 0; i < max_blocks; ++i) {
    std::optional<int32_t> block = global_.lookup(seq.block_hashes[i]);
    if (!block) break;
    hit.blocks.push_back(*block);
  }

  // The token at position P attends to its chunk's positions [chunk_start, P], so
  // computing from P needs the local blocks of [chunk_start, P) as well.
  if (local_ && !hit.blocks.empty()) {
    const int32_t n_tokens = int32_t(hit.blocks.size()) * bs;
    const int32_t chunk_start = n_tokens / config_.chunk_size * config_.chunk_size;
    hit.local_first = chunk_start / bs;
    for (int32_t i = hit.local_first; i < n_tokens / bs; ++i) {
      std::optional<int32_t> block = local_->lookup(seq.block_hashes[size_t(i)]);
      if (!block) break;
      hit.local_blocks.push_back(*block);
    }
    hit.blocks.resize(size_t(hit.local_first) + hit.local_blocks.size());
  }
  hit.n_tokens = int32_t(hit.blocks.size()) * bs;
  return hit;
}

KvCacheManager::Need KvCacheManager::blocks_needed(const Sequence& seq, int32_t n_new_tokens,
                                                   const PrefixHit& hit) const {
  Need need;
  const bool takes_hit = seq.block_table.empty() && hit.n_tokens > 0;
  const int32_t start = takes_hit ? hit.n_tokens : seq.n_computed;
  const int32_t end = start + n_new_tokens;
  const int32_t n_blocks_after = blocks_for(end);

  // Hit blocks with reference count 0 are in the free queue, so taking them uses free capacity too.
  int32_t n_held = int32_t(seq.block_table.size());
  if (takes_hit) {
    n_held += int32_t(hit.blocks.size());
    for (int32_t b : hit.blocks) need.global += global_.ref_count(b) == 0 ? 1 : 0;
  }
  need.global += std::max(0, n_blocks_after - n_held);

  if (local_ && n_new_tokens > 0) {
    const int32_t first = start / config_.chunk_size * config_.chunk_size / config_.block_size;
    for (int32_t i = first; i < n_blocks_after; ++i) {
      const bool in_table = size_t(i) < seq.local_block_table.size() && seq.local_block_table[size_t(i)] >= 0;
      const bool in_hit =
          takes_hit && i >= hit.local_first && i < hit.local_first + int32_t(hit.local_blocks.size());
      if (in_hit) {
        need.local += local_->ref_count(hit.local_blocks[size_t(i - hit.local_first)]) == 0 ? 1 : 0;
      } else if (!in_table) {
        need.local += 1;
      }
    }
  }
  return need;
}

bool KvCacheManager::can_allocate(const Sequence& seq, int32_t n_new_tokens, const PrefixHit& hit) const {
  const Need need = blocks_needed(seq, n_new_tokens, hit);
  if (need.global > global_.n_free()) return false;
  if (local_ && need.local > local_->n_free()) return false;
  return true;
}

void KvCacheManager::allocate(Sequence& seq, int32_t n_new_tokens, const PrefixHit& hit) {
  BRASA_CHECK(can_allocate(seq, n_new_tokens, hit), "allocate() without capacity for sequence " + seq.request.id);

  // 1. Take the cached prefix.
  if (seq.block_table.empty() && hit.n_tokens > 0) {
    for (int32_t b : hit.blocks) {
      global_.touch(b);
      seq.block_table.push_back(b);
    }
    if (local_) {
      seq.local_block_table.assign(size_t(hit.local_first), -1);
      for (int32_t b : hit.local_blocks) {
        local_->touch(b);
        seq.local_block_table.push_back(b);
      }
    }
    seq.n_computed = hit.n_tokens;
    seq.n_registered_blocks = int32_t(hit.blocks.size());
  }

  // 2. Global blocks up to the last new position.
  const int32_t end = seq.n_computed + n_new_tokens;
  const int32_t n_blocks_after = blocks_for(end);
  while (int32_t(seq.block_table.size()) < n_blocks_after) seq.block_table.push_back(global_.allocate());

  // 3. Local blocks of the current chunk up to the last new position.
  if (local_ && n_new_tokens > 0) {
    const int32_t first = seq.n_computed / config_.chunk_size * config_.chunk_size / config_.block_size;
    if (int32_t(seq.local_block_table.size()) < n_blocks_after) seq.local_block_table.resize(size_t(n_blocks_after), -1);
    for (int32_t i = first; i < n_blocks_after; ++i) {
      if (seq.local_block_table[size_t(i)] < 0) seq.local_block_table[size_t(i)] = local_->allocate();
    }
  }
}

void KvCacheManager::on_computed(Sequence& seq) {
  update_hashes(seq);

  // Enter full computed blocks into the prefix cache. Output tokens count too,
  // so a follow-up turn that repeats this conversation finds it.
  const int32_t n_full = std::min<int32_t>(seq.n_computed / config_.block_size, int32_t(seq.block_hashes.size()));
  if (config_.enable_prefix_caching) {
    for (int32_t i = seq.n_registered_blocks; i < n_full; ++i) {
      global_.cache(seq.block_table[size_t(i)], seq.block_hashes[size_t(i)]);
      if (local_ && size_t(i) < seq.local_block_table.size() && seq.local_block_table[size_t(i)] >= 0) {
        local_->cache(seq.local_block_table[size_t(i)], seq.block_hashes[size_t(i)]);
      }
    }
  }
  seq.n_registered_blocks = std::max(seq.n_registered_blocks, n_full);

  // Release the local blocks of chunks before the one holding the next position.
  if (local_) {
    const int32_t first = seq.n_computed / config_.chunk_size * config_.chunk_size / config_.block_size;
    const int32_t n = std::min<int32_t>(first, int32_t(seq.local_block_table.size()));
    for (int32_t i = n - 1; i >= 0; --i) {
      int32_t& b = seq.local_block_table[size_t(i)];
      if (b >= 0) {
        local_->release(b);
        b = -1;
      }
    }
  }
}

void KvCacheManager::free(Sequence& seq) {
  for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) global_.release(*it);
  if (local_) {
    for (auto it = seq.local_block_table.rbegin(); it != seq.local_block_table.rend(); ++it) {
      if (*it >= 0) local_->release(*it);
    }
  }
  seq.block_table.clear();
  seq.local_block_table.clear();
  seq.n_registered_blocks = 0;
  seq.n_computed = 0;
}

std::string KvCacheManager::dump() const {
  std::ostringstream out;
  out << "global pool: " << global_.dump();
  if (local_) out << "local pool: " << local_->dump();
  return out.str();
}

}  // namespace brasa
