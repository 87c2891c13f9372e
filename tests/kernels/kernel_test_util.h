#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/cpu/reference_kernels.h"
#include "kernels/weight.h"

namespace brasa::testing {

// Random weights of one type with the bytes that back them.
struct RandomWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> row_scale;
  Weight weight;
};

inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

inline RandomWeight make_random_weight(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  RandomWeight result;
  const size_t row_bytes = dtype_row_bytes(dtype, cols);
  result.bytes.resize(row_bytes * size_t(rows));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = result.bytes.data() + r * row_bytes;
    for (int64_t c = 0; c < cols; ++c) {
      const float value = normal(rng);
      switch (dtype) {
        case DType::F32: std::memcpy(row + 4 * c, &value, 4); break;
        case DType::F16: store_u16(row + 2 * c, f32_to_f16(value)); break;
        case DType::BF16: store_u16(row + 2 * c, f32_to_bf16(value)); break;
        case DType::F8_E4M3: {
          // Every code except the two NaNs, subnormals included.
          uint8_t code = uint8_t(byte(rng));
          if ((code & 0x7f) == 0x7f) code ^= 1;
          row[c] = code;
          break;
        }
        default: break;
      }
    }
    if (dtype == DType::Q8_0 || dtype == DType::Q4_0) {
      const size_t block_bytes = dtype == DType::Q8_0 ? 34 : 18;
      for (int64_t b = 0; b < cols / 32; ++b) {
        uint8_t* block = row + b * block_bytes;
        store_u16(block, f32_to_f16(0.01f + 0.05f * std::fabs(normal(rng))));
        for (size_t i = 2; i < block_bytes; ++i) block[i] = uint8_t(byte(rng));
      }
    }
  }
  if (dtype == DType::F8_E4M3) {
    result.row_scale.resize(size_t(rows));
    for (float& s : result.row_scale) s = 0.001f + 0.01f * std::fabs(normal(rng));
  }
  result.weight = make_weight(dtype, rows, cols, result.bytes.data(),
                              result.row_scale.empty() ? nullptr : result.row_scale.data());
  return result;
}

// ||a - b|| / ||b||, the error measure every kernel test states its threshold in.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    norm += double(b[i]) * double(b[i]);
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// A weight shape: output rows by input columns.
struct Shape {
  int64_t rows;
  int64_t cols;
};

using MatmulFunction = void (*)(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Runs `matmul` on random `dtype` weights of each shape for each token count,
// and expects the result within max_error of the plain reference with exact
// activations.
inline void expect_exact_matmul(MatmulFunction matmul, DType dtype, const std::vector<Shape>& shapes,
                                const std::vector<int64_t>& token_counts, uint32_t seed, double max_error) {
  ThreadPool pool(2);
  std::mt19937 rng(seed);
  for (const Shape& shape : shapes) {
    const auto weight = make_random_weight(dtype, shape.rows, shape.cols, rng);
    for (int64_t n_tokens : token_counts) {
      const auto x = random_floats(size_t(n_tokens * shape.cols), rng);
      std::vector<float> expected(size_t(n_tokens * shape.rows));
      reference::matmul_rows(weight.weight, x.data(), n_tokens, expected.data(), 0, shape.rows);
      std::vector<float> actual(expected.size(), -1.0f);
      matmul(weight.weight, x.data(), n_tokens, actual.data(), pool);
      EXPECT_LT(relative_error(actual, expected), max_error)
          << "rows " << shape.rows << " cols " << shape.cols << " tokens " << n_tokens;
    }
  }
}

}  // namespace brasa::testing
