#include "engine/scheduler.h"

#include <numeric>

#include <gtest/gtest.h>

namespace brasa {
namespace {

using Blocks = std::vector<int32_t>;

struct Fixture {
  explicit Fixture(int32_t n_blocks, int32_t budget = 8, int32_t max_seqs = 8, int32_t chunk_size = 0,
                   int32_t n_local = 0)
      : kv(make_kv(n_blocks, chunk_size, n_local)), scheduler(SchedulerConfig{max_seqs, budget}, kv) {}

  static KvCacheConfig make_kv(int32_t n_blocks, int32_t chunk_size, int32_t n_local) {
    KvCacheConfig config;
    config.block_size = 4;
    config.n_global_blocks = n_blocks;
    config.chunk_size = chunk_size;
    config.n_local_blocks = n_local;
    return config;
  }

  Sequence* add(const std::string& id, int32_t n_prompt, int32_t first_token = 0) {
    auto seq = std::make_unique<Sequence>();
    seq->request.id = id;
    seq->tokens.resize(size_t(n_prompt));
    std::iota(seq->tokens.begin(), seq->tokens.end(), first_token);
    seq->n_prompt = n_prompt;
    Sequence* raw = seq.get();
    scheduler.add(std::move(seq));
    return raw;
  }

  // Schedules one step and plays the model: advances n_computed and appends a
  // token to every sequence that caught up. Returns (id, n_tokens) per sequence.
  std::vector<std::pair<std::string, int32_t>> step() {
    last = scheduler.schedule();
    std::vector<std::pair<std::string, int32_t>> shares;
    for (const ScheduledSequence& item : last.scheduled) {
      Sequence& seq = *item.seq;
      EXPECT_EQ(item.start_pos, seq.n_computed);
      seq.n_computed += item.n_tokens;
      kv.on_computed(seq);
      if (seq.n_computed == int32_t(seq.tokens.size())) {
        seq.tokens.push_back(7);
        kv.update_hashes(seq);
      }
      shares.emplace_back(seq.request.id, item.n_tokens);
    }
    return shares;
  }

  KvCacheManager kv;
  Scheduler scheduler;
  SchedulerOutput last;
};

using Shares = std::vector<std::pair<std::string, int32_t>>;

TEST(Scheduler, ChunkedPrefillSharesSteps) {
  Fixture f(64, 8);
  f.add("a", 3);
  EXPECT_EQ(f.step(), (Shares{{"a", 3}}));
  EXPECT_EQ(f.step(), (Shares{{"a", 1}}));

  // b's 20-token prompt is split over three steps, and a decodes in each of them.
  f.add("b", 20, 100);
  EXPECT_EQ(f.step(), (Shares{{"a", 1}, {"b", 7}}));
  EXPECT_EQ(f.step(), (Shares{{"a", 1}, {"b", 7}}));
  EXPECT_EQ(f.step(), (Shares{{"a", 1}, {"b", 6}}));
  EXPECT_EQ(f.step(), (Shares{{"a", 1}, {"b", 1}}));
}

TEST(Scheduler, MaxNumSeqsBoundsRunning) {
  Fixture f(64, 64, 2);
  f.add("a", 2);
  f.add("b", 2);
  f.add("c", 2);
  EXPECT_EQ(f.step(), (Shares{{"a", 2}, {"b", 2}}));
  EXPECT_EQ(f.scheduler.waiting().size(), 1u);

  f.scheduler.finish(f.scheduler.running()[0].get());
  EXPECT_EQ(f.step(), (Shares{{"b", 1}, {"c", 2}}));
}

TEST(Scheduler, ChunkBoundarySplitsPrefill) {
  // Chunk of 8 tokens: a step never crosses position 8 or 16.
  Fixture f(64, 64, 8, 8, 8);
  f.add("a", 20);
  EXPECT_EQ(f.step(), (Shares{{"a", 8}}));
  EXPECT_EQ(f.step(), (Shares{{"a", 8}}));
  EXPECT_EQ(f.step(), (Shares{{"a", 4}}));
  EXPECT_EQ(f.kv.local()->n_used(), 1);
}

TEST(Scheduler, PreemptsLatestAndRecomputes) {
  // 4 blocks of 4 tokens: two sequences of 8 fill the pool.
  Fixture f(4, 64);
  Sequence* a = f.add("a", 7);
  Sequence* b = f.add("b", 7, 50);
  EXPECT_EQ(f.step(), (Shares{{"a", 7}, {"b", 7}}));
  EXPECT_EQ(a->block_table, (Blocks{0, 1}));
  EXPECT_EQ(b->block_table, (Blocks{2, 3}));
  EXPECT_EQ(f.step(), (Shares{{"a", 1}, {"b", 1}}));

  // a needs a third block: b, admitted last, is preempted and its blocks freed.
  EXPECT_EQ(f.step(), (Shares{{"a", 1}}));
  ASSERT_EQ(f.last.preempted.size(), 1u);
  EXPECT_EQ(f.last.preempted[0], b);
  EXPECT_EQ(b->status, SequenceStatus::Waiting);
  EXPECT_EQ(b->n_computed, 0);
  EXPECT_TRUE(b->block_table.empty());
  EXPECT_EQ(f.scheduler.waiting().front().get(), b);
  EXPECT_EQ(f.scheduler.counters().n_preemptions, 1);
  EXPECT_EQ(a->block_table.size(), 3u);

  // b stays out until a finishes, then recomputes its 9 tokens, partly from the prefix cache.
  EXPECT_EQ(f.step(), (Shares{{"a", 1}}));
  f.scheduler.finish(a);
  const Shares shares = f.step();
  ASSERT_EQ(shares.size(), 1u);
  EXPECT_EQ(shares[0].first, "b");
  EXPECT_EQ(b->n_computed, 9);
  EXPECT_EQ(b->tokens.size(), 10u);
}

TEST(Scheduler, PreemptsItselfWhenLast) {
  Fixture f(3, 64);
  Sequence* a = f.add("a", 3);
  Sequence* b = f.add("b", 8, 50);
  EXPECT_EQ(f.step(), (Shares{{"a", 3}, {"b", 8}}));
  EXPECT_EQ(f.kv.global().n_free(), 0);

  // a still fits in its block; b, the last admitted, needs a block and preempts itself.
  EXPECT_EQ(f.step(), (Shares{{"a", 1}}));
  ASSERT_EQ(f.last.preempted.size(), 1u);
  EXPECT_EQ(f.last.preempted[0], b);
  EXPECT_EQ(a->status, SequenceStatus::Running);
  EXPECT_EQ(f.kv.global().n_free(), 2);
}

TEST(Scheduler, RemoveFreesBlocks) {
  Fixture f(8, 64);
  f.add("a", 6);
  f.add("b", 6, 40);
  f.step();
  EXPECT_EQ(f.kv.global().n_used(), 4);

  std::unique_ptr<Sequence> removed = f.scheduler.remove("a");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->status, SequenceStatus::Finished);
  EXPECT_EQ(f.kv.global().n_used(), 2);
  EXPECT_EQ(f.scheduler.remove("missing"), nullptr);
  EXPECT_EQ(f.step(), (Shares{{"b", 1}}));
}

}  // namespace
}  // namespace brasa
