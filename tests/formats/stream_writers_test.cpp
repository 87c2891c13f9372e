// Round trips of the converter's writers: GGUF tensors produced on demand,
// GGUF values copied from another file with their types, and the streaming
// safetensors writer, each read back with brasa's readers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_work_dir.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/safetensors.h"
#include "formats/safetensors_stream_writer.h"

namespace brasa {
namespace {

const std::string kWork = ::brasa::test::work_dir();

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = uint8_t(start + i);
  return bytes;
}

TEST(GgufWriterStream, DeferredTensorsRoundTrip) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_tensor("a", DType::F32, {2, 3}, iota_bytes(24, 0));
  w.add_tensor_info("b", DType::Q8_0, {2, 32});
  w.add_tensor_info("c", DType::BF16, {5});
  const std::string path = kWork + "/stream-writer.gguf";
  std::vector<size_t> requested;
  w.write(path, [&](size_t index) {
    requested.push_back(index);
    return iota_bytes(index == 1 ? 68 : 10, uint8_t(index * 50));
  });
  EXPECT_EQ(requested, (std::vector<size_t>{1, 2}));

  const GgufFile file(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  const GgufTensor* b = file.find_tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::Q8_0);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(std::vector<uint8_t>(b->data, b->data + b->bytes), iota_bytes(68, 50));
  const GgufTensor* c = file.find_tensor("c");
  EXPECT_EQ(std::vector<uint8_t>(c->data, c->data + c->bytes), iota_bytes(10, 100));
}

TEST(GgufWriterStream, WrongSourceSizeIsAnError) {
  GgufWriter w;
  w.add_tensor_info("b", DType::F32, {4});
  EXPECT_THROW(w.write(kWork + "/stream-writer-bad.gguf", [](size_t) { return std::vector<uint8_t>(15); }), Error);
  EXPECT_THROW(w.write(kWork + "/stream-writer-bad.gguf"), Error);  // no source at all
}

// Values of every type keep their type and content when copied with add_value.
TEST(GgufWriterStream, CopiedValuesKeepTypes) {
  GgufWriter original;
  original.add_uint32("u32", 4000000000u);
  original.add_int32("i32", -7);
  original.add_uint64("u64", 1ull << 40);
  original.add_float32("f32", 0.25f);
  original.add_bool("flag", true);
  original.add_string("text", "caf\xC3\xA9");
  original.add_string_array("strings", {"a", "", "b c"});
  original.add_int32_array("ints", {1, -2, 3});
  original.add_float32_array("floats", {0.5f, -1.5f});
  const std::string first = kWork + "/copy-values-a.gguf";
  original.write(first);

  const GgufFile source(first);
  GgufWriter copy;
  for (const auto& [key, value] : source.metadata()) copy.add_value(key, value);
  const std::string second = kWork + "/copy-values-b.gguf";
  copy.write(second);

  const GgufFile copied(second);
  ASSERT_EQ(copied.metadata().size(), source.metadata().size());
  for (const auto& [key, value] : source.metadata()) {
    const GgufValue* other = copied.find(key);
    ASSERT_NE(other, nullptr) << key;
    EXPECT_EQ(other->type, value.type) << key;
    EXPECT_EQ(other->element_type, value.element_type) << key;
    EXPECT_EQ(other->integer, value.integer) << key;
    EXPECT_EQ(other->real, value.real) << key;
    EXPECT_EQ(other->string, value.string) << key;
    EXPECT_EQ(other->ints, value.ints) << key;
    EXPECT_EQ(other->reals, value.reals) << key;
    EXPECT_EQ(other->strings, value.strings) << key;
  }
  EXPECT_EQ(copied.get_int("u32"), 4000000000ll);
  EXPECT_EQ(copied.get_string_array("strings"), (std::vector<std::string>{"a", "", "b c"}));
}

TEST(SafetensorsStreamWriter, RoundTrip) {
  SafetensorsStreamWriter w;
  w.add_tensor_info("weight", DType::F8_E4M3, {2, 3});
  w.add_tensor_info("weight_scale", DType::F32, {2, 1});
  const std::string path = kWork + "/stream-writer.safetensors";
  w.write(path, [](size_t index) { return index == 0 ? iota_bytes(6, 1) : iota_bytes(8, 20); });

  const SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  for (const TensorView& t : file.tensors()) {
    if (t.name == "weight") {
      EXPECT_EQ(t.dtype, DType::F8_E4M3);
      EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.bytes), iota_bytes(6, 1));
    } else {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 1}));
      EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.bytes), iota_bytes(8, 20));
    }
  }
}

TEST(SafetensorsStreamWriter, RejectsBlockTypesAndDuplicates) {
  SafetensorsStreamWriter w;
  EXPECT_THROW(w.add_tensor_info("q", DType::Q8_0, {1, 32}), Error);
  w.add_tensor_info("x", DType::F32, {1});
  EXPECT_THROW(w.add_tensor_info("x", DType::F32, {1}), Error);
  EXPECT_THROW(w.write(kWork + "/stream-writer-bad.safetensors", [](size_t) { return std::vector<uint8_t>(3); }),
               Error);
}

}  // namespace
}  // namespace brasa
