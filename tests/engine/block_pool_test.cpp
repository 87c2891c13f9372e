#include "engine/block_pool.h"

#include <gtest/gtest.h>

namespace brasa {
namespace {

using Blocks = std::vector<int32_t>;

TEST(BlockPool, AllocateTakesQueueHead) {
  BlockPool pool(4);
  EXPECT_EQ(pool.free_queue(), (Blocks{0, 1, 2, 3}));

  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), 1);
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_EQ(pool.free_queue(), (Blocks{3}));
  EXPECT_EQ(pool.n_free(), 1);
  EXPECT_EQ(pool.n_used(), 3);
  EXPECT_EQ(pool.ref_count(1), 1);
}

TEST(BlockPool, ReleaseAppendsToTail) {
  BlockPool pool(4);
  for (int i = 0; i < 3; ++i) pool.allocate();

  pool.release(1);
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 1}));
  pool.release(0);
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 1, 0}));
  EXPECT_EQ(pool.ref_count(0), 0);
  EXPECT_EQ(pool.allocate(), 3);
  EXPECT_EQ(pool.allocate(), 1);
}

TEST(BlockPool, SharedBlockNeedsAllReleases) {
  BlockPool pool(2);
  const int32_t b = pool.allocate();
  ASSERT_TRUE(pool.cache(b, 42));
  pool.touch(b);
  EXPECT_EQ(pool.ref_count(b), 2);

  pool.release(b);
  EXPECT_EQ(pool.ref_count(b), 1);
  EXPECT_EQ(pool.free_queue(), (Blocks{1}));
  pool.release(b);
  EXPECT_EQ(pool.free_queue(), (Blocks{1, 0}));
}

TEST(BlockPool, CachedBlockTouchedFromQueue) {
  BlockPool pool(3);
  const int32_t b = pool.allocate();
  ASSERT_TRUE(pool.cache(b, 7));
  pool.release(b);
  EXPECT_EQ(pool.n_cached_free(), 1);
  EXPECT_EQ(pool.free_queue(), (Blocks{1, 2, 0}));

  ASSERT_EQ(pool.lookup(7), std::optional<int32_t>(0));
  pool.touch(0);
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.n_cached_free(), 0);
  EXPECT_EQ(pool.free_queue(), (Blocks{1, 2}));
  EXPECT_TRUE(pool.is_cached(0));
}

TEST(BlockPool, EvictsLeastRecentlyReleased) {
  BlockPool pool(3);
  for (int32_t b = 0; b < 3; ++b) {
    ASSERT_EQ(pool.allocate(), b);
    ASSERT_TRUE(pool.cache(b, BlockHash(100 + b)));
  }
  pool.release(1);
  pool.release(0);
  pool.release(2);
  EXPECT_EQ(pool.free_queue(), (Blocks{1, 0, 2}));
  EXPECT_EQ(pool.n_cached_free(), 3);

  // The head (block 1) is evicted first; its hash leaves the cache.
  EXPECT_EQ(pool.allocate(), 1);
  EXPECT_FALSE(pool.lookup(101).has_value());
  EXPECT_FALSE(pool.is_cached(1));
  EXPECT_EQ(pool.lookup(100), std::optional<int32_t>(0));
  EXPECT_EQ(pool.lookup(102), std::optional<int32_t>(2));
  EXPECT_EQ(pool.n_cached_free(), 2);

  // A touched block becomes most recently used once released again.
  pool.touch(0);
  pool.release(0);
  EXPECT_EQ(pool.free_queue(), (Blocks{2, 0}));
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_FALSE(pool.lookup(102).has_value());
}

TEST(BlockPool, DuplicateHashStaysUncached) {
  BlockPool pool(2);
  const int32_t a = pool.allocate();
  const int32_t b = pool.allocate();
  EXPECT_TRUE(pool.cache(a, 5));
  EXPECT_FALSE(pool.cache(b, 5));
  EXPECT_FALSE(pool.is_cached(b));
  EXPECT_EQ(pool.lookup(5), std::optional<int32_t>(a));
  EXPECT_TRUE(pool.cache(a, 5));
}

}  // namespace
}  // namespace brasa
