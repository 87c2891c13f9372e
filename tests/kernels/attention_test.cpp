#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernel_test_util.h"
#include "kernels/kv_pool.h"

namespace brasa {
namespace {

using testing::random_floats;
using testing::relative_error;

// F32 dot products and a polynomial exp against a double reference.
constexpr double kMaxRelativeError = 1e-5;

struct SequenceSpec {
  int32_t start_pos;
  int32_t n_tokens;
};

// Sequences with shuffled block tables over one random pool, and queries for
// every token of every sequence.
struct AttentionCase {
  KvPoolStorage storage;
  std::vector<std::vector<int32_t>> tables;
  std::vector<AttentionSequence> sequences;
  std::vector<float> q;
  int32_t n_heads;
  int64_t n_tokens = 0;

  AttentionCase(const std::vector<SequenceSpec>& specs, int32_t block_size, int32_t n_heads_, int32_t n_kv_heads,
                int32_t head_dim, std::mt19937& rng)
      : n_heads(n_heads_) {
    int32_t blocks_needed = 0;
    for (const SequenceSpec& s : specs) blocks_needed += (s.start_pos + s.n_tokens + block_size - 1) / block_size;
    storage = KvPoolStorage(blocks_needed + 3, block_size, 2, n_kv_heads, head_dim);
    const auto values = random_floats(storage.pool().bytes() / sizeof(float), rng);
    std::copy(values.begin(), values.end(), storage.pool().data);

    std::vector<int32_t> block_ids(size_t(storage.pool().n_blocks));
    std::iota(block_ids.begin(), block_ids.end(), 0);
    std::shuffle(block_ids.begin(), block_ids.end(), rng);
    size_t next_block = 0;
    for (const SequenceSpec& s : specs) {
      const int32_t n_blocks = (s.start_pos + s.n_tokens + block_size - 1) / block_size;
      tables.emplace_back(block_ids.begin() + next_block, block_ids.begin() + next_block + n_blocks);
      next_block += size_t(n_blocks);
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      AttentionSequence sequence;
      sequence.token_offset = n_tokens;
      sequence.n_tokens = specs[i].n_tokens;
      sequence.start_pos = specs[i].start_pos;
      sequence.block_table = tables[i].data();
      sequence.n_blocks = int32_t(tables[i].size());
      sequences.push_back(sequence);
      n_tokens += specs[i].n_tokens;
    }
    q = random_floats(size_t(n_tokens * n_heads * head_dim), rng);
  }

  AttentionArgs args(float* out, int32_t chunk_size) const {
    AttentionArgs a;
    a.q = q.data();
    a.out = out;
    a.n_heads = n_heads;
    a.n_kv_heads = storage.pool().n_kv_heads;
    a.head_dim = storage.pool().head_dim;
    a.scale = 1.0f / std::sqrt(float(a.head_dim));
    a.chunk_size = chunk_size;
    a.pool = &storage.pool();
    a.layer = 1;
    a.sequences = sequences;
    return a;
  }

