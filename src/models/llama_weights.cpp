#include "models/llama_weights.h"

#include <algorithm>
#include <cstring>
#include <map>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace brasa {

namespace {

bool is_weight_dtype(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::F8_E4M3: case DType::Q8_0: case DType::Q4_0:
      return true;
    default:
      return false;
  }
}

// Resolves tensor names of one checkpoint layout and checks what it finds.
class WeightLoader {
 public:
  WeightLoader(const Checkpoint& checkpoint, const ModelConfig& config, ModelWeights& out)
      : checkpoint_(checkpoint), config_(config), out_(out) {}

  const TensorView& tensor(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorView& t = checkpoint_.get(name);
    if (t.shape != shape) {
      throw Error(checkpoint_.path() + ": tensor " + name + " has shape " + shape_to_string(t.shape) + ", expected " +
                  shape_to_string(shape) + " from the model config");
    }
    if (!is_weight_dtype(t.dtype)) {
      throw Error(checkpoint_.path() + ": tensor " + name + " has dtype " + dtype_name(t.dtype) +
                  ", which is not a weight type (F32, F16, BF16, F8_E4M3, Q8_0, Q4_0)");
    }
    return t;
  }

  // A [rows, cols] matrix; FP8 weights take their per-row scales from NAME_scale.
  Weight matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorView& t = tensor(name, {rows, cols});
    const float* scale = nullptr;
    if (t.dtype == DType::F8_E4M3) scale = row_scales(name + "_scale", rows);
    return make_weight(t.dtype, rows, cols, t.data, scale);
  }

  // A [n, rows, cols] stack of matrices viewed as one [n * rows, cols] matrix.
  // GGUF has no FP8 type and no place for per-row scales, so FP8 is rejected.
  Weight stacked(const std::string& name, int64_t n, int64_t rows, int64_t cols) {
    const TensorView& t = tensor(name, {n, rows, cols});
    if (t.dtype == DType::F8_E4M3) throw Error(checkpoint_.path() + ": stacked tensor " + name + " must not be FP8");
    return make_weight(t.dtype, n * rows, cols, t.data);
  }

  // A norm weight of dim values, wrapped as one row.
  Weight vector(const std::string& name, int64_t dim) {
    const TensorView& t = tensor(name, {dim});
    if (t.dtype == DType::F8_E4M3) throw Error(checkpoint_.path() + ": norm weight " + name + " must not be FP8");
    return make_weight(t.dtype, 1, dim, t.data);
  }

  // Per-output-row FP8 scales, shape [rows] or [rows, 1], F32 or BF16, copied to F32.
  const float* row_scales(const std::string& name, int64_t rows) {
    const TensorView& s = checkpoint_.get(name);
    bool shape_ok = (s.shape == std::vector<int64_t>{rows}) || (s.shape == std::vector<int64_t>{rows, 1});
    if (!shape_ok) {
      throw Error(checkpoint_.path() + ": tensor " + name + " has shape " + shape_to_string(s.shape) + ", expected [" +
                  std::to_string(rows) + "] or [" + std::to_string(rows) + ", 1] (one scale per output row)");
    }
    std::vector<float> scales(static_cast<size_t>(rows));
    if (s.dtype == DType::F32) {
      std::memcpy(scales.data(), s.data, scales.size() * 4);
    } else if (s.dtype == DType::BF16) {
      for (int64_t r = 0; r < rows; ++r) {
        uint16_t h;
        std::memcpy(&h, s.data + r * 2, 2);
        scales[size_t(r)] = bf16_to_f32(h);
      }
    } else {
      throw Error(checkpoint_.path() + ": tensor " + name + " has dtype " + dtype_name(s.dtype) +
                  ", expected F32 or BF16 scales");
    }
    out_.owned_scales.push_back(std::move(scales));
    return out_.owned_scales.back().data();
  }

  // Splits HF's fused expert tensors, stored in x out order, into per-expert
  // [out, in] matrices in owned buffers, keeping the stored dtype.
  void fused_experts(const std::string& prefix, int64_t hidden, int64_t inter, std::vector<FeedForwardWeights>& experts) {
    const int64_t n_experts = config_.n_experts;
    const TensorView& gate_up = tensor(prefix + "gate_up_proj", {n_experts, hidden, 2 * inter});
    const TensorView& down = tensor(prefix + "down_proj", {n_experts, inter, hidden});
    for (const TensorView* t : {&gate_up, &down}) {
      if (t->dtype != DType::F32 && t->dtype != DType::BF16 && t->dtype != DType::F16) {
        throw Error(checkpoint_.path() + ": fused expert tensor " + t->name + " has dtype " + dtype_name(t->dtype) +
                    " (supported: F32, F16, BF16; FP8 checkpoints must store one tensor per expert)");
      }
    }
    if (!logged_transpose_) {
      spdlog::info("{}: transposing fused expert tensors (in x out) into owned [out, in] buffers", checkpoint_.path());
      logged_transpose_ = true;
    }

    experts.resize(size_t(n_experts));
    for (int64_t e = 0; e < n_experts; ++e) {
      // gate_up[e][h][j]: the first inter columns j are the gate, the rest the up projection.
      const size_t es = dtype_row_bytes(gate_up.dtype, 1);
      const uint8_t* gu = gate_up.data + size_t(e) * size_t(hidden * 2 * inter) * es;
      experts[size_t(e)].gate = transposed(gate_up.dtype, gu, hidden, 2 * inter, 0, inter);
      experts[size_t(e)].up = transposed(gate_up.dtype, gu, hidden, 2 * inter, inter, inter);

      const size_t ds = dtype_row_bytes(down.dtype, 1);
      const uint8_t* d = down.data + size_t(e) * size_t(inter * hidden) * ds;
      experts[size_t(e)].down = transposed(down.dtype, d, inter, hidden, 0, hidden);
    }
  }

 private:
  // Columns [first, first + count) of a row-major [rows, cols] matrix, transposed
  // into a new [count, rows] weight.
  Weight transposed(DType dtype, const uint8_t* src, int64_t rows, int64_t cols, int64_t first, int64_t count) {
    const size_t es = dtype_row_bytes(dtype, 1);
    std::vector<uint8_t> buffer(size_t(count * rows) * es);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < count; ++c) {
        std::memcpy(buffer.data() + (size_t(c) * size_t(rows) + size_t(r)) * es,
                    src + (size_t(r) * size_t(cols) + size_t(first + c)) * es, es);
      }
    }
    out_.owned_bytes.push_back(std::move(buffer));
    return make_weight(dtype, count, rows, out_.owned_bytes.back().data());
  }

  const Checkpoint& checkpoint_;
  const ModelConfig& config_;
  ModelWeights& out_;
  bool logged_transpose_ = false;
};

