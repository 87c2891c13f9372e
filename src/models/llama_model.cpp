#include "models/llama_model.h"

#include <cmath>

#include "core/error.h"

namespace brasa {

LlamaModel::LlamaModel(std::unique_ptr<Checkpoint> checkpoint, const ModelConfig& config, Backend& backend,
                       std::string name)
    : checkpoint_(std::move(checkpoint)), config_(config), backend_(backend) {
  weights_ = load_weights(*checkpoint_, config_);

  inv_freq_ = rope_inv_freq(config_);
  if (!weights_->rope_freq_factors.empty()) {
    for (size_t i = 0; i < inv_freq_.size(); ++i) inv_freq_[i] /= weights_->rope_freq_factors[i];
  }

  // Chunked layers and full-context layers each number their layers from 0 in their own pool.
  kv_place_.resize(size_t(config_.n_layers));
  int32_t n_local = 0;
  int32_t n_global = 0;
  for (int32_t i = 0; i < config_.n_layers; ++i) {
    KvPlace& place = kv_place_[size_t(i)];
    place.local = config_.is_local_layer(i);
    place.index = place.local ? n_local++ : n_global++;
  }

  info_.architecture = config_.architecture;
  info_.name = std::move(name);
  info_.vocab_size = config_.vocab_size;
  info_.max_context = config_.max_position_embeddings;
  info_.n_params = weights_->n_params;
  info_.n_active_params = weights_->n_active_params;
  info_.matmul_dtype = weights_->matmul_dtype;
  info_.weight_bytes = weights_->bytes;
  info_.kv.n_global_layers = n_global;
  info_.kv.n_local_layers = n_local;
  info_.kv.n_kv_heads = config_.n_kv_heads;
  info_.kv.head_dim = config_.head_dim;
  info_.kv.chunk_size = n_local > 0 ? config_.attention_chunk_size : 0;
}

float* LlamaModel::scratch(std::vector<float>& buffer, size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

namespace {

void check_pool(const KvPool* pool, int32_t n_layers, const ModelConfig& c, const char* which) {
  BRASA_CHECK(pool != nullptr && pool->data != nullptr, std::string("forward: missing the ") + which + " KV pool");
  BRASA_CHECK(pool->n_layers == n_layers && pool->n_kv_heads == c.n_kv_heads && pool->head_dim == c.head_dim,
              std::string("forward: the ") + which + " KV pool does not match the model's KvGeometry");
}

// Cache slot of position pos through a block table.
int32_t slot_of(const int32_t* table, int32_t n_blocks, int32_t block_size, int32_t pos) {
  int32_t logical = pos / block_size;
  BRASA_CHECK(table != nullptr && logical < n_blocks, "forward: position " + std::to_string(pos) +
                                                          " lies past the sequence's block table");
  return table[logical] * block_size + pos % block_size;
}

}  // namespace

void LlamaModel::prepare_step(std::span<const SequenceStep> batch, const KvPools& kv) {
  const bool has_local = info_.kv.n_local_layers > 0;
  if (info_.kv.n_global_layers > 0) check_pool(kv.global, info_.kv.n_global_layers, config_, "global");
  if (has_local) check_pool(kv.local, info_.kv.n_local_layers, config_, "local");

  n_tokens_ = 0;
  tokens_.clear();
  positions_.clear();
  global_slots_.clear();
  local_slots_.clear();
  global_sequences_.clear();
  local_sequences_.clear();

  for (const SequenceStep& s : batch) {
    BRASA_CHECK(s.n_tokens > 0 && s.tokens != nullptr && s.start_pos >= 0, "forward: a sequence step has no tokens");

    AttentionSequence global;
    global.token_offset = n_tokens_;
    global.n_tokens = s.n_tokens;
    global.start_pos = s.start_pos;
    global.block_table = s.block_table;
    global.n_blocks = s.n_blocks;
    AttentionSequence local = global;
    local.block_table = s.local_block_table;
    local.n_blocks = s.n_local_blocks;
    global_sequences_.push_back(global);
    local_sequences_.push_back(local);

    for (int32_t i = 0; i < s.n_tokens; ++i) {
      int32_t pos = s.start_pos + i;
      tokens_.push_back(s.tokens[i]);
      positions_.push_back(pos);
      if (info_.kv.n_global_layers > 0) {
        global_slots_.push_back(slot_of(s.block_table, s.n_blocks, kv.global->block_size, pos));
      }
      if (has_local) local_slots_.push_back(slot_of(s.local_block_table, s.n_local_blocks, kv.local->block_size, pos));
    }
    n_tokens_ += s.n_tokens;
  }
}

void LlamaModel::forward(std::span<const SequenceStep> batch, const KvPools& kv, StepOutput& out) {
  // The logits keep their size from the last step: compute_logits resizes
  // them, and clearing them first would make that resize zero every value
  // again, 26 MB a step at decode batch 32 with a 202,048-token vocabulary.
  out.first_row.clear();
  out.vocab_size = config_.vocab_size;
  if (batch.empty()) {
    out.logits.clear();
    return;
  }

  prepare_step(batch, kv);
  const size_t hidden = size_t(config_.hidden_size);
  float* x = scratch(x_, size_t(n_tokens_) * hidden);
  backend_.embed(weights_->embed, tokens_.data(), n_tokens_, x);

  for (int32_t layer = 0; layer < config_.n_layers; ++layer) {
    attention_block(layer, kv);
    feed_forward_block(layer);
  }

  compute_logits(batch, out);
}

void LlamaModel::attention_block(int32_t layer, const KvPools& kv) {
  const LayerWeights& w = weights_->layers[size_t(layer)];
  const ModelConfig& c = config_;
  const int64_t T = n_tokens_;
  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim;
  const int64_t kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
  const bool use_rope = c.rope_layer[size_t(layer)];

  // 1. Pre-norm and the q, k, v projections.
  float* x = x_.data();
  float* norm = scratch(norm_, size_t(T * hidden));
  backend_.rms_norm(x, &w.attn_norm, T, hidden, c.rms_norm_eps, norm);
  float* q = scratch(q_, size_t(T * q_dim));
  float* k = scratch(k_, size_t(T * kv_dim));
  float* v = scratch(v_, size_t(T * kv_dim));
  backend_.matmul(w.q, norm, T, q);
  backend_.matmul(w.k, norm, T, k);
  backend_.matmul(w.v, norm, T, v);

  // 2. RoPE layers rotate q and k, then (Llama 4) apply the weightless QK norm.
  if (use_rope) {
    backend_.rope(q, positions_.data(), T, c.n_heads, c.head_dim, inv_freq_.data(), c.rope_style);
    backend_.rope(k, positions_.data(), T, c.n_kv_heads, c.head_dim, inv_freq_.data(), c.rope_style);
    if (c.use_qk_norm) {
      backend_.rms_norm(q, nullptr, T * c.n_heads, c.head_dim, c.rms_norm_eps, q);
      backend_.rms_norm(k, nullptr, T * c.n_kv_heads, c.head_dim, c.rms_norm_eps, k);
    }
  }

  // 3. NoPE layers of Llama 4 sharpen the query with distance (attention temperature tuning).
  if (!use_rope && c.attn_temperature_tuning) {
    for (int64_t t = 0; t < T; ++t) {
      float scale = attn_temperature_scale(c, positions_[size_t(t)]);
      if (scale == 1.0f) continue;
      float* row = q + t * q_dim;
      for (int64_t i = 0; i < q_dim; ++i) row[i] *= scale;
    }
  }

  // 4. Write this step's keys and values to the cache, then attend.
  const KvPlace& place = kv_place_[size_t(layer)];
  const KvPool* pool = place.local ? kv.local : kv.global;
  const std::vector<int32_t>& slots = place.local ? local_slots_ : global_slots_;
  backend_.store_kv(*pool, place.index, k, v, slots.data(), T);

  float* attn = scratch(attn_, size_t(T * q_dim));
  AttentionArgs args;
  args.q = q;
  args.out = attn;
  args.n_heads = c.n_heads;
  args.n_kv_heads = c.n_kv_heads;
  args.head_dim = c.head_dim;
  args.scale = 1.0f / std::sqrt(float(c.head_dim));
  args.chunk_size = place.local ? c.attention_chunk_size : 0;
  args.pool = pool;
  args.layer = place.index;
  args.sequences = place.local ? std::span<const AttentionSequence>(local_sequences_)
                               : std::span<const AttentionSequence>(global_sequences_);
  backend_.attention(args);

  // 5. Output projection and residual.
  float* proj = scratch(proj_, size_t(T * hidden));
  backend_.matmul(w.o, attn, T, proj);
  backend_.add(x, proj, T * hidden);
}

void LlamaModel::feed_forward_block(int32_t layer) {
  const LayerWeights& w = weights_->layers[size_t(layer)];
  const int64_t T = n_tokens_;
  const int64_t hidden = config_.hidden_size;
  float* x = x_.data();
  float* norm = scratch(norm_, size_t(T * hidden));
  float* proj = scratch(proj_, size_t(T * hidden));
  backend_.rms_norm(x, &w.ffn_norm, T, hidden, config_.rms_norm_eps, norm);

  if (w.experts.empty()) {
    const int64_t inter = w.mlp.gate.rows;
    float* gate = scratch(gate_, size_t(T * inter));
    float* up = scratch(up_, size_t(T * inter));
    backend_.matmul(w.mlp.gate, norm, T, gate);
    backend_.matmul(w.mlp.up, norm, T, up);
    backend_.swiglu(gate, up, T * inter, gate);
    backend_.matmul(w.mlp.down, gate, T, proj);
  } else {
    moe(w, T, norm, proj);
  }
  backend_.add(x, proj, T * hidden);
}

void LlamaModel::compute_logits(std::span<const SequenceStep> batch, StepOutput& out) {
  const int64_t hidden = config_.hidden_size;
  const int64_t vocab = config_.vocab_size;

  // Gather the rows that need logits (the last token, or all for prompt scoring), then norm and project.
  int64_t n_rows = 0;
  for (const SequenceStep& s : batch) n_rows += s.all_logits ? s.n_tokens : 1;
  float* rows = scratch(rows_, size_t(n_rows * hidden));
  int64_t row = 0;
  int64_t token_offset = 0;
  for (const SequenceStep& s : batch) {
    out.first_row.push_back(row);
    int32_t first = s.all_logits ? 0 : s.n_tokens - 1;
    for (int32_t i = first; i < s.n_tokens; ++i) {
      std::copy_n(x_.data() + (token_offset + i) * hidden, hidden, rows + row * hidden);
      ++row;
    }
    token_offset += s.n_tokens;
  }

  backend_.rms_norm(rows, &weights_->final_norm, n_rows, hidden, config_.rms_norm_eps, rows);
  out.logits.resize(size_t(n_rows * vocab));
  backend_.matmul(weights_->lm_head, rows, n_rows, out.logits.data());
}

}  // namespace brasa
