#include "test_work_dir.h"
#include "formats/safetensors_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/safetensors.h"

namespace brasa {
namespace {

const std::string kWorkDir = ::brasa::test::work_dir() + "/safetensors_writer";

TensorData make_f32(const std::string& name, std::vector<int64_t> shape, float first) {
  TensorData t;
  t.name = name;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  t.bytes.resize(size_t(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    float value = first + float(i);
    std::memcpy(t.bytes.data() + 4 * i, &value, 4);
  }
  return t;
}

TensorData make_bytes(const std::string& name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  TensorData t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes = std::move(bytes);
  return t;
}

std::string fresh_dir(const std::string& name) {
  std::string dir = kWorkDir + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(SafetensorsWriter, RoundTripsThroughReader) {
  std::string dir = fresh_dir("round_trip");
  TensorData weight = make_f32("layer.weight", {2, 3}, 1.0f);
  TensorData bf16 = make_bytes("layer.bf16", DType::BF16, {3}, {0x80, 0x3f, 0x00, 0x40, 0x40, 0xc0});
  TensorData fp8 = make_bytes("layer.fp8", DType::F8_E4M3, {1, 5}, {0x38, 0x7e, 0x01, 0xb8, 0x00});
  write_safetensors(dir + "/model.safetensors", {&weight, &bf16, &fp8}, {{"format", "pt"}});

  SafetensorsFile file(dir + "/model.safetensors");
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  std::map<std::string, const TensorData*> written = {{weight.name, &weight}, {bf16.name, &bf16}, {fp8.name, &fp8}};
  for (const TensorView& view : file.tensors()) {
    SCOPED_TRACE(view.name);
    ASSERT_EQ(written.count(view.name), 1u);
    const TensorData* expected = written.at(view.name);
    EXPECT_EQ(view.dtype, expected->dtype);
    EXPECT_EQ(view.shape, expected->shape);
    ASSERT_EQ(view.bytes, expected->bytes.size());
    EXPECT_EQ(std::memcmp(view.data, expected->bytes.data(), view.bytes), 0);
  }
}

TEST(SafetensorsWriter, AlignsDataToEightBytes) {
  std::string dir = fresh_dir("alignment");
  // A 1-byte tensor name makes the raw header length odd before padding.
  TensorData t = make_f32("w", {1}, 3.0f);
  write_safetensors(dir + "/model.safetensors", {&t}, {});

  std::ifstream in(dir + "/model.safetensors", std::ios::binary);
  uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), 8);
  EXPECT_EQ(header_size % 8, 0u);
  std::string header(header_size, '\0');
  in.read(header.data(), std::streamsize(header_size));
  nlohmann::json parsed = nlohmann::json::parse(header);
  EXPECT_EQ(parsed["w"]["data_offsets"], nlohmann::json::array({0, 4}));
  EXPECT_FALSE(parsed.contains("__metadata__"));
}

TEST(SafetensorsWriter, RejectsByteCountMismatch) {
  std::string dir = fresh_dir("mismatch");
  TensorData t = make_f32("w", {2, 2}, 0.0f);
  t.shape = {2, 3};
  EXPECT_THROW(write_safetensors(dir + "/model.safetensors", {&t}), Error);
}

TEST(SafetensorsWriter, RejectsBlockQuantizedDtype) {
  EXPECT_THROW(safetensors_dtype_name(DType::Q8_0), Error);
}

TEST(SafetensorsWriter, ShardedModelOpensAsCheckpoint) {
  std::string dir = fresh_dir("sharded");
  std::vector<TensorData> tensors;
  for (int i = 0; i < 5; ++i) tensors.push_back(make_f32("t" + std::to_string(i), {4, 8}, float(100 * i)));
  std::vector<std::string> files = write_safetensors_model(dir, tensors, 3);

  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], "model-00001-of-00003.safetensors");
  EXPECT_EQ(files[2], "model-00003-of-00003.safetensors");
  nlohmann::json index = read_json_file(dir + "/model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 4 * 8 * 4);
  EXPECT_EQ(index["weight_map"].size(), 5u);

  // Every shard gets at least one tensor and every tensor reads back intact.
  for (const std::string& file : files) EXPECT_FALSE(SafetensorsFile(dir + "/" + file).tensors().empty()) << file;
  std::ofstream(dir + "/config.json") << "{}";
  std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(dir);
  ASSERT_EQ(checkpoint->tensors().size(), 5u);
  for (const TensorData& t : tensors) {
    const TensorView& view = checkpoint->get(t.name);
    ASSERT_EQ(view.bytes, t.bytes.size()) << t.name;
    EXPECT_EQ(std::memcmp(view.data, t.bytes.data(), view.bytes), 0) << t.name;
  }
}

TEST(SafetensorsWriter, RejectsMoreShardsThanTensors) {
  std::string dir = fresh_dir("too_many_shards");
  std::vector<TensorData> tensors = {make_f32("a", {1}, 0.0f)};
  EXPECT_THROW(write_safetensors_model(dir, tensors, 2), Error);
  EXPECT_THROW(write_safetensors_model(dir, tensors, 0), Error);
}

}  // namespace
}  // namespace brasa
