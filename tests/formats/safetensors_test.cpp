#include "test_work_dir.h"
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/checkpoint.h"

namespace brasa {
namespace {

const std::string kWorkDir = ::brasa::test::work_dir();

// Writes a safetensors file from a raw JSON header and data area, so tests can
// write headers that lie.
std::string write_raw(const std::string& path, const std::string& header, const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  return path;
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<uint8_t> floats_to_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

TEST(Safetensors, ReadsTensorsAndMetadata) {
  std::vector<uint8_t> data = floats_to_bytes({1, 2, 3, 4, 5, 6});
  data.push_back(0x38);  // F8_E4M3 1.0
  data.push_back(0xb8);  // F8_E4M3 -1.0
  std::string path = write_raw(kWorkDir + "/ok.safetensors",
                               R"({"__metadata__":{"format":"pt"},)"
                               R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                               R"("f8":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[24,26]}})",
                               data);
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorView& a = f.tensors()[0].name == "a" ? f.tensors()[0] : f.tensors()[1];
  const TensorView& f8 = f.tensors()[0].name == "a" ? f.tensors()[1] : f.tensors()[0];
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.dtype, DType::F32);
  float v;
  std::memcpy(&v, a.data + 20, 4);
  EXPECT_EQ(v, 6.0f);
  EXPECT_EQ(f8.dtype, DType::F8_E4M3);
  EXPECT_EQ(fp8_e4m3_to_f32(f8.data[0]), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(f8.data[1]), -1.0f);
}

TEST(Safetensors, RejectsLyingHeaders) {
  std::vector<uint8_t> data = floats_to_bytes({1, 2, 3, 4});
  struct Case {
    const char* header;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}})", "outside the data area"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})", "outside the data area"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", "need 12"},
      {R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", "negative"},
      {R"({"a":{"dtype":"F8_E5M2","shape":[4],"data_offsets":[0,4]}})", "unsupported safetensors dtype F8_E5M2"},
      {R"({"a":{"dtype":"F32","shape":[4]}})", "needs dtype, shape and data_offsets"},
      {R"({"a":)", "invalid safetensors header"},
  };
  for (const Case& c : cases) {
    std::string path = write_raw(kWorkDir + "/lie.safetensors", c.header, data);
    std::string message = error_of(path);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.header << " -> " << message;
    EXPECT_NE(message.find("lie.safetensors"), std::string::npos) << message;
  }
}

TEST(Safetensors, RejectsHeaderLengthPastEnd) {
  std::string path = kWorkDir + "/len.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    uint64_t n = 1000;
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write("{}", 2);
  }
  EXPECT_NE(error_of(path).find("header length 1000"), std::string::npos) << error_of(path);

  std::ofstream(kWorkDir + "/short.safetensors", std::ios::binary).write("abc", 3);
  EXPECT_NE(error_of(kWorkDir + "/short.safetensors").find("truncated"), std::string::npos);
}

TEST(Checkpoint, ReadsShardedDirectory) {
  std::string dir = kWorkDir + "/sharded";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << R"({"model_type":"llama"})";
  write_raw(dir + "/model-00001-of-00002.safetensors", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
            floats_to_bytes({1, 2}));
  write_raw(dir + "/model-00002-of-00002.safetensors", R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            floats_to_bytes({3}));
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"metadata":{"total_size":12},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})";

  auto checkpoint = Checkpoint::open(dir);
  EXPECT_EQ(checkpoint->format(), Checkpoint::Format::HuggingFace);
  EXPECT_EQ(checkpoint->config()["model_type"], "llama");
  EXPECT_EQ(checkpoint->tensors().size(), 2u);
  EXPECT_EQ(checkpoint->residency(), FileResidency::kMapped);

  // Read into memory, every shard reports so and contains the same values.
  auto resident = Checkpoint::open(dir, FileResidency::kResident);
  EXPECT_EQ(resident->residency(), FileResidency::kResident);
  float y = 0.0f;
  std::memcpy(&y, resident->get("y").data, sizeof(y));
  EXPECT_EQ(y, 3.0f);
  EXPECT_EQ(checkpoint->get("y").shape, (std::vector<int64_t>{1}));
  EXPECT_THROW(checkpoint->get("z"), Error);

  // An index that names a tensor its shard lacks is rejected.
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"weight_map":{"x":"model-00002-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})";
  EXPECT_THROW(Checkpoint::open(dir), Error);
}

TEST(Checkpoint, ReadsGgufFile) {
  auto checkpoint = Checkpoint::open(std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf");
  EXPECT_EQ(checkpoint->format(), Checkpoint::Format::Gguf);
  ASSERT_NE(checkpoint->gguf(), nullptr);
  EXPECT_EQ(checkpoint->residency(), FileResidency::kMapped);
  EXPECT_EQ(Checkpoint::open(checkpoint->path(), FileResidency::kResident)->residency(), FileResidency::kResident);
  EXPECT_EQ(checkpoint->get("output.weight").shape, (std::vector<int64_t>{512, 64}));
}

TEST(Checkpoint, RejectsMissingPath) {
  try {
    Checkpoint::open(kWorkDir + "/no-such-model");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace brasa
