// Checks brasa's Q8_0, Q4_0 and FP8 row encoders: bytes against the numpy
// reference tools/reference/ggml_quants.py (written from GGML's block layout),
// decoding against the same reference, and error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "test_work_dir.h"
#include "core/dtype.h"
#include "formats/quantize.h"

namespace brasa {
namespace {

const std::string kWork = ::brasa::test::work_dir();
const std::string kReference = std::string(BRASA_SOURCE_DIR) + "/tools/reference/ggml_quants.py";

// Values that probe the rounding rules: random normals, zeros, exact halves,
// a block whose largest magnitude is negative, ties in magnitude, outliers and
// values too small for an F16 scale.
std::vector<float> test_values() {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v;
  for (int i = 0; i < 32 * 64; ++i) v.push_back(normal(rng));
  for (int i = 0; i < 32; ++i) v.push_back(0.0f);
  for (int i = 0; i < 32; ++i) v.push_back(float(i - 16) * 0.5f);
  for (int i = 0; i < 32; ++i) v.push_back(i == 5 ? -3.0f : float(i % 7) * 0.25f);
  for (int i = 0; i < 32; ++i) v.push_back(i % 2 == 0 ? 2.0f : -2.0f);
  for (int i = 0; i < 32; ++i) v.push_back(i == 31 ? 1000.0f : normal(rng) * 0.01f);
  for (int i = 0; i < 32; ++i) v.push_back(normal(rng) * 1e-9f);
  return v;
}

void write_file(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), std::streamsize(size));
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs the reference; returns its output bytes, empty on failure.
std::vector<uint8_t> run_reference(const std::string& action, const std::string& kind, const void* input, size_t size) {
  const std::string in = kWork + "/quantize-" + kind + "-" + action + ".in";
  const std::string out = kWork + "/quantize-" + kind + "-" + action + ".out";
  write_file(in, input, size);
  std::remove(out.c_str());
  const std::string command = "/usr/bin/python3 " + kReference + " " + action + " " + kind + " " + in + " " + out;
  if (std::system(command.c_str()) != 0) return {};
  return read_file(out);
}

class QuantizeAgainstNumpy : public ::testing::TestWithParam<DType> {};

TEST_P(QuantizeAgainstNumpy, SameBytes) {
  const DType type = GetParam();
  const std::string kind = type == DType::Q8_0 ? "q8_0" : "q4_0";
  const std::vector<float> values = test_values();

  std::vector<uint8_t> ours;
  quantize_row(type, values.data(), int64_t(values.size()), ours);
  const std::vector<uint8_t> reference = run_reference("quantize", kind, values.data(), values.size() * 4);
  ASSERT_EQ(reference.size(), ours.size()) << "reference run failed or sizes differ";

  const size_t block_bytes = type == DType::Q8_0 ? 34 : 18;
  size_t differing_blocks = 0;
  for (size_t b = 0; b < ours.size() / block_bytes; ++b) {
    if (std::memcmp(ours.data() + b * block_bytes, reference.data() + b * block_bytes, block_bytes) != 0) {
      ++differing_blocks;
      ADD_FAILURE() << kind << " block " << b << " differs from the numpy reference";
    }
  }
  EXPECT_EQ(differing_blocks, 0u);
}

TEST_P(QuantizeAgainstNumpy, SameDecoding) {
  const DType type = GetParam();
  const std::string kind = type == DType::Q8_0 ? "q8_0" : "q4_0";
  const std::vector<float> values = test_values();
  std::vector<uint8_t> blocks;
  quantize_row(type, values.data(), int64_t(values.size()), blocks);

  std::vector<float> ours(values.size());
  dequantize_row(type, blocks.data(), int64_t(values.size()), ours.data());
  const std::vector<uint8_t> reference = run_reference("dequantize", kind, blocks.data(), blocks.size());
  ASSERT_EQ(reference.size(), values.size() * 4);
  EXPECT_EQ(std::memcmp(ours.data(), reference.data(), reference.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizeAgainstNumpy, ::testing::Values(DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Each decoded weight is within half a quantization step of its input (a
// whole step where Q4_0 clamps to quant 15), plus the error of storing the
// scale as F16, times the largest quant.
TEST(Quantize, ErrorWithinHalfStep) {
  const std::vector<float> values = test_values();
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    std::vector<uint8_t> blocks;
    quantize_row(type, values.data(), int64_t(values.size()), blocks);
    std::vector<float> decoded(values.size());
    dequantize_row(type, blocks.data(), int64_t(values.size()), decoded.data());
    for (size_t b = 0; b < values.size() / 32; ++b) {
      float max_abs = 0.0f;
      for (size_t i = 0; i < 32; ++i) max_abs = std::max(max_abs, std::fabs(values[b * 32 + i]));
      const float max_quant = type == DType::Q8_0 ? 127.0f : 8.0f;
      const float step = max_abs / max_quant;
      const float scale_error = std::fabs(f16_to_f32(f32_to_f16(step)) - step) * max_quant;
      for (size_t i = 0; i < 32; ++i) {
        const size_t k = b * 32 + i;
        const float bound = ((type == DType::Q8_0 ? 0.5f : 1.0f) * step + scale_error) * 1.01f;
        EXPECT_LE(std::fabs(decoded[k] - values[k]), bound) << dtype_name(type) << " value " << k;
      }
    }
  }
}

TEST(Quantize, RejectsPartialBlocksAndFp8) {
  std::vector<float> values(40, 1.0f);
  std::vector<uint8_t> out;
  EXPECT_ANY_THROW(quantize_row(DType::Q8_0, values.data(), 40, out));
  EXPECT_ANY_THROW(quantize_row(DType::F8_E4M3, values.data(), 32, out));
}

// The largest magnitude of an FP8 row maps to 448 and decodes exactly; the
// other values keep E4M3's 3-bit mantissa (relative error at most 1/16).
TEST(Quantize, Fp8RowScale) {
  std::vector<float> row = {0.5f, -2.0f, 0.001f, 1.25f, -0.3f, 0.0f};
  std::vector<uint8_t> bytes;
  const float scale = quantize_fp8_row(row.data(), int64_t(row.size()), bytes);
  EXPECT_FLOAT_EQ(scale, 2.0f / 448.0f);
  std::vector<float> decoded(row.size());
  dequantize_row(DType::F8_E4M3, bytes.data(), int64_t(row.size()), decoded.data(), scale);
  EXPECT_FLOAT_EQ(decoded[1], -2.0f);
  for (size_t i = 0; i < row.size(); ++i) {
    EXPECT_NEAR(decoded[i], row[i], std::fabs(row[i]) / 16.0f + 1e-4f) << "value " << i;
  }

  std::vector<float> zeros(4, 0.0f);
  bytes.clear();
  EXPECT_EQ(quantize_fp8_row(zeros.data(), 4, bytes), 1.0f);
}

}  // namespace
}  // namespace brasa
