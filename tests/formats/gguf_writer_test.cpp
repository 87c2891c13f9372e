#include "test_work_dir.h"
#include "formats/gguf_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"

namespace brasa {
namespace {

const std::string kWorkDir = ::brasa::test::work_dir() + "/gguf_writer";

std::vector<uint8_t> f32_bytes(const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string path_for(const std::string& name) {
  std::filesystem::create_directories(kWorkDir);
  return kWorkDir + "/" + name;
}

TEST(GgufWriter, MetadataRoundTripsThroughReader) {
  GgufWriter writer;
  writer.add_string("general.architecture", "llama4");
  writer.add_uint32("llama4.block_count", 4);
  writer.add_int32("test.negative", -7);
  writer.add_uint64("test.big", 1ull << 40);
  writer.add_float32("llama4.rope.freq_base", 500000.0f);
  writer.add_bool("test.flag", true);
  writer.add_string_array("tokenizer.ggml.tokens", {"a", "bc", ""});
  writer.add_int32_array("test.ints", {1, -2, 3});
  writer.add_float32_array("test.floats", {0.5f, -1.25f});
  std::string path = path_for("metadata.gguf");
  writer.write(path);

  GgufFile file(path);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama4");
  EXPECT_EQ(file.get_int("llama4.block_count"), 4);
  EXPECT_EQ(file.get_int("test.negative"), -7);
  EXPECT_EQ(file.get_int("test.big"), int64_t(1) << 40);
  EXPECT_EQ(file.get_float("llama4.rope.freq_base"), 500000.0);
  EXPECT_TRUE(file.get_bool("test.flag", false));
  EXPECT_EQ(file.get_string_array("tokenizer.ggml.tokens"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(file.get_int_array("test.ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(file.get_float_array("test.floats"), (std::vector<double>{0.5, -1.25}));
  EXPECT_TRUE(file.tensors().empty());
}

TEST(GgufWriter, TensorsRoundTripAligned) {
  std::vector<float> matrix(3 * 64);
  for (size_t i = 0; i < matrix.size(); ++i) matrix[i] = float(i) * 0.25f - 5.0f;
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  writer.add_tensor("odd.weight", DType::F32, {5}, f32_bytes({1, 2, 3, 4, 5}));
  writer.add_tensor("matrix.weight", DType::Q8_0, {3, 64}, quantize_q8_0(matrix.data(), int64_t(matrix.size())));
  std::string path = path_for("tensors.gguf");
  writer.write(path);

  GgufFile file(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  const GgufTensor* odd = file.find_tensor("odd.weight");
  ASSERT_NE(odd, nullptr);
  EXPECT_EQ(odd->dtype, DType::F32);
  EXPECT_EQ(odd->shape, (std::vector<int64_t>{5}));
  float third;
  std::memcpy(&third, odd->data + 8, 4);
  EXPECT_EQ(third, 3.0f);

  // The 20-byte tensor before it pushes the Q8_0 data to the next 32-byte boundary.
  const GgufTensor* matrix_tensor = file.find_tensor("matrix.weight");
  ASSERT_NE(matrix_tensor, nullptr);
  EXPECT_EQ(matrix_tensor->dtype, DType::Q8_0);
  EXPECT_EQ(matrix_tensor->shape, (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(matrix_tensor->offset % 32, 0u);
  EXPECT_EQ(matrix_tensor->offset, 32u);
  EXPECT_EQ(matrix_tensor->bytes, 6u * 34);
}

TEST(GgufWriter, Q8ZeroMatchesHandComputedBlock) {
  // Values 0..31: max |x| = 31, so d = 31/127 and q[i] = round(127 i / 31).
  std::vector<float> values(32);
  for (int i = 0; i < 32; ++i) values[size_t(i)] = float(i);
  std::vector<uint8_t> block = quantize_q8_0(values.data(), 32);
  ASSERT_EQ(block.size(), 34u);

  uint16_t scale_bits = uint16_t(block[0] | (block[1] << 8));
  EXPECT_EQ(scale_bits, f32_to_f16(31.0f / 127.0f));
  EXPECT_EQ(int8_t(block[2 + 0]), 0);
  EXPECT_EQ(int8_t(block[2 + 1]), 4);    // 4.096
  EXPECT_EQ(int8_t(block[2 + 16]), 66);  // 65.548
  EXPECT_EQ(int8_t(block[2 + 31]), 127);

  // Dequantized values stay within half a step of the input.
  float step = f16_to_f32(scale_bits);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(step * float(int8_t(block[size_t(2 + i)])), values[size_t(i)], step / 2 + 1e-3f) << i;
}

TEST(GgufWriter, Q8ZeroOfZerosIsZero) {
  std::vector<float> zeros(32, 0.0f);
  std::vector<uint8_t> block = quantize_q8_0(zeros.data(), 32);
  for (uint8_t b : block) EXPECT_EQ(b, 0);
}

TEST(GgufWriter, RejectsBadTensors) {
  GgufWriter writer;
  EXPECT_THROW(writer.add_tensor("short", DType::F32, {4}, f32_bytes({1, 2})), Error);
  EXPECT_THROW(writer.add_tensor("fp8", DType::F8_E4M3, {4}, std::vector<uint8_t>(4)), Error);
  EXPECT_THROW(writer.add_tensor("q8", DType::Q8_0, {2, 16}, std::vector<uint8_t>(34)), Error);
  EXPECT_THROW(writer.add_tensor("scalar", DType::F32, {}, f32_bytes({1})), Error);
}

}  // namespace
}  // namespace brasa
