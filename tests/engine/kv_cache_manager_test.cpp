#include "engine/kv_cache_manager.h"

#include <numeric>

#include <gtest/gtest.h>

namespace brasa {
namespace {

using Blocks = std::vector<int32_t>;

KvCacheConfig make_config(int32_t n_global, int32_t chunk_size = 0, int32_t n_local = 0) {
  KvCacheConfig config;
  config.block_size = 4;
  config.chunk_size = chunk_size;
  config.n_global_blocks = n_global;
  config.n_local_blocks = n_local;
  config.model_seed = 1234;
  return config;
}

Sequence make_sequence(std::vector<int32_t> tokens) {
  Sequence seq;
  seq.request.id = "seq";
  seq.tokens = std::move(tokens);
  seq.n_prompt = int32_t(seq.tokens.size());
  return seq;
}

std::vector<int32_t> iota_tokens(int32_t n, int32_t first) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

// Admits a sequence with its cached prefix and computes n more tokens, as the scheduler and engine do.
PrefixHit admit(KvCacheManager& kv, Sequence& seq, int32_t n) {
  kv.update_hashes(seq);
  PrefixHit hit = kv.find_cached_prefix(seq);
  EXPECT_TRUE(kv.can_allocate(seq, n, hit));
  kv.allocate(seq, n, hit);
  seq.n_computed += n;
  kv.on_computed(seq);
  return hit;
}

void compute(KvCacheManager& kv, Sequence& seq, int32_t n) {
  ASSERT_TRUE(kv.can_allocate(seq, n));
  kv.allocate(seq, n);
  seq.n_computed += n;
  kv.on_computed(seq);
}

TEST(KvCacheManager, AllocatesAndFreesInReverse) {
  KvCacheManager kv(make_config(8));
  Sequence a = make_sequence(iota_tokens(10, 0));
  admit(kv, a, 10);
  EXPECT_EQ(a.block_table, (Blocks{0, 1, 2}));
  EXPECT_EQ(kv.global().free_queue(), (Blocks{3, 4, 5, 6, 7}));
  EXPECT_TRUE(kv.global().is_cached(0));
  EXPECT_TRUE(kv.global().is_cached(1));
  EXPECT_FALSE(kv.global().is_cached(2));

  // Decode two tokens: the third block fills up and is cached, the fourth is new.
  a.tokens.push_back(50);
  compute(kv, a, 1);
  a.tokens.push_back(51);
  compute(kv, a, 1);
  EXPECT_EQ(a.block_table, (Blocks{0, 1, 2}));
  EXPECT_TRUE(kv.global().is_cached(2));
  a.tokens.push_back(52);
  compute(kv, a, 1);
  EXPECT_EQ(a.block_table, (Blocks{0, 1, 2, 3}));

  kv.free(a);
  EXPECT_EQ(kv.global().free_queue(), (Blocks{4, 5, 6, 7, 3, 2, 1, 0}));
  EXPECT_EQ(kv.global().n_cached_free(), 3);
  EXPECT_TRUE(a.block_table.empty());
}

TEST(KvCacheManager, PrefixHitSharesBlocks) {
  KvCacheManager kv(make_config(8));
  Sequence a = make_sequence(iota_tokens(10, 0));
  admit(kv, a, 10);

  // b shares a's first 8 tokens while a still runs.
  std::vector<int32_t> tokens = iota_tokens(8, 0);
  tokens.insert(tokens.end(), {90, 91, 92, 93});
  Sequence b = make_sequence(tokens);
  const PrefixHit hit = admit(kv, b, 4);
  EXPECT_EQ(hit.n_tokens, 8);
  EXPECT_EQ(hit.blocks, (Blocks{0, 1}));
  EXPECT_EQ(b.block_table, (Blocks{0, 1, 3}));
  EXPECT_EQ(kv.global().ref_count(0), 2);
  EXPECT_EQ(kv.global().ref_count(1), 2);
  EXPECT_EQ(kv.global().ref_count(2), 1);

  kv.free(a);
  EXPECT_EQ(kv.global().free_queue(), (Blocks{4, 5, 6, 7, 2}));
  EXPECT_EQ(kv.global().ref_count(0), 1);
}

TEST(KvCacheManager, LastTokenAlwaysRecomputed) {
  KvCacheManager kv(make_config(8));
  Sequence a = make_sequence(iota_tokens(8, 0));
  admit(kv, a, 8);
  kv.free(a);

  // The same 8 tokens: both blocks are cached, but the last token needs its logits.
  Sequence b = make_sequence(iota_tokens(8, 0));
  const PrefixHit hit = admit(kv, b, 4);
  EXPECT_EQ(hit.n_tokens, 4);
  EXPECT_EQ(b.block_table[0], 0);
  EXPECT_EQ(b.n_computed, 8);
}

TEST(KvCacheManager, PromptLogprobsSkipCache) {
  KvCacheManager kv(make_config(8));
  Sequence a = make_sequence(iota_tokens(9, 0));
  admit(kv, a, 9);
  kv.free(a);

  Sequence b = make_sequence(iota_tokens(9, 0));
  b.request.sampling.prompt_logprobs = 0;
  b.n_prompt_scored = 1;
  kv.update_hashes(b);
  EXPECT_EQ(kv.find_cached_prefix(b).n_tokens, 0);
}

TEST(KvCacheManager, EvictionDropsLeastRecentPrefix) {
  KvCacheManager kv(make_config(4));
  Sequence a = make_sequence(iota_tokens(8, 0));
  admit(kv, a, 8);
  kv.free(a);
  EXPECT_EQ(kv.global().free_queue(), (Blocks{2, 3, 1, 0}));

  // Three fresh blocks evict a's second block (1) but not its first (0).
  Sequence x = make_sequence(iota_tokens(12, 100));
  admit(kv, x, 12);
  EXPECT_EQ(x.block_table, (Blocks{2, 3, 1}));
  EXPECT_EQ(kv.global().free_queue(), (Blocks{0}));
  kv.free(x);

  std::vector<int32_t> tokens = iota_tokens(8, 0);
  tokens.push_back(7);
  Sequence a2 = make_sequence(tokens);
  const PrefixHit hit = admit(kv, a2, 5);
  EXPECT_EQ(hit.n_tokens, 4);
  EXPECT_EQ(hit.blocks, (Blocks{0}));
}

TEST(KvCacheManager, CapacityCheckHasNoSideEffects) {
  KvCacheManager kv(make_config(2));
  Sequence a = make_sequence(iota_tokens(8, 0));
  admit(kv, a, 8);
  EXPECT_EQ(kv.global().n_free(), 0);

  Sequence b = make_sequence(iota_tokens(3, 20));
  kv.update_hashes(b);
  EXPECT_FALSE(kv.can_allocate(b, 3));
  EXPECT_EQ(kv.global().n_free(), 0);
  EXPECT_TRUE(b.block_table.empty());
  EXPECT_EQ(kv.global().ref_count(0), 1);

  // A prefix hit on blocks a still holds costs nothing, but the new block does.
  std::vector<int32_t> tokens = iota_tokens(4, 0);
  tokens.push_back(99);
  Sequence c = make_sequence(tokens);
  kv.update_hashes(c);
  const PrefixHit hit = kv.find_cached_prefix(c);
  EXPECT_EQ(hit.n_tokens, 4);
  EXPECT_FALSE(kv.can_allocate(c, 1, hit));
  EXPECT_EQ(kv.global().ref_count(0), 1);

  kv.free(a);
  EXPECT_TRUE(kv.can_allocate(c, 1, hit));
  EXPECT_EQ(kv.global().n_free(), 2);
}

TEST(KvCacheManager, FreeCachedHitCountsAgainstCapacity) {
  KvCacheManager kv(make_config(3));
  Sequence a = make_sequence(iota_tokens(8, 0));
  admit(kv, a, 8);
  kv.free(a);
  EXPECT_EQ(kv.global().free_queue(), (Blocks{2, 1, 0}));

  // Taking both cached blocks and one new block needs all three free blocks.
  std::vector<int32_t> tokens = iota_tokens(8, 0);
  tokens.push_back(5);
  Sequence b = make_sequence(tokens);
  const PrefixHit hit = admit(kv, b, 1);
  EXPECT_EQ(hit.n_tokens, 8);
  EXPECT_EQ(b.block_table, (Blocks{0, 1, 2}));
  EXPECT_EQ(kv.global().n_free(), 0);
}

TEST(KvCacheManager, LocalChunkReleased) {
  // Chunk of 8 tokens = 2 blocks of 4.
  KvCacheManager kv(make_config(16, 8, 4));
  Sequence a = make_sequence(iota_tokens(20, 0));
  admit(kv, a, 8);
  EXPECT_EQ(a.block_table, (Blocks{0, 1}));
  // n_computed = 8 starts chunk 1, so chunk 0's local blocks went back (last first), cached.
  EXPECT_EQ(a.local_block_table, (Blocks{-1, -1}));
  EXPECT_EQ(kv.local()->free_queue(), (Blocks{2, 3, 1, 0}));
  EXPECT_EQ(kv.local()->n_cached_free(), 2);

  compute(kv, a, 6);
  EXPECT_EQ(a.block_table, (Blocks{0, 1, 2, 3}));
  EXPECT_EQ(a.local_block_table, (Blocks{-1, -1, 2, 3}));
  EXPECT_EQ(kv.local()->free_queue(), (Blocks{1, 0}));

  compute(kv, a, 2);
  EXPECT_EQ(a.local_block_table, (Blocks{-1, -1, -1, -1}));
  EXPECT_EQ(kv.local()->free_queue(), (Blocks{1, 0, 3, 2}));

  compute(kv, a, 4);
  EXPECT_EQ(a.local_block_table, (Blocks{-1, -1, -1, -1, 1}));
  EXPECT_EQ(kv.local()->n_used(), 1);

  kv.free(a);
  EXPECT_EQ(kv.local()->n_used(), 0);
  EXPECT_EQ(kv.global().n_used(), 0);
}

TEST(KvCacheManager, LocalHitNeedsChunkBlocks) {
  KvCacheManager kv(make_config(16, 8, 4));
  Sequence a = make_sequence(iota_tokens(12, 0));
  admit(kv, a, 8);
  compute(kv, a, 4);
  EXPECT_EQ(a.local_block_table, (Blocks{-1, -1, 2}));
  kv.free(a);

  // Computing from position 12 needs the local block of positions 8..11: cached.
  std::vector<int32_t> tokens = iota_tokens(12, 0);
  tokens.push_back(3);
  Sequence b = make_sequence(tokens);
  kv.update_hashes(b);
  PrefixHit hit = kv.find_cached_prefix(b);
  EXPECT_EQ(hit.n_tokens, 12);
  EXPECT_EQ(hit.local_first, 2);
  EXPECT_EQ(hit.local_blocks, (Blocks{2}));

  // Evict every cached local block: the hit falls back to the chunk start.
  for (int i = 0; i < 4; ++i) kv.local()->allocate();
  for (int32_t block = 0; block < 4; ++block) kv.local()->release(block);
  hit = kv.find_cached_prefix(b);
  EXPECT_EQ(hit.n_tokens, 8);
  EXPECT_EQ(hit.blocks, (Blocks{0, 1}));
  EXPECT_TRUE(hit.local_blocks.empty());

  kv.allocate(b, 5, hit);
  EXPECT_EQ(b.n_computed, 8);
  EXPECT_EQ(b.block_table, (Blocks{0, 1, 3, 4}));
  EXPECT_EQ(b.local_block_table.size(), 4u);
  EXPECT_EQ(b.local_block_table[0], -1);
  EXPECT_EQ(b.local_block_table[1], -1);
  EXPECT_EQ(kv.local()->n_used(), 2);
}

TEST(KvCacheManager, FitsAlone) {
  KvCacheManager kv(make_config(4, 8, 2));
  EXPECT_TRUE(kv.fits_alone(16));
  EXPECT_FALSE(kv.fits_alone(17));

  KvCacheManager small_local(make_config(4, 8, 1));
  EXPECT_TRUE(small_local.fits_alone(4));
  EXPECT_FALSE(small_local.fits_alone(5));
}

}  // namespace
}  // namespace brasa
