#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace brasa {

// Storage of a paged KV cache: n_blocks blocks, each holding the keys and values of
// block_size consecutive token positions for every layer that uses this pool.
// Layout per block and layer: keys [n_kv_heads][block_size][head_dim], then values
// in the same shape, so attention reads each head's keys as contiguous rows.
// A block is the unit of allocation: its memory for all layers is one slab.
struct KvPool {
  float* data = nullptr;
  int32_t n_blocks = 0;
  int32_t block_size = 16;
  int32_t n_layers = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;

  size_t head_stride() const { return size_t(block_size) * head_dim; }
  size_t kv_stride() const { return size_t(n_kv_heads) * head_stride(); }
  size_t block_stride() const { return size_t(n_layers) * 2 * kv_stride(); }
  size_t bytes() const { return size_t(n_blocks) * block_stride() * sizeof(float); }

  float* keys(int32_t block, int32_t layer) const {
    return data + size_t(block) * block_stride() + size_t(layer) * 2 * kv_stride();
  }
  float* values(int32_t block, int32_t layer) const { return keys(block, layer) + kv_stride(); }
};

// Owns the memory behind a KvPool.
class KvPoolStorage {
 public:
  KvPoolStorage() = default;
  KvPoolStorage(int32_t n_blocks, int32_t block_size, int32_t n_layers, int32_t n_kv_heads, int32_t head_dim) {
    pool_.n_blocks = n_blocks;
    pool_.block_size = block_size;
    pool_.n_layers = n_layers;
    pool_.n_kv_heads = n_kv_heads;
    pool_.head_dim = head_dim;
    buffer_.assign(pool_.bytes() / sizeof(float), 0.0f);
    pool_.data = buffer_.data();
  }
  KvPool& pool() { return pool_; }
  const KvPool& pool() const { return pool_; }

 private:
  KvPool pool_;
  std::vector<float> buffer_;
};

}  // namespace brasa