  size_t output_size() const { return q.size(); }
};

// Two-pass softmax over the whole score row, written independently of the
// online-softmax kernels: scores, max, exp, normalize.
std::vector<float> naive_attention(const AttentionArgs& a) {
  int64_t n_tokens = 0;
  for (const AttentionSequence& s : a.sequences) n_tokens = std::max(n_tokens, s.token_offset + s.n_tokens);
  std::vector<float> out(size_t(n_tokens) * a.n_heads * a.head_dim);
  const KvPool& pool = *a.pool;
  for (const AttentionSequence& s : a.sequences) {
    for (int32_t t = 0; t < s.n_tokens; ++t) {
      const int32_t position = s.start_pos + t;
      const int32_t first = a.chunk_size > 0 ? position / a.chunk_size * a.chunk_size : 0;
      for (int32_t h = 0; h < a.n_heads; ++h) {
        const int32_t kv_head = h * a.n_kv_heads / a.n_heads;
        const float* q = a.q + ((s.token_offset + t) * a.n_heads + h) * a.head_dim;
        std::vector<double> scores;
        for (int32_t p = first; p <= position; ++p) {
          const float* k = pool.keys(s.block_table[p / pool.block_size], a.layer) + kv_head * pool.head_stride() +
                           (p % pool.block_size) * a.head_dim;
          double dot = 0.0;
          for (int32_t i = 0; i < a.head_dim; ++i) dot += double(q[i]) * k[i];
          scores.push_back(dot * a.scale);
        }
        const double max_score = *std::max_element(scores.begin(), scores.end());
        double total = 0.0;
        for (double& score : scores) total += (score = std::exp(score - max_score));
        float* o = out.data() + ((s.token_offset + t) * a.n_heads + h) * a.head_dim;
        for (int32_t i = 0; i < a.head_dim; ++i) {
          double sum = 0.0;
          for (int32_t p = first; p <= position; ++p) {
            const float* v = pool.values(s.block_table[p / pool.block_size], a.layer) + kv_head * pool.head_stride() +
                             (p % pool.block_size) * a.head_dim;
            sum += scores[size_t(p - first)] * v[i];
          }
          o[i] = float(sum / total);
        }
      }
    }
  }
  return out;
}

void check_all_kernels(const AttentionCase& c, int32_t chunk_size, const char* label) {
  ThreadPool pool(2);
  const std::vector<float> expected = naive_attention(c.args(nullptr, chunk_size));
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    std::vector<float> actual(c.output_size(), -7.0f);
    kernels->attention(c.args(actual.data(), chunk_size), pool);
    EXPECT_LT(relative_error(actual, expected), kMaxRelativeError) << kernels->isa << " " << label;
  }
}

TEST(Attention, GqaSeveralSequencesMatchNaive) {
  std::mt19937 rng(11);
  // A prefill from 0, a decode token deep in its context, a chunk continuing a prompt.
  const AttentionCase c({{0, 17}, {40, 1}, {30, 3}}, 16, 8, 2, 64, rng);
  check_all_kernels(c, 0, "gqa");
}

TEST(Attention, OddShapesMatchNaive) {
  std::mt19937 rng(12);
  // Block size 5 and head_dim 40 are not multiples of any vector width; 3 query heads share 1 KV head.
  const AttentionCase c({{0, 9}, {7, 4}, {0, 1}}, 5, 3, 1, 40, rng);
  check_all_kernels(c, 0, "odd shapes");
}

TEST(Attention, ChunkedLocalMatchesNaive) {
  std::mt19937 rng(13);
  // With chunk 8, tokens at 8..15 and 16..23 must not see earlier chunks.
  const AttentionCase c({{0, 24}, {13, 6}, {31, 1}}, 4, 4, 2, 32, rng);
  check_all_kernels(c, 8, "chunked");
}

TEST(Attention, LateMaxRescalesEarlierKeys) {
  std::mt19937 rng(14);
  AttentionCase c({{0, 1}, {0, 40}}, 16, 2, 1, 16, rng);
  // Make the last key of the long sequence align with its last query at 50x
  // scale, so the running max jumps in the final block after 39 smaller scores.
  const AttentionSequence& s = c.sequences[1];
  const KvPool& pool = c.storage.pool();
  const int32_t last = s.start_pos + s.n_tokens - 1;
  float* key = pool.keys(s.block_table[last / pool.block_size], 1) + (last % pool.block_size) * pool.head_dim;
  const float* q = c.q.data() + (s.token_offset + s.n_tokens - 1) * c.n_heads * pool.head_dim;
  for (int32_t i = 0; i < pool.head_dim; ++i) key[i] = 50.0f * q[i];
  check_all_kernels(c, 0, "late max");
}

TEST(Attention, ShortBlockTableIsRejected) {
  std::mt19937 rng(15);
  AttentionCase c({{0, 20}}, 16, 2, 1, 16, rng);
  c.sequences[0].n_blocks = 1;
  ThreadPool pool(1);
  std::vector<float> out(c.output_size());
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    EXPECT_DEATH(kernels->attention(c.args(out.data(), 0), pool), "block table") << kernels->isa;
  }
}

}  // namespace
}  // namespace brasa
