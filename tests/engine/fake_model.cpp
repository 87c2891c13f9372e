#include "engine/fake_model.h"

namespace brasa::testing {

namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  x ^= x >> 33;
  return x;
}

uint64_t fold(uint64_t h, int32_t token, int32_t pos) {
  return mix(h ^ (uint64_t(uint32_t(token)) << 32 | uint32_t(pos)));
}

void fill_row(uint64_t h, int32_t vocab, float* row) {
  for (int32_t v = 0; v < vocab; ++v) {
    row[v] = float(mix(h + uint64_t(v) * 0x9e3779b97f4a7c15ull) >> 40) / float(1 << 24) * 8.0f;
  }
}

float* slot(const KvPool& pool, int32_t block, int32_t pos) {
  return pool.keys(block, 0) + size_t(pos % pool.block_size) * size_t(pool.head_dim);
}

int32_t table_entry(const int32_t* table, int32_t n, int32_t pos, int32_t block_size, const char* table_name) {
  const int32_t i = pos / block_size;
  if (table == nullptr || i >= n || table[i] < 0) {
    throw std::runtime_error(std::string(table_name) + " block table has no block for position " + std::to_string(pos));
  }
  return table[i];
}

// Reads the token stored at `pos`, checking that the slot was written for that position.
int32_t read_token(const KvPool& pool, int32_t block, int32_t pos) {
  const float* s = slot(pool, block, pos);
  if (int32_t(s[1]) != pos) {
    throw std::runtime_error("slot of position " + std::to_string(pos) + " in block " + std::to_string(block) +
                             " holds position " + std::to_string(int32_t(s[1])));
  }
  return int32_t(s[0]);
}

}  // namespace

ModelInfo fake_model_info(int32_t vocab_size, int32_t chunk_size, int32_t max_context) {
  ModelInfo info;
  info.architecture = chunk_size > 0 ? "llama4" : "llama";
  info.name = "fake";
  info.vocab_size = vocab_size;
  info.max_context = max_context;
  info.kv.n_global_layers = 1;
  info.kv.n_local_layers = chunk_size > 0 ? 1 : 0;
  info.kv.n_kv_heads = 1;
  info.kv.head_dim = 2;
  info.kv.chunk_size = chunk_size;
  return info;
}

std::vector<float> reference_logits(const std::vector<int32_t>& tokens, const ModelInfo& info) {
  const int32_t pos = int32_t(tokens.size()) - 1;
  uint64_t h = 0;
  for (int32_t p = 0; p <= pos; ++p) h = fold(h, tokens[size_t(p)], p);
  if (info.kv.chunk_size > 0) {
    uint64_t local = 1;
    for (int32_t p = pos - pos % info.kv.chunk_size; p <= pos; ++p) local = fold(local, tokens[size_t(p)], p);
    h = mix(h ^ local);
  }
  std::vector<float> row(size_t(info.vocab_size));
  fill_row(h, info.vocab_size, row.data());
  return row;
}

std::vector<int32_t> reference_greedy(std::vector<int32_t> prompt, int32_t n, const ModelInfo& info,
                                      const std::vector<int32_t>& stop_ids) {
  std::vector<int32_t> output;
  for (int32_t i = 0; i < n; ++i) {
    const std::vector<float> row = reference_logits(prompt, info);
    int32_t best = 0;
    for (int32_t v = 1; v < info.vocab_size; ++v) {
      if (row[size_t(v)] > row[size_t(best)]) best = v;
    }
    bool stop = false;
    for (int32_t s : stop_ids) stop = stop || s == best;
    if (stop) break;
    output.push_back(best);
    prompt.push_back(best);
  }
  return output;
}

void FakeModel::forward(std::span<const SequenceStep> batch, const KvPools& kv, StepOutput& out) {
  if (fail) throw std::runtime_error("fake model failure");
  const int32_t vocab = info_.vocab_size;
  const int32_t chunk = info_.kv.chunk_size;
  const int32_t bs = kv.global->block_size;
  steps.emplace_back();

  // Rows: all tokens of a sequence or only its last.
  out.vocab_size = vocab;
  out.first_row.clear();
  int64_t n_rows = 0;
  for (const SequenceStep& s : batch) {
    out.first_row.push_back(n_rows);
    n_rows += s.all_logits ? s.n_tokens : 1;
    steps.back().push_back({s.start_pos, s.n_tokens});
  }
  out.logits.assign(size_t(n_rows) * size_t(vocab), 0.0f);

  for (size_t i = 0; i < batch.size(); ++i) {
    const SequenceStep& s = batch[i];

    // 1. Store the new tokens' "keys", as a model stores K and V before attention.
    for (int32_t j = 0; j < s.n_tokens; ++j) {
      const int32_t pos = s.start_pos + j;
      float* g = slot(*kv.global, table_entry(s.block_table, s.n_blocks, pos, bs, "global"), pos);
      g[0] = float(s.tokens[j]);
      g[1] = float(pos);
      if (chunk > 0) {
        float* l = slot(*kv.local, table_entry(s.local_block_table, s.n_local_blocks, pos, bs, "local"), pos);
        l[0] = float(s.tokens[j]);
        l[1] = float(pos);
      }
    }

    // 2. "Attend": hash what each row's token can see, read back through the tables.
    const int32_t first = s.all_logits ? 0 : s.n_tokens - 1;
    for (int32_t j = first; j < s.n_tokens; ++j) {
      const int32_t pos = s.start_pos + j;
      uint64_t h = 0;
      for (int32_t p = 0; p <= pos; ++p) {
        h = fold(h, read_token(*kv.global, table_entry(s.block_table, s.n_blocks, p, bs, "global"), p), p);
      }
      if (chunk > 0) {
        uint64_t local = 1;
        for (int32_t p = pos - pos % chunk; p <= pos; ++p) {
          local = fold(local, read_token(*kv.local, table_entry(s.local_block_table, s.n_local_blocks, p, bs, "local"), p), p);
        }
        h = mix(h ^ local);
      }
      fill_row(h, vocab, out.logits.data() + size_t(out.first_row[i] + (j - first)) * size_t(vocab));
    }
  }
}

}  // namespace brasa::testing
