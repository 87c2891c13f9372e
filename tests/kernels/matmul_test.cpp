#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/quantized_activations.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "core/error.h"
#include "kernels/kernel_test_util.h"

namespace brasa {
namespace {

using testing::make_random_weight;
using testing::random_floats;
using testing::relative_error;

// Every kernel set accumulates in F32 while the reference uses double, so
// outputs agree to F32 rounding over a few thousand terms; 1e-5 leaves room
// for that and catches any wrong weight, which costs an error of order 1. The
// reference first applies the rounding that the kernel set declares.
constexpr double kMaxRelativeError = 1e-5;

using testing::Shape;

std::vector<float> round_to_bf16(const std::vector<float>& values) {
  std::vector<float> rounded(values.size());
  for (size_t i = 0; i < values.size(); ++i) rounded[i] = bf16_to_f32(f32_to_bf16(values[i]));
  return rounded;
}

// x as the sum of its two BF16 parts, which F32 represents exactly.
std::vector<float> split_bf16_sum(const std::vector<float>& values) {
  std::vector<float> sums(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const float high = bf16_to_f32(f32_to_bf16(values[i]));
    const float low = bf16_to_f32(f32_to_bf16(values[i] - high));
    sums[i] = high + low;
  }
  return sums;
}

// The weight dequantized to F32 and rounded to BF16, as the AMX path multiplies it.
std::vector<float> bf16_rounded_weight(const Weight& w) {
  std::vector<float> values(size_t(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) reference::dequantize_row(w, r, values.data() + r * w.cols);
  return round_to_bf16(values);
}

// The exact product of what `kernels` multiplies for this weight and x.
std::vector<float> expected_matmul(const CpuKernels& kernels, const Weight& w, const std::vector<float>& x,
                                   int64_t n_tokens) {
  const MatmulRounding rounding =
      kernels.matmul_rounding != nullptr ? kernels.matmul_rounding(w, n_tokens) : MatmulRounding{};
  std::vector<float> reference_x = x;
  if (rounding.activations_to_int8_blocks) reference_x = dequantize_activations(x.data(), n_tokens, w.cols);
  if (rounding.activations_to_bf16_pair) reference_x = split_bf16_sum(x);

  std::vector<float> expected(size_t(n_tokens * w.rows));
  if (rounding.weights_to_bf16) {
    const auto values = bf16_rounded_weight(w);
    const Weight rounded = make_weight(DType::F32, w.rows, w.cols, values.data());
    reference::matmul_rows(rounded, reference_x.data(), n_tokens, expected.data(), 0, w.rows);
  } else {
    reference::matmul_rows(w, reference_x.data(), n_tokens, expected.data(), 0, w.rows);
  }
  return expected;
}

// Token counts from decode sizes through several 16-token AMX tiles, odd
// ones included, so every register-tile and AMX-tile tail runs.
const std::vector<int64_t> kTokenCounts = {1, 2, 3, 5, 6, 7, 15, 16, 17, 31, 33, 40, 70};

void check_matmul(DType dtype, const std::vector<Shape>& shapes) {
  ThreadPool pool(2);
  std::mt19937 rng(1234);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    for (const Shape& shape : shapes) {
      const auto weight = make_random_weight(dtype, shape.rows, shape.cols, rng);
      for (int64_t n_tokens : kTokenCounts) {
        // The scalar reference kernel gains nothing from more token counts.
        if (std::string(kernels->isa) == "scalar" && n_tokens > 7) continue;
        const auto x = random_floats(size_t(n_tokens * shape.cols), rng);
        const auto expected = expected_matmul(*kernels, weight.weight, x, n_tokens);
        std::vector<float> actual(expected.size(), -1.0f);
        kernels->matmul(weight.weight, x.data(), n_tokens, actual.data(), pool);
        EXPECT_LT(relative_error(actual, expected), kMaxRelativeError)
            << kernels->isa << " " << dtype_name(dtype) << " rows " << shape.rows << " cols " << shape.cols
            << " tokens " << n_tokens;
      }
    }
  }
}

// Column counts that are not multiples of 8 or 16 exercise the SIMD tails.
// Row counts around the 16- and 32-row AMX tiles and panels.
const std::vector<Shape> kFloatShapes = {{1, 1},    {3, 7},    {5, 16},   {9, 33},  {17, 100},
                                         {33, 63},  {37, 257}, {47, 96},  {64, 1024}};
const std::vector<Shape> kBlockShapes = {{1, 32}, {3, 64}, {9, 96}, {17, 160}, {33, 64}, {37, 512}, {64, 1024}};

TEST(Matmul, F32MatchesReference) { check_matmul(DType::F32, kFloatShapes); }
TEST(Matmul, F16MatchesReference) { check_matmul(DType::F16, kFloatShapes); }
TEST(Matmul, BF16MatchesReference) { check_matmul(DType::BF16, kFloatShapes); }
TEST(Matmul, F8E4M3MatchesReference) { check_matmul(DType::F8_E4M3, kFloatShapes); }
TEST(Matmul, Q8_0MatchesReference) { check_matmul(DType::Q8_0, kBlockShapes); }
TEST(Matmul, Q4_0MatchesReference) { check_matmul(DType::Q4_0, kBlockShapes); }

TEST(Matmul, Bf16DotKernelMatchesReference) {
  // The vdpbf16ps kernel on its own, for both weight types, both activation
  // layouts and every token tile. No kernel set uses it; kernels_bench keeps
  // measuring it against the F32 paths.
  if (find_cpu_kernels("avx512-vbmi") == nullptr) GTEST_SKIP() << "no AVX512-VBMI on this CPU";
  ThreadPool pool(2);
  std::mt19937 rng(21);
  for (DType dtype : {DType::BF16, DType::F8_E4M3}) {
    for (bool split : {true, false}) {
      // BF16 weights always use split activations.
      const bool split_used = split || dtype == DType::BF16;
      for (const Shape& shape : kFloatShapes) {
        const auto weight = make_random_weight(dtype, shape.rows, shape.cols, rng);
        for (int64_t n_tokens : kTokenCounts) {
          const auto x = random_floats(size_t(n_tokens * shape.cols), rng);
          const auto reference_x = split_used ? split_bf16_sum(x) : round_to_bf16(x);
          std::vector<float> expected(size_t(n_tokens * shape.rows));
          reference::matmul_rows(weight.weight, reference_x.data(), n_tokens, expected.data(), 0, shape.rows);
          std::vector<float> actual(expected.size(), -1.0f);
          matmul_bf16_dot_avx512(weight.weight, x.data(), n_tokens, actual.data(), pool, split);
          EXPECT_LT(relative_error(actual, expected), kMaxRelativeError)
              << dtype_name(dtype) << " split " << split << " rows " << shape.rows << " cols " << shape.cols
              << " tokens " << n_tokens;
        }
      }
    }
  }
}

TEST(Matmul, Fp8FmaKernelMatchesReference) {
  // The FP8 decode kernel of the avx512-vbmi and amx sets, on its own for
  // every token count: exact F32 activations, so the plain reference applies.
  if (find_cpu_kernels("avx512-vbmi") == nullptr) GTEST_SKIP() << "no AVX512-VBMI on this CPU";
  testing::expect_exact_matmul(matmul_fp8_fma_avx512, DType::F8_E4M3, kFloatShapes, kTokenCounts, 23,
                               kMaxRelativeError);
}

TEST(Matmul, ManyTokensCrossCallBlocks) {
  // 600 tokens span three 256-token AMX calls per panel, the last one partial.
  ThreadPool pool(2);
  std::mt19937 rng(5);
  for (DType dtype : {DType::BF16, DType::F8_E4M3, DType::Q8_0}) {
    const auto weight = make_random_weight(dtype, 40, 96, rng);
    const int64_t n_tokens = 600;
    const auto x = random_floats(size_t(n_tokens * 96), rng);
    for (const CpuKernels* kernels : supported_cpu_kernels()) {
      if (std::string(kernels->isa) == "scalar") continue;
      const auto expected = expected_matmul(*kernels, weight.weight, x, n_tokens);
      std::vector<float> actual(expected.size(), -1.0f);
      kernels->matmul(weight.weight, x.data(), n_tokens, actual.data(), pool);
      EXPECT_LT(relative_error(actual, expected), kMaxRelativeError) << kernels->isa << " " << dtype_name(dtype);
    }
  }
}

TEST(Matmul, Q8_0SameBitsAloneAndInBatch) {
  // A token's Q8_0 product must not depend on the tokens beside it. The amx
  // set multiplies 8 or more tokens with AMX-INT8 tiles and fewer with VNNI,
  // and both sum each block exactly before the same F32 steps. So greedy
  // outputs stay equal alone and in a batch.
  ThreadPool pool(2);
  std::mt19937 rng(21);
  for (const Shape& shape : std::vector<Shape>{{37, 512}, {64, 1024}, {16, 96}}) {
    const auto weight = make_random_weight(DType::Q8_0, shape.rows, shape.cols, rng);
    for (int64_t n_tokens : {5, 17, 40, 300}) {
      const auto x = random_floats(size_t(n_tokens * shape.cols), rng);
      for (const CpuKernels* kernels : supported_cpu_kernels()) {
        std::vector<float> batch(size_t(n_tokens * shape.rows));
        kernels->matmul(weight.weight, x.data(), n_tokens, batch.data(), pool);
        int64_t differing = 0;
        for (int64_t t = 0; t < n_tokens; ++t) {
          std::vector<float> alone(size_t(shape.rows));
          kernels->matmul(weight.weight, x.data() + t * shape.cols, 1, alone.data(), pool);
          for (int64_t r = 0; r < shape.rows; ++r) {
            if (alone[size_t(r)] != batch[size_t(t * shape.rows + r)]) ++differing;
          }
        }
        EXPECT_EQ(differing, 0) << kernels->isa << " rows " << shape.rows << " cols " << shape.cols << " tokens "
                                << n_tokens;
      }
    }
  }
}

TEST(Matmul, Q8_0SameBitsAcrossKernelSets) {
  // --kernels avx512 must give the bits of the default amx set, whose Q8_0
  // products take AMX-INT8 tiles from 8 tokens. The shapes pair partial
  // 16-row groups with odd block counts, and the token counts include 8 to
  // 15, where a 16-token tile is partly padding.
  const CpuKernels* amx = find_cpu_kernels("amx");
  const CpuKernels* avx512 = find_cpu_kernels("avx512");
  if (amx == nullptr || avx512 == nullptr) GTEST_SKIP() << "this CPU lacks the amx or avx512 kernel set";
  ThreadPool pool(2);
  std::mt19937 rng(22);
  for (const Shape& shape : std::vector<Shape>{{1, 32}, {24, 96}, {33, 160}, {47, 224}, {172, 64}}) {
    const auto weight = make_random_weight(DType::Q8_0, shape.rows, shape.cols, rng);
    for (int64_t n_tokens : {1, 7, 8, 9, 15, 16, 33, 257}) {
      const auto x = random_floats(size_t(n_tokens * shape.cols), rng);
      std::vector<float> tiles(size_t(n_tokens * shape.rows));
      std::vector<float> vnni(size_t(n_tokens * shape.rows));
      amx->matmul(weight.weight, x.data(), n_tokens, tiles.data(), pool);
      avx512->matmul(weight.weight, x.data(), n_tokens, vnni.data(), pool);
      int64_t differing = 0;
      for (size_t i = 0; i < tiles.size(); ++i) differing += tiles[i] != vnni[i] ? 1 : 0;
      EXPECT_EQ(differing, 0) << "rows " << shape.rows << " cols " << shape.cols << " tokens " << n_tokens;
    }
  }
}

TEST(Matmul, Bf16RoundingStaysClose) {
  // Rounding F16 or block weights to BF16 keeps 8 significant bits: against
  // the exact F32 product the error stays near 2^-9, far below the order-1
  // error of a wrong weight or layout.
  ThreadPool pool(2);
  std::mt19937 rng(11);
  for (DType dtype : {DType::F16, DType::BF16, DType::F8_E4M3, DType::Q4_0}) {
    const auto weight = make_random_weight(dtype, 48, 512, rng);
    const auto x = random_floats(40 * 512, rng);
    std::vector<float> expected(40 * 48);
    reference::matmul_rows(weight.weight, x.data(), 40, expected.data(), 0, 48);
    for (const CpuKernels* kernels : supported_cpu_kernels()) {
      std::vector<float> actual(expected.size());
      kernels->matmul(weight.weight, x.data(), 40, actual.data(), pool);
      EXPECT_LT(relative_error(actual, expected), 2e-2) << kernels->isa << " " << dtype_name(dtype);
    }
  }
}

TEST(Matmul, ExactActivationsSkipRounding) {
  // A weight marked exact_activations must match the F32 product in every
  // kernel set, for decode and prefill token counts.
  ThreadPool pool(2);
  std::mt19937 rng(3);
  for (DType dtype : {DType::BF16, DType::F8_E4M3, DType::Q8_0}) {
    auto weight = make_random_weight(dtype, 16, 256, rng);
    weight.weight.exact_activations = true;
    for (int64_t n_tokens : {1, 40}) {
      const auto x = random_floats(size_t(n_tokens * 256), rng);
      std::vector<float> expected(size_t(n_tokens * 16));
      reference::matmul_rows(weight.weight, x.data(), n_tokens, expected.data(), 0, 16);
      for (const CpuKernels* kernels : supported_cpu_kernels()) {
        std::vector<float> actual(expected.size());
        kernels->matmul(weight.weight, x.data(), n_tokens, actual.data(), pool);
        EXPECT_LT(relative_error(actual, expected), kMaxRelativeError)
            << kernels->isa << " " << dtype_name(dtype) << " tokens " << n_tokens;
      }
    }
  }
}

TEST(Matmul, KernelSetLookupByName) {
  // The best set is the last supported one, and lookup by name finds each
  // set or returns null.
  const auto all = supported_cpu_kernels();
  EXPECT_EQ(&best_cpu_kernels(), all.back());
  EXPECT_EQ(find_cpu_kernels("scalar"), all.front());
  EXPECT_EQ(find_cpu_kernels("no-such-set"), nullptr);
}

TEST(Matmul, QuantizedActivationsStayClose) {
  // Int8 activations cost accuracy: against the exact F32 product the error
  // of the VNNI path stays near llama.cpp's, about 1% of the output norm.
  ThreadPool pool(2);
  std::mt19937 rng(99);
  for (DType dtype : {DType::Q8_0, DType::Q4_0}) {
    const auto weight = make_random_weight(dtype, 64, 1024, rng);
    const auto x = random_floats(5 * 1024, rng);
    std::vector<float> expected(5 * 64);
    reference::matmul_rows(weight.weight, x.data(), 5, expected.data(), 0, 64);
    for (const CpuKernels* kernels : supported_cpu_kernels()) {
      std::vector<float> actual(expected.size());
      kernels->matmul(weight.weight, x.data(), 5, actual.data(), pool);
      EXPECT_LT(relative_error(actual, expected), 2e-2) << kernels->isa << " " << dtype_name(dtype);
    }
  }
}

TEST(Matmul, RowSliceReadsItsOwnRows) {
  // slice_rows keeps the parent's row stride and offsets row_scale, as for one
  // expert of a fused tensor. 2 tokens take the decode kernels, 20 the AMX path.
  ThreadPool pool(2);
  std::mt19937 rng(7);
  const auto weight = make_random_weight(DType::F8_E4M3, 40, 48, rng);
  const Weight slice = weight.weight.slice_rows(8, 24);
  for (int64_t n_tokens : {2, 20}) {
    const auto x = random_floats(size_t(n_tokens * 48), rng);
    for (const CpuKernels* kernels : supported_cpu_kernels()) {
      const auto full = expected_matmul(*kernels, weight.weight, x, n_tokens);
      std::vector<float> sliced(size_t(n_tokens * 24));
      kernels->matmul(slice, x.data(), n_tokens, sliced.data(), pool);
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < 24; ++r) {
          const float expected = full[size_t(t * 40 + 8 + r)];
          EXPECT_NEAR(sliced[size_t(t * 24 + r)], expected, 1e-4 * std::max(1.0f, std::fabs(expected)))
              << kernels->isa << " token " << t << " row " << r;
        }
      }
    }
  }
}

TEST(Matmul, UnsupportedTypeThrows) {
  ThreadPool pool(1);
  std::vector<int32_t> data(4);
  const Weight w = make_weight(DType::I32, 2, 2, data.data());
  std::vector<float> x(2), y(2);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    EXPECT_THROW(kernels->matmul(w, x.data(), 1, y.data(), pool), Error) << kernels->isa;
  }
}

}  // namespace
}  // namespace brasa
