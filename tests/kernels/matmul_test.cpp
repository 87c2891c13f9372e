#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/quantized_activations.h"
#include "kernels/cpu/reference_kernels.h"
#include "core/error.h"
#include "kernels/kernel_test_util.h"

namespace brasa {
namespace {

using testing::make_random_weight;
using testing::random_floats;
using testing::relative_error;

// Every kernel set accumulates in F32 while the reference uses double, so
// outputs agree to F32 rounding over a few thousand terms; 1e-5 leaves room
// for that and catches any wrong weight, which costs an error of order 1.
constexpr double kMaxRelativeError = 1e-5;

struct Shape {
  int64_t rows;
  int64_t cols;
};

void check_matmul(DType dtype, const std::vector<Shape>& shapes) {
  ThreadPool pool(2);
  std::mt19937 rng(1234);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    for (const Shape& shape : shapes) {
      const auto weight = make_random_weight(dtype, shape.rows, shape.cols, rng);
      for (int64_t n_tokens : {1, 3, 6, 7, 17, 40}) {
        const auto x = random_floats(size_t(n_tokens * shape.cols), rng);
        std::vector<float> expected(size_t(n_tokens * shape.rows));
        std::vector<float> actual(expected.size(), -1.0f);
        // Kernels that quantize the activations must match the exact product
        // with the values they actually multiply.
        const bool quantized = kernels->quantizes_activations && dtype_is_block_quantized(dtype);
        const auto reference_x = quantized ? dequantize_activations(x.data(), n_tokens, shape.cols) : x;
        reference::matmul_rows(weight.weight, reference_x.data(), n_tokens, expected.data(), 0, shape.rows);
        kernels->matmul(weight.weight, x.data(), n_tokens, actual.data(), pool);
        EXPECT_LT(relative_error(actual, expected), kMaxRelativeError)
            << kernels->isa << " " << dtype_name(dtype) << " rows " << shape.rows << " cols " << shape.cols
            << " tokens " << n_tokens;
      }
    }
  }
}

// Column counts that are not multiples of 8 or 16 exercise the SIMD tails.
const std::vector<Shape> kFloatShapes = {{1, 1}, {3, 7}, {5, 16}, {9, 33}, {17, 100}, {37, 257}, {64, 1024}};
const std::vector<Shape> kBlockShapes = {{1, 32}, {3, 64}, {9, 96}, {17, 160}, {37, 512}, {64, 1024}};

TEST(Matmul, F32MatchesReference) { check_matmul(DType::F32, kFloatShapes); }
TEST(Matmul, F16MatchesReference) { check_matmul(DType::F16, kFloatShapes); }
TEST(Matmul, BF16MatchesReference) { check_matmul(DType::BF16, kFloatShapes); }
TEST(Matmul, F8E4M3MatchesReference) { check_matmul(DType::F8_E4M3, kFloatShapes); }
TEST(Matmul, Q8_0MatchesReference) { check_matmul(DType::Q8_0, kBlockShapes); }
TEST(Matmul, Q4_0MatchesReference) { check_matmul(DType::Q4_0, kBlockShapes); }

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
  // slice_rows keeps the parent's row stride and offsets row_scale, as for one expert of a fused tensor.
  ThreadPool pool(2);
  std::mt19937 rng(7);
  const auto weight = make_random_weight(DType::F8_E4M3, 24, 48, rng);
  const Weight slice = weight.weight.slice_rows(8, 8);
  const auto x = random_floats(2 * 48, rng);
  std::vector<float> full(2 * 24);
  reference::matmul_rows(weight.weight, x.data(), 2, full.data(), 0, 24);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    std::vector<float> sliced(2 * 8);
    kernels->matmul(slice, x.data(), 2, sliced.data(), pool);
    for (int t = 0; t < 2; ++t) {
      for (int r = 0; r < 8; ++r) {
        EXPECT_NEAR(sliced[t * 8 + r], full[t * 24 + 8 + r], 1e-4) << kernels->isa << " token " << t << " row " << r;
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
