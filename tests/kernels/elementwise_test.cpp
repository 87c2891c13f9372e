#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/kernel_test_util.h"

namespace brasa {
namespace {

using testing::random_floats;
using testing::relative_error;

// F32 arithmetic and a polynomial exp against a double reference.
constexpr double kMaxRelativeError = 1e-6;

const std::vector<int64_t> kLengths = {1, 7, 15, 16, 17, 100, 4096 + 3};

TEST(Elementwise, RmsNormMatchesReference) {
  std::mt19937 rng(21);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    for (int64_t n : kLengths) {
      const auto x = random_floats(size_t(n), rng, 3.0f);
      const auto weight = random_floats(size_t(n), rng);
      std::vector<float> expected(static_cast<size_t>(n));
      std::vector<float> actual(static_cast<size_t>(n));
      reference::rms_norm_row(x.data(), weight.data(), n, 1e-5f, expected.data());
      kernels->rms_norm_row(x.data(), weight.data(), n, 1e-5f, actual.data());
      EXPECT_LT(relative_error(actual, expected), kMaxRelativeError) << kernels->isa << " n " << n;

      reference::rms_norm_row(x.data(), nullptr, n, 1e-5f, expected.data());
      kernels->rms_norm_row(x.data(), nullptr, n, 1e-5f, actual.data());
      EXPECT_LT(relative_error(actual, expected), kMaxRelativeError) << kernels->isa << " no weight, n " << n;
    }
  }
}

TEST(Elementwise, SwigluMatchesReference) {
  std::mt19937 rng(22);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    for (int64_t n : kLengths) {
      // Gates up to about +-30 reach both saturated ends of the sigmoid.
      const auto gate = random_floats(size_t(n), rng, 10.0f);
      const auto up = random_floats(size_t(n), rng);
      std::vector<float> expected(static_cast<size_t>(n));
      std::vector<float> actual(static_cast<size_t>(n));
      reference::swiglu(gate.data(), up.data(), n, expected.data());
      kernels->swiglu(gate.data(), up.data(), n, actual.data());
      EXPECT_LT(relative_error(actual, expected), kMaxRelativeError) << kernels->isa << " n " << n;
    }
  }
}

TEST(Elementwise, AddMatchesReference) {
  std::mt19937 rng(23);
  for (const CpuKernels* kernels : supported_cpu_kernels()) {
    for (int64_t n : kLengths) {
      auto x = random_floats(size_t(n), rng);
      const auto y = random_floats(size_t(n), rng);
      auto expected = x;
      reference::add(expected.data(), y.data(), n);
      kernels->add(x.data(), y.data(), n);
      EXPECT_EQ(x, expected) << kernels->isa << " n " << n;
    }
  }
}

}  // namespace
}  // namespace brasa