FeedForwardWeights load_gguf_mlp(WeightLoader& loader, const std::string& p, const std::string& suffix, int64_t hidden,
                                  int64_t inter) {
  FeedForwardWeights mlp;
  mlp.gate = loader.matrix(p + "ffn_gate" + suffix + ".weight", inter, hidden);
  mlp.up = loader.matrix(p + "ffn_up" + suffix + ".weight", inter, hidden);
  mlp.down = loader.matrix(p + "ffn_down" + suffix + ".weight", hidden, inter);
  return mlp;
}

// llama.cpp stores the routed experts of a layer as one 3-D tensor per
// projection, GGML ne {cols, rows, n_experts}, so expert e's [rows, cols]
// matrix is rows [e * rows, (e + 1) * rows) of the tensor read as 2-D.
void load_gguf_experts(WeightLoader& loader, const std::string& p, const ModelConfig& c,
                       std::vector<FeedForwardWeights>& experts) {
  const int64_t n_experts = c.n_experts;
  const int64_t hidden = c.hidden_size;
  const int64_t inter = c.intermediate_size;
  const Weight gate = loader.stacked(p + "ffn_gate_exps.weight", n_experts, inter, hidden);
  const Weight up = loader.stacked(p + "ffn_up_exps.weight", n_experts, inter, hidden);
  const Weight down = loader.stacked(p + "ffn_down_exps.weight", n_experts, hidden, inter);
  experts.resize(size_t(n_experts));
  for (int64_t e = 0; e < n_experts; ++e) {
    experts[size_t(e)].gate = gate.slice_rows(e * inter, inter);
    experts[size_t(e)].up = up.slice_rows(e * inter, inter);
    experts[size_t(e)].down = down.slice_rows(e * hidden, hidden);
  }
}

