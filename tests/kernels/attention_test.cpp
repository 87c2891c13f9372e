#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"
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
                int32_t head_dim, std::mt19937& rng, DType kv_dtype = DType::F32)
      : n_heads(n_heads_) {
    int32_t blocks_needed = 0;
    for (const SequenceSpec& s : specs) blocks_needed += (s.start_pos + s.n_tokens + block_size - 1) / block_size;
    storage = KvPoolStorage(blocks_needed + 3, block_size, 2, n_kv_heads, head_dim, kv_dtype);
    const size_t n_elements = storage.pool().bytes() / storage.pool().element_bytes();
    const auto values = random_floats(n_elements, rng);
    if (kv_dtype == DType::F16) {
      auto* data = static_cast<uint16_t*>(storage.pool().data);
      for (size_t i = 0; i < n_elements; ++i) data[i] = f32_to_f16(values[i]);
    } else {
      std::copy(values.begin(), values.end(), static_cast<float*>(storage.pool().data));
    }

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

// Key (or value) element `index` of (block, layer), widened to double.
double kv_element(const KvPool& pool, int32_t block, int32_t layer, size_t index, bool value) {
  if (pool.dtype == DType::F16) {
    const uint16_t* base = value ? pool.values_f16(block, layer) : pool.keys_f16(block, layer);
    return f16_to_f32(base[index]);
  }
  const float* base = value ? pool.values(block, layer) : pool.keys(block, layer);
  return base[index];
}

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
          const size_t offset = kv_head * pool.head_stride() + (p % pool.block_size) * a.head_dim;
          const int32_t block = s.block_table[p / pool.block_size];
          double dot = 0.0;
          for (int32_t i = 0; i < a.head_dim; ++i) dot += double(q[i]) * kv_element(pool, block, a.layer, offset + i, false);
          scores.push_back(dot * a.scale);
        }
        const double max_score = *std::max_element(scores.begin(), scores.end());
        double total = 0.0;
        for (double& score : scores) total += (score = std::exp(score - max_score));
        float* o = out.data() + ((s.token_offset + t) * a.n_heads + h) * a.head_dim;
        for (int32_t i = 0; i < a.head_dim; ++i) {
          double sum = 0.0;
          for (int32_t p = first; p <= position; ++p) {
            const size_t offset = kv_head * pool.head_stride() + (p % pool.block_size) * a.head_dim + i;
            sum += scores[size_t(p - first)] * kv_element(pool, s.block_table[p / pool.block_size], a.layer, offset, true);
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

// With an F16 pool, the scalar kernel is the reference for llama.cpp's F16
// flash-attention numerics (F16 queries, F16 output accumulator). It differs
// from exact attention over the stored F16 keys and values by F16 rounding.
// The SIMD kernels follow the same steps, so they differ from it only where F32
// rounding in q.k or exp moves an accumulator element to the next F16 value.
constexpr double kF16ExactTolerance = 2e-3;
constexpr double kF16KernelTolerance = 5e-5;

void check_f16_kernels(const AttentionCase& c, int32_t chunk_size, const char* label) {
  ThreadPool pool(2);
  const std::vector<float> exact = naive_attention(c.args(nullptr, chunk_size));
  std::vector<float> reference(c.output_size(), -7.0f);
  scalar_cpu_kernels().attention(c.args(reference.data(), chunk_size), pool);
  EXPECT_LT(relative_error(reference, exact), kF16ExactTolerance) << label;
  std::printf("%s: scalar vs exact %.3g\n", label, relative_error(reference, exact));

  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    std::vector<float> actual(c.output_size(), -7.0f);
    kernels->attention(c.args(actual.data(), chunk_size), pool);
    EXPECT_LT(relative_error(actual, reference), kF16KernelTolerance) << kernels->isa << " " << label;
    std::printf("%s: %s vs scalar %.3g\n", label, kernels->isa, relative_error(actual, reference));
  }
}

TEST(AttentionF16, GqaPrefillAndDecode) {
  std::mt19937 rng(21);
  const AttentionCase c({{0, 17}, {40, 1}, {30, 3}}, 16, 8, 2, 64, rng, DType::F16);
  check_f16_kernels(c, 0, "f16 gqa");
}

TEST(AttentionF16, OddShapes) {
  std::mt19937 rng(22);
  // head_dim 40 leaves a partial vector in every accumulator update.
  const AttentionCase c({{0, 9}, {7, 4}, {0, 1}}, 5, 3, 1, 40, rng, DType::F16);
  check_f16_kernels(c, 0, "f16 odd shapes");
}

TEST(AttentionF16, ChunkedLocal) {
  std::mt19937 rng(23);
  const AttentionCase c({{0, 24}, {13, 6}, {31, 1}}, 4, 4, 2, 32, rng, DType::F16);
  check_f16_kernels(c, 8, "f16 chunked");
}

TEST(AttentionF16, LongDecode) {
  std::mt19937 rng(24);
  // 300 keys of head_dim 128: rounding the accumulator after every key must
  // not drift away from exact attention.
  const AttentionCase c({{299, 1}, {0, 5}}, 16, 4, 2, 128, rng, DType::F16);
  check_f16_kernels(c, 0, "f16 long decode");
}

TEST(AttentionF16, LateMaxRescalesEarlierKeys) {
  std::mt19937 rng(25);
  AttentionCase c({{0, 40}}, 16, 2, 1, 16, rng, DType::F16);
  const AttentionSequence& s = c.sequences[0];
  const KvPool& pool = c.storage.pool();
  const int32_t last = s.start_pos + s.n_tokens - 1;
  uint16_t* key = pool.keys_f16(s.block_table[last / pool.block_size], 1) + (last % pool.block_size) * pool.head_dim;
  const float* q = c.q.data() + (s.token_offset + s.n_tokens - 1) * c.n_heads * pool.head_dim;
  for (int32_t i = 0; i < pool.head_dim; ++i) key[i] = f32_to_f16(10.0f * q[i]);
  check_f16_kernels(c, 0, "f16 late max");
}

TEST(AttentionF16, StoreKvRoundsToNearestEven) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  KvPoolStorage storage(2, 4, 2, 1, 4, DType::F16);
  const KvPool& kv = storage.pool();
  EXPECT_EQ(kv.bytes(), size_t(2 * 2 * 2 * 4 * 4 * 2));
  // 1 + 2^-11 lies halfway between two F16 values and rounds to even (1.0);
  // 1 + 3 * 2^-11 rounds up to 1 + 2^-9; 1e5 overflows to +inf.
  const std::vector<float> k = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, -2.5f, 1e5f};
  const std::vector<float> v = {0.1f, -0.1f, 65504.0f, 6e-8f};
  const std::vector<int32_t> slots = {6};
  backend->store_kv(kv, 1, k.data(), v.data(), slots.data(), 1);
  const uint16_t* keys = kv.keys_f16(1, 1) + 2 * kv.head_dim;
  const uint16_t* values = kv.values_f16(1, 1) + 2 * kv.head_dim;
  const std::vector<uint16_t> expected_keys = {0x3c00, 0x3c02, 0xc100, 0x7c00};
  for (int32_t i = 0; i < kv.head_dim; ++i) {
    EXPECT_EQ(keys[i], expected_keys[size_t(i)]) << i;
    EXPECT_EQ(values[i], f32_to_f16(v[size_t(i)])) << i;
  }
  EXPECT_EQ(values[0], 0x2e66);
}

TEST(AttentionF16, KvCacheTypeParses) {
  EXPECT_EQ(parse_kv_cache_dtype("f16"), DType::F16);
  EXPECT_EQ(parse_kv_cache_dtype("F32"), DType::F32);
  EXPECT_THROW(parse_kv_cache_dtype("q8_0"), Error);
  EXPECT_THROW(KvPoolStorage(1, 4, 1, 1, 4, DType::BF16), Error);
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
