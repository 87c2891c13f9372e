#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fp8_amx_decode.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/kernel_test_util.h"

namespace brasa {
namespace {

using testing::make_random_weight;
using testing::random_floats;
using testing::relative_error;
using testing::Shape;

// The reference sums in double, the kernel in F32 over a few thousand terms.
constexpr double kMaxRelativeError = 1e-5;

// The AMX set exists only where CPUID reports AMX and the kernel granted
// tile data to this process.
bool amx_available() { return find_cpu_kernels("amx") != nullptr; }

// Columns around the 64-column chunk, rows around the 16-row A tile with odd
// block counts (the last block then pairs with itself), and token counts that
// fill one, two and three C tiles, then a second group.
const std::vector<Shape> kDecodeShapes = {{1, 1},   {3, 7},    {5, 64},   {16, 65},  {17, 100},
                                          {33, 63}, {37, 257}, {48, 128}, {64, 1024}};
const std::vector<int64_t> kDecodeTokenCounts = {1, 2, 3, 5, 6, 7, 8, 11, 15, 16, 17, 33};

TEST(Fp8AmxDecode, MatchesReference) {
  if (!amx_available()) GTEST_SKIP() << "no AMX tiles in this process";
  testing::expect_exact_matmul(matmul_fp8_amx_decode, DType::F8_E4M3, kDecodeShapes, kDecodeTokenCounts, 29,
                               kMaxRelativeError);
}

// The same kernel with BF16 weights, which it only rearranges into the A tile layout.
TEST(Bf16AmxDecode, MatchesReference) {
  if (!amx_available()) GTEST_SKIP() << "no AMX tiles in this process";
  testing::expect_exact_matmul(matmul_bf16_amx_decode, DType::BF16, kDecodeShapes, kDecodeTokenCounts, 31,
                               kMaxRelativeError);
}

TEST(Fp8AmxDecode, KeepsEveryActivationBit) {
  // Row r selects column r with the weight 1.0 (code 0x38) and row scale 1,
  // so y must equal x bit for bit. Activations with 24 significant bits would
  // lose their last 8 bits if they were split into only two BF16 parts.
  if (!amx_available()) GTEST_SKIP() << "no AMX tiles in this process";

  const int64_t n = 80;
  std::vector<uint8_t> codes(size_t(n * n), 0);
  for (int64_t r = 0; r < n; ++r) codes[size_t(r * n + r)] = 0x38;
  const std::vector<float> scales(size_t(n), 1.0f);
  const Weight w = make_weight(DType::F8_E4M3, n, n, codes.data(), scales.data());

  std::mt19937 rng(31);
  std::uniform_int_distribution<uint32_t> mantissa(0, (1u << 23) - 1);
  std::uniform_int_distribution<int> exponent(100, 150);
  const int64_t n_tokens = 3;
  std::vector<float> x(size_t(n_tokens * n));
  for (float& value : x) {
    const uint32_t bits = uint32_t(exponent(rng)) << 23 | mantissa(rng) | (mantissa(rng) & 1u) << 31;
    std::memcpy(&value, &bits, 4);
  }

  ThreadPool pool(1);
  std::vector<float> y(x.size(), 0.0f);
  matmul_fp8_amx_decode(w, x.data(), n_tokens, y.data(), pool);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], x[i]) << "element " << i;
}

TEST(Fp8AmxDecode, ConvertsEveryCode) {
  // One row per code, all 64 columns that code, and x = 1 except a single
  // column: every E4M3 value, subnormals and both zeros included, must come
  // out exactly as the reference dequantizes it.
  if (!amx_available()) GTEST_SKIP() << "no AMX tiles in this process";

  const int64_t rows = 256;
  const int64_t cols = 64;
  std::vector<uint8_t> codes(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    // The NaN codes become the largest finite values.
    const uint8_t code = (r & 0x7f) == 0x7f ? uint8_t(r ^ 1) : uint8_t(r);
    std::memset(codes.data() + r * cols, code, size_t(cols));
  }
  const std::vector<float> scales(size_t(rows), 1.0f);
  const Weight w = make_weight(DType::F8_E4M3, rows, cols, codes.data(), scales.data());
  std::vector<float> x(size_t(cols), 0.0f);
  x[37] = 1.0f;

  std::vector<float> expected(static_cast<size_t>(rows));
  reference::matmul_rows(w, x.data(), 1, expected.data(), 0, rows);
  ThreadPool pool(2);
  std::vector<float> actual(static_cast<size_t>(rows), -1.0f);
  matmul_fp8_amx_decode(w, x.data(), 1, actual.data(), pool);
  for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(actual[size_t(r)], expected[size_t(r)]) << "code " << r;
}

TEST(Fp8AmxDecode, RejectsOtherWeightTypes) {
  if (!amx_available()) GTEST_SKIP() << "no AMX tiles in this process";
  std::vector<uint8_t> bytes(2 * 4 * 4, 0);
  const Weight w = make_weight(DType::BF16, 4, 4, bytes.data());
  std::vector<float> x(4, 1.0f), y(4);
  ThreadPool pool(1);
  EXPECT_ANY_THROW(matmul_fp8_amx_decode(w, x.data(), 1, y.data(), pool));

  const Weight fp8 = make_weight(DType::F8_E4M3, 4, 4, bytes.data());
  EXPECT_ANY_THROW(matmul_bf16_amx_decode(fp8, x.data(), 1, y.data(), pool));
}

}  // namespace
}  // namespace brasa
