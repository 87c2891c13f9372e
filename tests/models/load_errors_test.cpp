#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_work_dir.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/safetensors_writer.h"
#include "kernels/backend.h"
#include "models/model.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

const std::string kWorkDir = ::brasa::test::work_dir() + "/load-errors";
const std::string kStories = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";

// The message of the brasa::Error that loading `path` raises, or "" when it loads.
std::string load_error(const std::string& path) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  try {
    load_model(path, *backend);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TensorData f32_tensor(const std::string& name, std::vector<int64_t> shape) {
  TensorData t;
  t.name = name;
  t.dtype = DType::F32;
  t.shape = shape;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  t.bytes.assign(size_t(n) * 4, 0);
  return t;
}

// A tiny Hugging Face Llama checkpoint: hidden 8, 1 layer, 2 heads, 1 KV head,
// head_dim 4, MLP 16, vocab 10. `edit` may change the tensors before writing.
std::string write_tiny_llama(const std::string& name, const std::string& config,
                             void (*edit)(std::vector<TensorData>&) = nullptr) {
  std::string dir = kWorkDir + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << config;
  std::vector<TensorData> tensors = {
      f32_tensor("model.embed_tokens.weight", {10, 8}),
      f32_tensor("model.norm.weight", {8}),
      f32_tensor("lm_head.weight", {10, 8}),
      f32_tensor("model.layers.0.input_layernorm.weight", {8}),
      f32_tensor("model.layers.0.post_attention_layernorm.weight", {8}),
      f32_tensor("model.layers.0.self_attn.q_proj.weight", {8, 8}),
      f32_tensor("model.layers.0.self_attn.k_proj.weight", {4, 8}),
      f32_tensor("model.layers.0.self_attn.v_proj.weight", {4, 8}),
      f32_tensor("model.layers.0.self_attn.o_proj.weight", {8, 8}),
      f32_tensor("model.layers.0.mlp.gate_proj.weight", {16, 8}),
      f32_tensor("model.layers.0.mlp.up_proj.weight", {16, 8}),
      f32_tensor("model.layers.0.mlp.down_proj.weight", {8, 16}),
  };
  if (edit != nullptr) edit(tensors);
  write_safetensors_model(dir, tensors);
  return dir;
}

const char* kTinyConfig = R"({"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,
  "num_key_value_heads":1,"intermediate_size":16,"vocab_size":10,"rms_norm_eps":1e-5})";

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nexpected to contain: " << part;
}

TEST(LoadErrors, TinyLlamaLoads) {
  EXPECT_EQ(load_error(write_tiny_llama("ok", kTinyConfig)), "");
}

TEST(LoadErrors, MissingFile) {
  std::string message = load_error(kWorkDir + "/absent.gguf");
  expect_contains(message, "absent.gguf");
  expect_contains(message, "not found");
}

TEST(LoadErrors, TruncatedGguf) {
  fs::create_directories(kWorkDir);
  std::string path = kWorkDir + "/truncated.gguf";
  std::ifstream in(kStories, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
  std::string message = load_error(path);
  expect_contains(message, "truncated.gguf");
  expect_contains(message, "truncated GGUF file");
}

TEST(LoadErrors, SafetensorsHeaderLiesAboutOffsets) {
  std::string dir = write_tiny_llama("lying", kTinyConfig);
  // Rewrite the header so one tensor's end offset points past the data area.
  std::string path = dir + "/model.safetensors";
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t header_bytes = 0;
  f.read(reinterpret_cast<char*>(&header_bytes), 8);
  std::string header(size_t(header_bytes), ' ');
  f.read(header.data(), std::streamsize(header_bytes));
  size_t at = header.find("\"model.norm.weight\"");
  ASSERT_NE(at, std::string::npos);
  size_t offsets = header.find("data_offsets", at);
  size_t close = header.find(']', offsets);
  size_t comma = header.rfind(',', close);
  // Same digit count, so the header length stays valid: the end offset becomes
  // 9...9, beyond the data area or inconsistent with the tensor's size.
  header.replace(comma + 1, close - comma - 1, std::string(close - comma - 1, '9'));
  f.seekp(8);
  f.write(header.data(), std::streamsize(header.size()));
  f.close();

  std::string message = load_error(dir);
  expect_contains(message, "model.safetensors");
  expect_contains(message, "model.norm.weight");
}

TEST(LoadErrors, UnknownModelType) {
  std::string dir = write_tiny_llama("gpt2", R"({"model_type":"gpt2"})");
  std::string message = load_error(dir);
  expect_contains(message, "config.json");
  expect_contains(message, "gpt2");
}

TEST(LoadErrors, ShapeDisagreesWithConfig) {
  std::string dir = write_tiny_llama("shape", kTinyConfig, [](std::vector<TensorData>& tensors) {
    tensors[6] = f32_tensor("model.layers.0.self_attn.k_proj.weight", {8, 8});
  });
  std::string message = load_error(dir);
  expect_contains(message, "model.layers.0.self_attn.k_proj.weight");
  expect_contains(message, "[8, 8]");
  expect_contains(message, "expected [4, 8]");
}

TEST(LoadErrors, MissingTensor) {
  std::string dir = write_tiny_llama("missing", kTinyConfig, [](std::vector<TensorData>& tensors) {
    tensors.erase(tensors.begin() + 10);  // mlp.up_proj
  });
  expect_contains(load_error(dir), "missing tensor model.layers.0.mlp.up_proj.weight");
}

TEST(LoadErrors, UnsupportedGgufTensorType) {
  // Patch the type of stories260K's first tensor (token_embd.weight, F32 = 0)
  // to Q4_K (12); the reader must reject it before reading any data.
  fs::create_directories(kWorkDir);
  std::ifstream in(kStories, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string name = "token_embd.weight";
  auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  ASSERT_NE(it, bytes.end());
  // After the name: n_dims (u32), 2 dims (u64 each), then the type (u32).
  size_t type_at = size_t(it - bytes.begin()) + name.size() + 4 + 16;
  uint32_t q4_k = 12;
  std::memcpy(bytes.data() + type_at, &q4_k, 4);
  std::string path = kWorkDir + "/q4k.gguf";
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  expect_contains(load_error(path), "unsupported GGUF tensor type Q4_K in tensor token_embd.weight of " + path);
}

}  // namespace
}  // namespace brasa
