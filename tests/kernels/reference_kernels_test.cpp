#include "kernels/cpu/reference_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"

namespace brasa {
namespace {

TEST(ReferenceKernels, Q8_0DequantizesScaleTimesInt8) {
  // One block: scale 0.5, then q = -16..15.
  std::vector<uint8_t> block(34);
  const uint16_t d = f32_to_f16(0.5f);
  std::memcpy(block.data(), &d, 2);
  for (int i = 0; i < 32; ++i) block[2 + i] = uint8_t(int8_t(i - 16));
  const Weight w = make_weight(DType::Q8_0, 1, 32, block.data());
  std::vector<float> out(32);
  reference::dequantize_row(w, 0, out.data());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], 0.5f * float(i - 16)) << "index " << i;
}

TEST(ReferenceKernels, Q4_0LowNibblesComeFirst) {
  // Byte i contains weight i in its low nibble and weight i + 16 in its high nibble.
  std::vector<uint8_t> block(18);
  const uint16_t d = f32_to_f16(2.0f);
  std::memcpy(block.data(), &d, 2);
  for (int i = 0; i < 16; ++i) block[2 + i] = uint8_t(i | ((15 - i) << 4));
  const Weight w = make_weight(DType::Q4_0, 1, 32, block.data());
  std::vector<float> out(32);
  reference::dequantize_row(w, 0, out.data());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(out[i], 2.0f * float(i - 8)) << "index " << i;
    EXPECT_EQ(out[i + 16], 2.0f * float(15 - i - 8)) << "index " << i + 16;
  }
}

TEST(ReferenceKernels, Fp8UsesRowScale) {
  const std::vector<uint8_t> data = {0x38, 0x40, 0x38, 0xb8};  // 1, 2 | 1, -1
  const std::vector<float> scales = {0.5f, 3.0f};
  const Weight w = make_weight(DType::F8_E4M3, 2, 2, data.data(), scales.data());
  std::vector<float> out(2);
  reference::dequantize_row(w, 1, out.data());
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], -3.0f);
}

TEST(ReferenceKernels, RopeStylesPairDifferentLanes) {
  const std::vector<float> inv_freq = {1.0f, 0.5f};
  std::vector<float> interleaved = {1, 2, 3, 4};
  std::vector<float> half_split = {1, 2, 3, 4};
  reference::rope_head(interleaved.data(), 1, 4, inv_freq.data(), RopeStyle::Interleaved);
  reference::rope_head(half_split.data(), 1, 4, inv_freq.data(), RopeStyle::HalfSplit);
  // Interleaved rotates (1, 2) by 1 rad and (3, 4) by 0.5 rad.
  EXPECT_NEAR(interleaved[0], std::cos(1.0) - 2 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(interleaved[1], std::sin(1.0) + 2 * std::cos(1.0), 1e-6);
  EXPECT_NEAR(interleaved[2], 3 * std::cos(0.5) - 4 * std::sin(0.5), 1e-6);
  // HalfSplit rotates (1, 3) by 1 rad and (2, 4) by 0.5 rad.
  EXPECT_NEAR(half_split[0], std::cos(1.0) - 3 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(half_split[2], std::sin(1.0) + 3 * std::cos(1.0), 1e-6);
  EXPECT_NEAR(half_split[1], 2 * std::cos(0.5) - 4 * std::sin(0.5), 1e-6);
}

}  // namespace
}  // namespace brasa
