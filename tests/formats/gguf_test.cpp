#include "test_work_dir.h"
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace brasa {
namespace {

const std::string kStories = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";

// Builds GGUF files byte by byte, so the tests control every header field.
class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) {
    bytes_.insert(bytes_.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(version);
    count_pos_ = bytes_.size();
    put<uint64_t>(0);  // tensor count, patched by write()
    put<uint64_t>(0);  // metadata count, patched by write()
  }

  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }

  void kv_u32(const std::string& key, uint32_t v) {
    put_string(key);
    put<uint32_t>(4);
    put<uint32_t>(v);
    ++n_kv_;
  }
  void kv_string(const std::string& key, const std::string& v) {
    put_string(key);
    put<uint32_t>(8);
    put_string(v);
    ++n_kv_;
  }
  void kv_string_array(const std::string& key, const std::vector<std::string>& v) {
    put_string(key);
    put<uint32_t>(9);
    put<uint32_t>(8);
    put<uint64_t>(v.size());
    for (const auto& s : v) put_string(s);
    ++n_kv_;
  }
  void kv_f32_array(const std::string& key, const std::vector<float>& v) {
    put_string(key);
    put<uint32_t>(9);
    put<uint32_t>(6);
    put<uint64_t>(v.size());
    for (float f : v) put<float>(f);
    ++n_kv_;
  }
  // ne is in GGML order (innermost first).
  void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    put_string(name);
    put<uint32_t>(uint32_t(ne.size()));
    for (uint64_t d : ne) put<uint64_t>(d);
    put<uint32_t>(type);
    put<uint64_t>(offset);
    ++n_tensors_;
  }
  void pad_and_data(size_t data_bytes, size_t alignment = 32) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    for (size_t i = 0; i < data_bytes; ++i) bytes_.push_back(uint8_t(i));
  }

  std::string write(const std::string& name) {
    std::memcpy(bytes_.data() + count_pos_, &n_tensors_, 8);
    std::memcpy(bytes_.data() + count_pos_ + 8, &n_kv_, 8);
    std::string path = ::brasa::test::work_dir() + "/" + name;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
    return path;
  }

  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  size_t count_pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
};

std::string error_of(const std::string& path) {
  try {
    GgufFile f(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, ReadsStories260K) {
  GgufFile f(kStories);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f.get_int("llama.block_count"), 5);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 512u);
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores").size(), 512u);

  const GgufTensor* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(embd->dtype, DType::F32);
  EXPECT_EQ(embd->bytes, 512u * 64u * 4u);
  EXPECT_EQ((embd->data - f.mapping()->data()) % f.alignment(), 0);
}

TEST(Gguf, ReadsBuiltFile) {
  GgufBuilder b;
  b.kv_u32("general.alignment", 64);
  b.kv_string("general.name", "tiny");
  b.kv_string_array("list", {"a", "bc", ""});
  b.kv_f32_array("floats", {1.5f, -2.0f});
  b.tensor("w", {32, 2}, 8, 0);  // Q8_0 [2][32]: 2 blocks of 34 bytes
  b.tensor("v", {4}, 0, 128);
  b.pad_and_data(128 + 16, 64);
  GgufFile f(b.write("built.gguf"));

  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.get_string("general.name"), "tiny");
  EXPECT_EQ(f.get_string_array("list"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(f.get_float_array("floats"), (std::vector<double>{1.5, -2.0}));
  const GgufTensor* w = f.find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::Q8_0);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(w->bytes, 68u);
  EXPECT_EQ(f.find_tensor("v")->data, f.mapping()->data() + f.data_offset() + 128);
  EXPECT_THROW(f.get_int("general.name"), Error);
  EXPECT_THROW(f.get_string("missing"), Error);
}

TEST(Gguf, AcceptsVersion2) {
  GgufBuilder b(2);
  b.kv_u32("x", 7);
  b.pad_and_data(0);
  GgufFile f(b.write("v2.gguf"));
  EXPECT_EQ(f.get_int("x"), 7);
}

TEST(Gguf, RejectsBadMagicAndVersion) {
  GgufBuilder b(4);
  EXPECT_NE(error_of(b.write("v4.gguf")).find("unsupported GGUF version 4"), std::string::npos);
  GgufBuilder c;
  c.bytes()[0] = 'X';
  EXPECT_NE(error_of(c.write("magic.gguf")).find("not a GGUF file"), std::string::npos);
}

TEST(Gguf, RejectsTruncatedFile) {
  // Every prefix of a valid file must fail cleanly, never read out of bounds.
  GgufBuilder b;
  b.kv_string("general.name", "tiny");
  b.tensor("v", {8}, 0, 0);
  b.pad_and_data(32);
  std::string path = b.write("full.gguf");
  std::vector<uint8_t> written;
  {
    std::ifstream in(path, std::ios::binary);
    written.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (size_t n = 0; n < written.size(); ++n) {
    std::string cut = ::brasa::test::work_dir() + "/cut.gguf";
    std::ofstream(cut, std::ios::binary).write(reinterpret_cast<const char*>(written.data()), n);
    std::string message = error_of(cut);
    EXPECT_NE(message, "") << "prefix of " << n << " bytes was accepted";
    EXPECT_NE(message.find("cut.gguf"), std::string::npos) << message;
  }
}

TEST(Gguf, RejectsOffsetPastEnd) {
  GgufBuilder b;
  b.tensor("v", {8}, 0, 64);
  b.pad_and_data(32);
  std::string message = error_of(b.write("offset.gguf"));
  EXPECT_NE(message.find("tensor v"), std::string::npos) << message;
}

// Overwrites the 8-byte count at `offset` of a written file (8: tensor count, 16: metadata count).
void patch_count(const std::string& path, size_t offset, uint64_t value) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(offset));
  f.write(reinterpret_cast<const char*>(&value), 8);
}

TEST(Gguf, RejectsAbsurdCounts) {
  GgufBuilder array;
  array.put_string("huge");
  array.put<uint32_t>(9);
  array.put<uint32_t>(4);
  array.put<uint64_t>(uint64_t(1) << 60);
  std::string array_path = array.write("count.gguf");
  patch_count(array_path, 16, 1);
  EXPECT_NE(error_of(array_path).find("claims"), std::string::npos) << error_of(array_path);

  GgufBuilder string;
  string.put_string("k");
  string.put<uint32_t>(8);
  string.put<uint64_t>(uint64_t(1) << 62);
  std::string string_path = string.write("strlen.gguf");
  patch_count(string_path, 16, 1);
  EXPECT_NE(error_of(string_path).find("length"), std::string::npos) << error_of(string_path);

  GgufBuilder tensors;
  std::string tensors_path = tensors.write("tensorcount.gguf");
  patch_count(tensors_path, 8, uint64_t(1) << 40);
  EXPECT_NE(error_of(tensors_path).find("tensor count"), std::string::npos) << error_of(tensors_path);
}

TEST(Gguf, RejectsUnsupportedTensorType) {
  GgufBuilder b;
  b.tensor("blk.0.ffn_down.weight", {256, 1}, 12, 0);  // Q4_K
  b.pad_and_data(256);
  std::string path = b.write("q4k.gguf");
  EXPECT_EQ(error_of(path),
            "unsupported GGUF tensor type Q4_K in tensor blk.0.ffn_down.weight of " + path +
                " (supported: F32, F16, BF16, Q8_0, Q4_0)");
}

}  // namespace
}  // namespace brasa
