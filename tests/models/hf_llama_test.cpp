#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_work_dir.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "formats/safetensors_writer.h"
#include "kernels/backend.h"
#include "models/model.h"

namespace brasa {
namespace {

const std::string kStories = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";

// Copies a GGUF F32 tensor under a Hugging Face name. For q and k, rows are
// reordered from GGUF's interleaved RoPE pairs (2i, 2i+1) to HF's half-split
// pairs (i, i + head_dim/2), undoing the permutation of llama.cpp's converter.
TensorData hf_tensor(const Checkpoint& gguf, const std::string& gguf_name, const std::string& hf_name,
                     int32_t head_dim = 0) {
  const TensorView& src = gguf.get(gguf_name);
  TensorData t;
  t.name = hf_name;
  t.dtype = DType::F32;
  t.shape = src.shape;
  t.bytes.assign(src.data, src.data + src.bytes);
  if (head_dim > 0) {
    const size_t row_bytes = size_t(src.shape[1]) * 4;
    const int64_t rows = src.shape[0];
    for (int64_t r = 0; r < rows; ++r) {
      int64_t head = r / head_dim;
      int64_t j = r % head_dim;
      int64_t half = head_dim / 2;
      int64_t from = head * head_dim + (j < half ? 2 * j : 2 * (j - half) + 1);
      std::memcpy(t.bytes.data() + size_t(r) * row_bytes, src.data + size_t(from) * row_bytes, row_bytes);
    }
  }
  return t;
}

std::string write_hf_stories() {
  std::string dir = ::brasa::test::work_dir() + "/stories260K-hf";
  std::filesystem::create_directories(dir);
  auto gguf = Checkpoint::open(kStories);
  const int32_t head_dim = 8;

  std::vector<TensorData> tensors = {
      hf_tensor(*gguf, "token_embd.weight", "model.embed_tokens.weight"),
      hf_tensor(*gguf, "output_norm.weight", "model.norm.weight"),
      hf_tensor(*gguf, "output.weight", "lm_head.weight"),
  };
  for (int i = 0; i < 5; ++i) {
    std::string g = "blk." + std::to_string(i) + ".";
    std::string h = "model.layers." + std::to_string(i) + ".";
    tensors.push_back(hf_tensor(*gguf, g + "attn_norm.weight", h + "input_layernorm.weight"));
    tensors.push_back(hf_tensor(*gguf, g + "ffn_norm.weight", h + "post_attention_layernorm.weight"));
    tensors.push_back(hf_tensor(*gguf, g + "attn_q.weight", h + "self_attn.q_proj.weight", head_dim));
    tensors.push_back(hf_tensor(*gguf, g + "attn_k.weight", h + "self_attn.k_proj.weight", head_dim));
    tensors.push_back(hf_tensor(*gguf, g + "attn_v.weight", h + "self_attn.v_proj.weight"));
    tensors.push_back(hf_tensor(*gguf, g + "attn_output.weight", h + "self_attn.o_proj.weight"));
    tensors.push_back(hf_tensor(*gguf, g + "ffn_gate.weight", h + "mlp.gate_proj.weight"));
    tensors.push_back(hf_tensor(*gguf, g + "ffn_up.weight", h + "mlp.up_proj.weight"));
    tensors.push_back(hf_tensor(*gguf, g + "ffn_down.weight", h + "mlp.down_proj.weight"));
  }
  write_safetensors_model(dir, tensors, 2);
  std::ofstream(dir + "/config.json") << R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 5,
    "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 172, "vocab_size": 512,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 2048})";
  return dir;
}

std::vector<float> last_logits(Model& model, const std::vector<int32_t>& prompt) {
  const KvGeometry& g = model.info().kv;
  KvPoolStorage kv(4, 16, g.n_global_layers, g.n_kv_heads, g.head_dim);
  std::vector<int32_t> table = {0, 1, 2, 3};
  SequenceStep step;
  step.tokens = prompt.data();
  step.n_tokens = int32_t(prompt.size());
  step.block_table = table.data();
  step.n_blocks = 4;
  StepOutput out;
  model.forward({&step, 1}, KvPools{&kv.pool(), nullptr}, out);
  return out.logits;
}

// The same weights as GGUF (interleaved RoPE) and as a sharded HF checkpoint
// (half-split RoPE, permuted q/k rows) must give the same logits.
TEST(HfLlama, MatchesGgufWeights) {
  ThreadPool pool(1);
  auto backend = make_cpu_backend(pool);
  auto gguf_model = load_model(kStories, *backend);
  auto hf_model = load_model(write_hf_stories(), *backend);
  ASSERT_EQ(hf_model->info().architecture, "llama");

  std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
  std::vector<float> expected = last_logits(*gguf_model, prompt);
  std::vector<float> got = last_logits(*hf_model, prompt);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-4) << "logit " << i;
}

}  // namespace
}  // namespace brasa
