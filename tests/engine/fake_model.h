#pragma once

// A Model for engine tests that keeps its state only in the KV pools. Each step
// writes (token, position) of its new tokens into the slots its block tables
// name. It then derives every logits row from a hash of the tokens it reads
// back through the block tables at the positions that token attends to. A
// paging bug (wrong block, stale block, missing write) changes the hash and
// with it the greedy output, which tests compare with reference_logits()
// computed from the true token list.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/model.h"

namespace brasa::testing {

// Geometry: one global layer, optionally one chunked-local layer, one KV head of two values.
ModelInfo fake_model_info(int32_t vocab_size, int32_t chunk_size, int32_t max_context = 4096);

// Logits of the token at position tokens.size() - 1, from the true tokens.
std::vector<float> reference_logits(const std::vector<int32_t>& tokens, const ModelInfo& info);

// Greedy continuation of `prompt` by n tokens, stopping early at a stop token.
std::vector<int32_t> reference_greedy(std::vector<int32_t> prompt, int32_t n, const ModelInfo& info,
                                      const std::vector<int32_t>& stop_ids = {});

struct FakeStepRecord {
  int32_t start_pos = 0;
  int32_t n_tokens = 0;
};

class FakeModel : public Model {
 public:
  explicit FakeModel(ModelInfo info) : info_(std::move(info)) {}
  const ModelInfo& info() const override { return info_; }
  void forward(std::span<const SequenceStep> batch, const KvPools& kv, StepOutput& out) override;

  // Batch composition of each forward call, for scheduler tests.
  std::vector<std::vector<FakeStepRecord>> steps;
  // When set, forward() throws, as a failing model would.
  bool fail = false;

 private:
  ModelInfo info_;
};

}  // namespace brasa::testing