void load_gguf_layer(WeightLoader& loader, const ModelConfig& c, int32_t i, LayerWeights& layer) {
  const std::string p = "blk." + std::to_string(i) + ".";
  const int64_t hidden = c.hidden_size;
  layer.attn_norm = loader.vector(p + "attn_norm.weight", hidden);
  layer.q = loader.matrix(p + "attn_q.weight", int64_t(c.n_heads) * c.head_dim, hidden);
  layer.k = loader.matrix(p + "attn_k.weight", int64_t(c.n_kv_heads) * c.head_dim, hidden);
  layer.v = loader.matrix(p + "attn_v.weight", int64_t(c.n_kv_heads) * c.head_dim, hidden);
  layer.o = loader.matrix(p + "attn_output.weight", hidden, int64_t(c.n_heads) * c.head_dim);
  layer.ffn_norm = loader.vector(p + "ffn_norm.weight", hidden);

  if (c.architecture == "llama") {
    layer.mlp = load_gguf_mlp(loader, p, "", hidden, c.intermediate_size);
    return;
  }
  if (!c.moe_layer[size_t(i)]) {
    layer.mlp = load_gguf_mlp(loader, p, "", hidden, c.intermediate_size_mlp);
    return;
  }
  layer.router = loader.matrix(p + "ffn_gate_inp.weight", c.n_experts, hidden);
  layer.mlp = load_gguf_mlp(loader, p, "_shexp", hidden, c.intermediate_size);
  load_gguf_experts(loader, p, c, layer.experts);
}

FeedForwardWeights load_hf_mlp(WeightLoader& loader, const std::string& p, int64_t hidden, int64_t inter) {
  FeedForwardWeights mlp;
  mlp.gate = loader.matrix(p + "gate_proj.weight", inter, hidden);
  mlp.up = loader.matrix(p + "up_proj.weight", inter, hidden);
  mlp.down = loader.matrix(p + "down_proj.weight", hidden, inter);
  return mlp;
}

void load_hf_layer(WeightLoader& loader, const Checkpoint& checkpoint, const ModelConfig& c, int32_t i,
                   LayerWeights& layer) {
  const std::string p = c.tensor_prefix + "layers." + std::to_string(i) + ".";
  const int64_t hidden = c.hidden_size;
  layer.attn_norm = loader.vector(p + "input_layernorm.weight", hidden);
  layer.q = loader.matrix(p + "self_attn.q_proj.weight", int64_t(c.n_heads) * c.head_dim, hidden);
  layer.k = loader.matrix(p + "self_attn.k_proj.weight", int64_t(c.n_kv_heads) * c.head_dim, hidden);
  layer.v = loader.matrix(p + "self_attn.v_proj.weight", int64_t(c.n_kv_heads) * c.head_dim, hidden);
  layer.o = loader.matrix(p + "self_attn.o_proj.weight", hidden, int64_t(c.n_heads) * c.head_dim);
  layer.ffn_norm = loader.vector(p + "post_attention_layernorm.weight", hidden);

  if (c.architecture == "llama") {
    layer.mlp = load_hf_mlp(loader, p + "mlp.", hidden, c.intermediate_size);
    return;
  }
  if (!c.moe_layer[size_t(i)]) {
    layer.mlp = load_hf_mlp(loader, p + "feed_forward.", hidden, c.intermediate_size_mlp);
    return;
  }

  // MoE layer: router, shared expert, and routed experts fused or one tensor each.
  const int64_t inter = c.intermediate_size;
  layer.router = loader.matrix(p + "feed_forward.router.weight", c.n_experts, hidden);
  layer.mlp = load_hf_mlp(loader, p + "feed_forward.shared_expert.", hidden, inter);
  if (checkpoint.find(p + "feed_forward.experts.gate_up_proj") != nullptr) {
    loader.fused_experts(p + "feed_forward.experts.", hidden, inter, layer.experts);
  } else {
    layer.experts.resize(size_t(c.n_experts));
    for (int32_t e = 0; e < c.n_experts; ++e) {
      layer.experts[size_t(e)] = load_hf_mlp(loader, p + "feed_forward.experts." + std::to_string(e) + ".", hidden, inter);
    }
  }
}

// Bytes that a matrix or norm occupies as stored, with its FP8 row scales.
int64_t stored_bytes(const Weight& w) {
  if (w.data == nullptr) return 0;
  return int64_t(w.bytes()) + (w.row_scale != nullptr ? w.rows * int64_t(sizeof(float)) : 0);
}

int64_t stored_bytes(const FeedForwardWeights& f) { return stored_bytes(f.gate) + stored_bytes(f.up) + stored_bytes(f.down); }

