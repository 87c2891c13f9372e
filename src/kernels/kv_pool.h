#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace brasa {

// Storage of a paged KV cache: n_blocks blocks, each holding the keys and values of
// block_size consecutive token positions for every layer that uses this pool.
// Layout per block and layer: keys [n_kv_heads][block_size][head_dim], then values
// in the same shape, so attention reads each head's keys as contiguous rows.
// A block is the unit of allocation: its memory for all layers is one slab.
// Elements are F32 or F16 (dtype). F16 halves the memory, as llama.cpp's
// `-ctk f16 -ctv f16` and vLLM's `--kv-cache-dtype` do.
struct KvPool {
  void* data = nullptr;
  DType dtype = DType::F32;  // DType::F32 or DType::F16
  int32_t n_blocks = 0;
  int32_t block_size = 16;
  int32_t n_layers = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;

  // Strides count elements, not bytes.
  size_t head_stride() const { return size_t(block_size) * head_dim; }
  size_t kv_stride() const { return size_t(n_kv_heads) * head_stride(); }
  size_t block_stride() const { return size_t(n_layers) * 2 * kv_stride(); }
  size_t element_bytes() const { return dtype == DType::F16 ? 2 : 4; }
  size_t bytes() const { return size_t(n_blocks) * block_stride() * element_bytes(); }

  // Index of the first key element of (block, layer).
  size_t key_index(int32_t block, int32_t layer) const {
    return size_t(block) * block_stride() + size_t(layer) * 2 * kv_stride();
  }

  // Keys and values of an F32 pool.
  float* keys(int32_t block, int32_t layer) const {
    BRASA_CHECK(dtype == DType::F32, "KvPool::keys: the pool stores F16; use keys_f16");
    return static_cast<float*>(data) + key_index(block, layer);
  }
  float* values(int32_t block, int32_t layer) const { return keys(block, layer) + kv_stride(); }

  // Keys and values of an F16 pool, as IEEE binary16 bit patterns.
  uint16_t* keys_f16(int32_t block, int32_t layer) const {
    BRASA_CHECK(dtype == DType::F16, "KvPool::keys_f16: the pool stores F32; use keys");
    return static_cast<uint16_t*>(data) + key_index(block, layer);
  }
  uint16_t* values_f16(int32_t block, int32_t layer) const { return keys_f16(block, layer) + kv_stride(); }
};

// Returns the bytes of one KV element of type dtype. Throws brasa::Error unless
// dtype is F32 or F16.
size_t kv_element_bytes(DType dtype);

// Parses a KV cache type option value, "f32" or "f16" (any letter case).
// Throws brasa::Error naming the value otherwise.
DType parse_kv_cache_dtype(const std::string& text);

// Owns the memory behind a KvPool, zero-filled.
class KvPoolStorage {
 public:
  KvPoolStorage() = default;
  KvPoolStorage(int32_t n_blocks, int32_t block_size, int32_t n_layers, int32_t n_kv_heads, int32_t head_dim,
                DType dtype = DType::F32) {
    kv_element_bytes(dtype);
    pool_.dtype = dtype;
    pool_.n_blocks = n_blocks;
    pool_.block_size = block_size;
    pool_.n_layers = n_layers;
    pool_.n_kv_heads = n_kv_heads;
    pool_.head_dim = head_dim;
    // A float vector keeps the memory 4-byte aligned for both element types.
    buffer_.assign((pool_.bytes() + sizeof(float) - 1) / sizeof(float), 0.0f);
    pool_.data = buffer_.data();
  }
  KvPool& pool() { return pool_; }
  const KvPool& pool() const { return pool_; }

 private:
  KvPool pool_;
  std::vector<float> buffer_;
};

}  // namespace brasa
