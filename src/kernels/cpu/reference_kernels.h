#pragma once

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/kv_pool.h"
#include "kernels/weight.h"

// Portable scalar kernels. They are the CPU backend's fallback on any x86-64 CPU
// and the reference that every SIMD kernel is tested against, so they favour
// clarity over speed and accumulate sums in double.
namespace brasa::reference {

// Writes the cols values of row r of w, dequantized to F32, into out.
// Throws brasa::Error when w.dtype is not a weight type (F32, F16, BF16,
// F8_E4M3, Q8_0, Q4_0).
void dequantize_row(const Weight& w, int64_t r, float* out);

// Throws brasa::Error for a weight type that `op` cannot read. The SIMD files
// call this so that no exception code is compiled with their flags.
[[noreturn]] void throw_unsupported_weight(const char* op, DType dtype);

// y[t][r] = sum_c x[t][c] * w[r][c] for rows [row_begin, row_end) and every token t.
// y has w.rows columns per token.
void matmul_rows(const Weight& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin, int64_t row_end);

// One row of RMSNorm; out may equal x.
void rms_norm_row(const float* x, const float* weight, int64_t dim, float eps, float* out);

// Rotates one head (head_dim values) by position * inv_freq[i] for each pair i.
void rope_head(float* head, int32_t position, int32_t head_dim, const float* inv_freq, RopeStyle style);

// Fills cos_table and sin_table (head_dim / 2 entries) with the angles position * inv_freq[i].
void rope_angles(int32_t position, int32_t head_dim, const float* inv_freq, float* cos_table, float* sin_table);

// Rotates one head by precomputed angles; rope_head(...) equals rope_angles then rope_rotate.
void rope_rotate(float* head, int32_t head_dim, const float* cos_table, const float* sin_table, RopeStyle style);

void swiglu(const float* gate, const float* up, int64_t n, float* out);
void add(float* x, const float* y, int64_t n);

// Copies token t's keys and values to slot slots[t] for t in [token_begin, token_end).
void store_kv(const KvPool& pool, int32_t layer, const float* k, const float* v, const int32_t* slots,
              int64_t token_begin, int64_t token_end);

// Attention output of one query row: token `token` (index inside the sequence)
// and query head `head` of `sequence`, written to its row of args.out.
void attention_row(const AttentionArgs& args, const AttentionSequence& sequence, int32_t token, int32_t head);

// Checks the arguments of an attention call that every implementation relies on.
void validate_attention(const AttentionArgs& args);

}  // namespace brasa::reference