WeightBytes count_weight_bytes(const ModelWeights& weights, const ModelConfig& c) {
  WeightBytes bytes;
  for (const LayerWeights& layer : weights.layers) {
    const int64_t fixed = stored_bytes(layer.attn_norm) + stored_bytes(layer.q) + stored_bytes(layer.k) +
                          stored_bytes(layer.v) + stored_bytes(layer.o) + stored_bytes(layer.ffn_norm) +
                          stored_bytes(layer.mlp) + stored_bytes(layer.router);
    int64_t experts = 0;
    for (const FeedForwardWeights& expert : layer.experts) experts += stored_bytes(expert);
    bytes.layers += fixed + experts;
    const int64_t n = int64_t(layer.experts.size());
    bytes.layers_active += fixed + (n > 0 ? experts * std::min<int64_t>(c.n_experts_per_tok, n) / n : 0);
  }
  bytes.head = stored_bytes(weights.lm_head);
  return bytes;
}

}  // namespace

std::unique_ptr<ModelWeights> load_weights(const Checkpoint& checkpoint, const ModelConfig& c) {
  auto out = std::make_unique<ModelWeights>();
  WeightLoader loader(checkpoint, c, *out);
  const bool gguf = checkpoint.format() == Checkpoint::Format::Gguf;
  const int64_t hidden = c.hidden_size;

  const std::string embed_name = gguf ? "token_embd.weight" : c.tensor_prefix + "embed_tokens.weight";
  const std::string norm_name = gguf ? "output_norm.weight" : c.tensor_prefix + "norm.weight";
  out->embed = loader.matrix(embed_name, c.vocab_size, hidden);
  out->final_norm = loader.vector(norm_name, hidden);
  if (c.tie_word_embeddings && checkpoint.find(c.lm_head_name) == nullptr) {
    out->lm_head = out->embed;
  } else {
    out->lm_head = loader.matrix(c.lm_head_name, c.vocab_size, hidden);
  }

  // llama.cpp stores llama3 RoPE scaling as per-frequency divisors.
  if (gguf && checkpoint.find("rope_freqs.weight") != nullptr) {
    const TensorView& f = checkpoint.get("rope_freqs.weight");
    if (f.dtype != DType::F32 || f.shape != std::vector<int64_t>{c.head_dim / 2}) {
      throw Error(checkpoint.path() + ": tensor rope_freqs.weight must be F32 of shape [" +
                  std::to_string(c.head_dim / 2) + "], got " + dtype_name(f.dtype) + " " + shape_to_string(f.shape));
    }
    out->rope_freq_factors.resize(size_t(c.head_dim / 2));
    std::memcpy(out->rope_freq_factors.data(), f.data, f.bytes);
  }

  out->layers.resize(size_t(c.n_layers));
  for (int32_t i = 0; i < c.n_layers; ++i) {
    if (gguf) {
      load_gguf_layer(loader, c, i, out->layers[size_t(i)]);
    } else {
      load_hf_layer(loader, checkpoint, c, i, out->layers[size_t(i)]);
    }
  }

  // Parameter counts: every stored tensor except FP8 scales; a token reads
  // only n_experts_per_tok of each MoE layer's routed experts.
  // matmul_dtype leaves out the embedding table, a lookup, and the output
  // head, which prefill runs for one token per sequence. Under Q4_0 both stay
  // Q8_0, and with Llama 4's 202048-token vocabulary they can outweigh the
  // Q4_0 layers of a small model.
  std::map<DType, int64_t> matrix_params;
  for (const auto& [name, t] : checkpoint.tensors()) {
    if (name.size() >= 6 && name.compare(name.size() - 6, 6, "_scale") == 0) continue;
    out->n_params += t.n_elements();
    const bool table = name == embed_name || name == c.lm_head_name;
    if (t.shape.size() >= 2 && !table) matrix_params[t.dtype] += t.n_elements();
  }
  const auto largest = std::max_element(matrix_params.begin(), matrix_params.end(),
                                        [](const auto& a, const auto& b) { return a.second < b.second; });
  if (largest != matrix_params.end()) out->matmul_dtype = largest->first;
  int64_t expert_params = 3 * int64_t(c.hidden_size) * c.intermediate_size;
  int64_t n_moe_layers = 0;
  for (bool moe : c.moe_layer) n_moe_layers += moe ? 1 : 0;
  out->n_active_params = out->n_params - n_moe_layers * int64_t(c.n_experts - c.n_experts_per_tok) * expert_params;
  out->bytes = count_weight_bytes(*out, c);
  return out;
}

}  // namespace brasa
