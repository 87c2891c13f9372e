#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "kernels/kv_pool.h"
#include "kernels/weight.h"

namespace brasa {

class ThreadPool;

// One sequence's part of an attention call. Its tokens are rows
// [token_offset, token_offset + n_tokens) of q and out, at positions
// start_pos, start_pos + 1, ... Its KV is in the blocks of block_table, where
// logical block i covers positions [i * block_size, (i + 1) * block_size).
struct AttentionSequence {
  int64_t token_offset = 0;
  int32_t n_tokens = 0;
  int32_t start_pos = 0;
  const int32_t* block_table = nullptr;
  int32_t n_blocks = 0;
};

// Causal attention over a paged KV cache. With chunk_size > 0 a token at
// position p attends only to positions [p - p % chunk_size, p], which is Llama 4's
// chunked local attention. With 0 it attends to [0, p].
struct AttentionArgs {
  const float* q = nullptr;  // [n_tokens][n_heads][head_dim]
  float* out = nullptr;      // [n_tokens][n_heads][head_dim]
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;        // multiplies q.k before the softmax
  int32_t chunk_size = 0;
  const KvPool* pool = nullptr;
  int32_t layer = 0;         // layer index inside the pool
  std::span<const AttentionSequence> sequences;
};

enum class RopeStyle {
  Interleaved,  // rotates pairs (2i, 2i+1): Meta's reference code, GGUF llama, Hugging Face Llama 4
  HalfSplit,    // rotates pairs (i, i + d/2): Hugging Face Llama 1-3 checkpoints
};

// The kernels a model step needs. Activations are F32, row-major, one row per
// token; weights stay in their stored type and are dequantized inside the kernel.
// Model code calls only this interface, so a new backend (CUDA) needs no model
// change. All calls are synchronous on the CPU backend.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // y[t][r] = sum_c x[t][c] * w[r][c] for t < n_tokens.
  virtual void matmul(const Weight& w, const float* x, int64_t n_tokens, float* y) = 0;

  // out[t] = dequantized row ids[t] of the embedding table.
  virtual void embed(const Weight& table, const int32_t* ids, int64_t n_tokens, float* out) = 0;

  // out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight; weight == nullptr means no weight.
  // out may equal x.
  virtual void rms_norm(const float* x, const Weight* weight, int64_t n_rows, int64_t dim, float eps, float* out) = 0;

  // Rotates each head of x [n_tokens][n_heads][head_dim] in place by angle
  // position * inv_freq[i] for pair i; inv_freq has head_dim / 2 entries.
  virtual void rope(float* x, const int32_t* positions, int64_t n_tokens, int32_t n_heads, int32_t head_dim,
                    const float* inv_freq, RopeStyle style) = 0;

  // out[i] = silu(gate[i]) * up[i] for n values. out may equal gate.
  virtual void swiglu(const float* gate, const float* up, int64_t n, float* out) = 0;

  // x[i] += y[i] for n values.
  virtual void add(float* x, const float* y, int64_t n) = 0;

  // Writes k and v [n_tokens][n_kv_heads][head_dim] into the cache slots
  // (slot = block * block_size + offset) of `layer`.
  virtual void store_kv(const KvPool& pool, int32_t layer, const float* k, const float* v, const int32_t* slots,
                        int64_t n_tokens) = 0;

  virtual void attention(const AttentionArgs& args) = 0;
};

// The CPU backend, using the best instruction set this CPU supports and `pool` for threads.
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool);

// The CPU backend with the kernel set named isa ("scalar", "avx2", "avx512",
// "avx512-vbmi", "amx"), for `--kernels` and for tests that need one set's
// arithmetic: the scalar set rounds each matmul
// output once, from a double sum. Throws brasa::Error when this CPU cannot run it.
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool, const std::string& isa);

}  // namespace brasa
