#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/kernel_test_util.h"
#include "kernels/kv_pool.h"

namespace brasa {
namespace {

using testing::random_floats;

TEST(CpuBackend, StoreKvWritesPoolLayout) {
  ThreadPool pool(2);
  auto backend = make_cpu_backend(pool);
  KvPoolStorage storage(4, 4, 2, 2, 8);
  const KvPool& kv = storage.pool();
  std::mt19937 rng(31);
  const auto k = random_floats(3 * 2 * 8, rng);
  const auto v = random_floats(3 * 2 * 8, rng);
  const std::vector<int32_t> slots = {13, 2, 7};  // block 3 offset 1, block 0 offset 2, block 1 offset 3
  backend->store_kv(kv, 1, k.data(), v.data(), slots.data(), 3);
  for (int t = 0; t < 3; ++t) {
    const int block = slots[t] / 4;
    const int offset = slots[t] % 4;
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 8; ++i) {
        // Layout per block and layer: keys [n_kv_heads][block_size][head_dim], then values.
        EXPECT_EQ(kv.keys(block, 1)[(h * 4 + offset) * 8 + i], k[(t * 2 + h) * 8 + i]) << t << " " << h << " " << i;
        EXPECT_EQ(kv.values(block, 1)[(h * 4 + offset) * 8 + i], v[(t * 2 + h) * 8 + i]) << t << " " << h << " " << i;
      }
    }
  }
  // Layer 0 stays untouched.
  for (int32_t b = 0; b < kv.n_blocks; ++b) EXPECT_EQ(kv.keys(b, 0)[0], 0.0f);
}

TEST(CpuBackend, RopeMatchesReferenceBothStyles) {
  ThreadPool pool(2);
  auto backend = make_cpu_backend(pool);
  std::mt19937 rng(32);
  const int32_t n_heads = 3;
  const int32_t head_dim = 16;
  std::vector<float> inv_freq(head_dim / 2);
  for (int32_t i = 0; i < head_dim / 2; ++i) inv_freq[i] = float(std::pow(500000.0, -2.0 * i / head_dim));
  const std::vector<int32_t> positions = {0, 1, 17, 4095, 131071};
  for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit}) {
    auto x = random_floats(positions.size() * n_heads * head_dim, rng);
    auto expected = x;
    for (size_t t = 0; t < positions.size(); ++t) {
      for (int32_t h = 0; h < n_heads; ++h) {
        reference::rope_head(expected.data() + (t * n_heads + h) * head_dim, positions[t], head_dim, inv_freq.data(),
                             style);
      }
    }
    backend->rope(x.data(), positions.data(), int64_t(positions.size()), n_heads, head_dim, inv_freq.data(), style);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], expected[i], 1e-5) << "index " << i;
  }
}

TEST(CpuBackend, EmbedDequantizesRows) {
  ThreadPool pool(2);
  auto backend = make_cpu_backend(pool);
  std::vector<uint16_t> table(4 * 3);
  for (size_t i = 0; i < table.size(); ++i) table[i] = f32_to_bf16(float(i));
  const Weight w = make_weight(DType::BF16, 4, 3, table.data());
  const std::vector<int32_t> ids = {2, 0};
  std::vector<float> out(6);
  backend->embed(w, ids.data(), 2, out.data());
  EXPECT_EQ(out, (std::vector<float>{6, 7, 8, 0, 1, 2}));
}

TEST(CpuBackend, EmbedRejectsIdOutsideVocabulary) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  std::vector<float> table(4 * 3);
  const Weight w = make_weight(DType::F32, 4, 3, table.data());
  const std::vector<int32_t> ids = {4};
  std::vector<float> out(3);
  EXPECT_THROW(backend->embed(w, ids.data(), 1, out.data()), Error);
}

TEST(CpuBackend, RmsNormReadsBf16Weight) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  const std::vector<float> x = {3.0f, 4.0f};
  const std::vector<uint16_t> weight = {f32_to_bf16(2.0f), f32_to_bf16(0.5f)};
  const Weight w = make_weight(DType::BF16, 1, 2, weight.data());
  std::vector<float> out(2);
  backend->rms_norm(x.data(), &w, 1, 2, 0.0f, out.data());
  // rms = sqrt((9 + 16) / 2) = 3.5355...
  EXPECT_NEAR(out[0], 3.0f / std::sqrt(12.5f) * 2.0f, 1e-6);
  EXPECT_NEAR(out[1], 4.0f / std::sqrt(12.5f) * 0.5f, 1e-6);
}

}  // namespace
}  // namespace brasa
