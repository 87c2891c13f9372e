#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace brasa {

// Chained hash of one full KV block: covers the parent block's hash, the
// block's tokens and the model identity, so equal hashes mean equal prefixes.
using BlockHash = uint64_t;

// Allocation state of the blocks of one KvPool: a reference count per block, a
// free block queue, and the prefix cache that maps block hashes to blocks.
//
// A block whose reference count drops to zero joins the tail of the free queue
// but keeps its hash, so a later sequence with the same prefix can take it back
// (touch). allocate() takes the head of the queue, which makes the queue the
// least-recently-used eviction order of the cached blocks.
class BlockPool {
 public:
  explicit BlockPool(int32_t n_blocks);

  int32_t n_blocks() const { return int32_t(blocks_.size()); }
  int32_t n_free() const { return n_free_; }
  int32_t n_used() const { return n_blocks() - n_free_; }
  int32_t n_cached_free() const { return n_cached_free_; }

  // Pops the head of the free queue, drops its cache entry if it has one and
  // returns it with reference count 1. REQUIRES: n_free() > 0.
  int32_t allocate();

  // Adds a reference to a block found in the prefix cache; a free block leaves
  // the free queue.
  void touch(int32_t block);

  // Drops one reference; at zero the block joins the tail of the free queue.
  void release(int32_t block);

  // Records that `block` now holds the full block with this hash. When another
  // block already holds the hash, this block stays uncached (returns false).
  bool cache(int32_t block, BlockHash hash);

  // The block that holds this hash, if any.
  std::optional<int32_t> lookup(BlockHash hash) const;

  int32_t ref_count(int32_t block) const { return blocks_.at(size_t(block)).ref_count; }
  bool is_cached(int32_t block) const { return blocks_.at(size_t(block)).hash.has_value(); }

  // Blocks of the free queue from head (next to evict) to tail.
  std::vector<int32_t> free_queue() const;

  // One line per used or cached block: id, reference count, hash.
  std::string dump() const;

 private:
  struct BlockState {
    int32_t ref_count = 0;
    std::optional<BlockHash> hash;
    // Links of the intrusive free queue; -1 at either end or when not queued.
    int32_t prev = -1;
    int32_t next = -1;
  };

  void push_free_tail(int32_t block);
  void remove_free(int32_t block);

  std::vector<BlockState> blocks_;
  std::unordered_map<BlockHash, int32_t> cached_;
  int32_t free_head_ = -1;
  int32_t free_tail_ = -1;
  int32_t n_free_ = 0;
  int32_t n_cached_free_ = 0;
};

}  // namespace brasa
