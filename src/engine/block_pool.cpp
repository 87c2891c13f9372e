#include "engine/block_pool.h"

#include <sstream>

#include "core/error.h"

namespace brasa {

BlockPool::BlockPool(int32_t n_blocks) : blocks_(size_t(n_blocks)) {
  BRASA_CHECK(n_blocks >= 0, "negative block count");
  for (int32_t b = 0; b < n_blocks; ++b) push_free_tail(b);
}

void BlockPool::push_free_tail(int32_t block) {
  BlockState& s = blocks_[size_t(block)];
  s.prev = free_tail_;
  s.next = -1;
  if (free_tail_ >= 0) {
    blocks_[size_t(free_tail_)].next = block;
  } else {
    free_head_ = block;
  }
  free_tail_ = block;
  ++n_free_;
  if (s.hash) ++n_cached_free_;
}

void BlockPool::remove_free(int32_t block) {
  BlockState& s = blocks_[size_t(block)];
  if (s.prev >= 0) {
    blocks_[size_t(s.prev)].next = s.next;
  } else {
    free_head_ = s.next;
  }
  if (s.next >= 0) {
    blocks_[size_t(s.next)].prev = s.prev;
  } else {
    free_tail_ = s.prev;
  }
  s.prev = -1;
  s.next = -1;
  --n_free_;
  if (s.hash) --n_cached_free_;
}

int32_t BlockPool::allocate() {
  BRASA_CHECK(free_head_ >= 0, "allocate() on an exhausted block pool");
  const int32_t block = free_head_;
  remove_free(block);

  // Evict: the block's old contents are about to be overwritten.
  BlockState& s = blocks_[size_t(block)];
  if (s.hash) {
    cached_.erase(*s.hash);
    s.hash.reset();
  }
  s.ref_count = 1;
  return block;
}

void BlockPool::touch(int32_t block) {
  BlockState& s = blocks_.at(size_t(block));
  if (s.ref_count == 0) remove_free(block);
  ++s.ref_count;
}

void BlockPool::release(int32_t block) {
  BlockState& s = blocks_.at(size_t(block));
  BRASA_CHECK(s.ref_count > 0, "release() of free block " + std::to_string(block));
  if (--s.ref_count == 0) push_free_tail(block);
}

bool BlockPool::cache(int32_t block, BlockHash hash) {
  BlockState& s = blocks_.at(size_t(block));
  BRASA_CHECK(s.ref_count > 0, "cache() of free block " + std::to_string(block));
  if (s.hash) return *s.hash == hash;
  if (cached_.count(hash) != 0) return false;
  s.hash = hash;
  cached_.emplace(hash, block);
  return true;
}

std::optional<int32_t> BlockPool::lookup(BlockHash hash) const {
  auto it = cached_.find(hash);
  if (it == cached_.end()) return std::nullopt;
  return it->second;
}

std::vector<int32_t> BlockPool::free_queue() const {
  std::vector<int32_t> order;
  order.reserve(size_t(n_free_));
  for (int32_t b = free_head_; b >= 0; b = blocks_[size_t(b)].next) order.push_back(b);
  return order;
}

std::string BlockPool::dump() const {
  std::ostringstream out;
  out << "blocks " << n_blocks() << ", used " << n_used() << ", free " << n_free_ << " (cached " << n_cached_free_
      << ")\n";
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const BlockState& s = blocks_[b];
    if (s.ref_count == 0 && !s.hash) continue;
    out << "  block " << b << " ref " << s.ref_count;
    if (s.hash) out << " hash " << std::hex << *s.hash << std::dec;
    out << "\n";
  }
  return out.str();
}

}  // namespace brasa
