// Maps the tensors of a Hugging Face or GGUF checkpoint to GGUF's names and
// orientation (see PlannedTensor), reading source rows lazily.
#include <cmath>
#include <cstring>
#include <memory>

#include "cli/convert.h"
#include "core/error.h"
#include "formats/quantize.h"

namespace brasa::cli {

namespace {

using RowReader = std::function<void(int64_t, float*)>;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TensorRole role_of(const std::string& gguf_name) {
  if (gguf_name == "token_embd.weight") return TensorRole::Embedding;
  if (gguf_name == "output.weight") return TensorRole::Output;
  if (gguf_name == "rope_freqs.weight") return TensorRole::RopeFreqs;
  if (ends_with(gguf_name, "_norm.weight")) return TensorRole::Norm;
  if (ends_with(gguf_name, "ffn_gate_inp.weight")) return TensorRole::Router;
  return TensorRole::Linear;
}

// Per-row FP8 scales of a Hugging Face weight, stored as NAME_scale ([rows] or
// [rows, 1], F32 or BF16), as brasa's safetensors loader reads them.
std::shared_ptr<std::vector<float>> fp8_row_scales(const Checkpoint& checkpoint, const TensorView& weight, int64_t rows) {
  const TensorView& s = checkpoint.get(weight.name + "_scale");
  if (s.n_elements() != rows || (s.dtype != DType::F32 && s.dtype != DType::BF16)) {
    throw Error(checkpoint.path() + ": tensor " + s.name + " must hold one F32 or BF16 scale per row of " + weight.name);
  }
  auto scales = std::make_shared<std::vector<float>>(size_t(rows));
  dequantize_row(s.dtype, s.data, rows, scales->data());
  return scales;
}

// Rows of a stored tensor; every dimension but the last counts as rows.
RowReader stored_rows(const Checkpoint& checkpoint, const TensorView& t) {
  const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
  const int64_t rows = cols > 0 ? t.n_elements() / cols : 0;
  const size_t row_bytes = dtype_row_bytes(t.dtype, cols);
  std::shared_ptr<std::vector<float>> scales;
  if (t.dtype == DType::F8_E4M3) scales = fp8_row_scales(checkpoint, t, rows);
  const uint8_t* data = t.data;
  const DType dtype = t.dtype;
  return [=](int64_t row, float* out) {
    dequantize_row(dtype, data + size_t(row) * row_bytes, cols, out, scales ? (*scales)[size_t(row)] : 1.0f);
  };
}

// Hugging Face Llama stores Q and K rows in rotate-half order: within each head,
// the first half of the rows are the real parts. GGUF interleaves them as
// (2i, 2i + 1) pairs. Output row h*d + 2i + t reads input row h*d + t*d/2 + i.
RowReader interleave_rope_rows(RowReader source, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  return [source = std::move(source), head_dim, half](int64_t row, float* out) {
    const int64_t head = row / head_dim;
    const int64_t within = row % head_dim;
    source(head * head_dim + (within % 2) * half + within / 2, out);
  };
}

// A transposed view of a stack of [n, rows, cols] matrices: output row (e, c)
// is column `first + c` of matrix e. The matrix being read is decoded to F32
// once and kept, because rows are requested in order.
RowReader transposed_rows(const Checkpoint& checkpoint, const TensorView& t, int64_t first, int64_t count) {
  struct Cache {
    int64_t matrix = -1;
    std::vector<float> values;
  };
  const int64_t rows = t.shape[1];
  const int64_t cols = t.shape[2];
  RowReader source = stored_rows(checkpoint, t);
  auto cache = std::make_shared<Cache>();
  return [=](int64_t row, float* out) {
    const int64_t matrix = row / count;
    const int64_t column = first + row % count;
    if (cache->matrix != matrix) {
      cache->values.resize(size_t(rows * cols));
      for (int64_t r = 0; r < rows; ++r) source(matrix * rows + r, cache->values.data() + r * cols);
      cache->matrix = matrix;
    }
    for (int64_t r = 0; r < rows; ++r) out[r] = cache->values[size_t(r * cols + column)];
  };
}

// Stacks one [rows, cols] tensor per expert into [n_experts, rows, cols].
RowReader stacked_rows(std::vector<RowReader> experts, int64_t rows) {
  return [experts = std::move(experts), rows](int64_t row, float* out) { experts[size_t(row / rows)](row % rows, out); };
}

// llama.cpp's rope_freqs.weight for llama3 scaling: one divisor per frequency
// (1 for kept high frequencies, factor for divided low ones, a blend between).
std::vector<float> llama3_rope_divisors(const ModelConfig& c) {
  const RopeScaling& s = c.rope_scaling;
  std::vector<float> divisors;
  for (int32_t i = 0; i < c.head_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(c.head_dim));
    const double wavelen = 2.0 * 3.14159265358979323846 / freq;
    const double low_freq_wavelen = double(s.original_max_position_embeddings) / s.low_freq_factor;
    const double high_freq_wavelen = double(s.original_max_position_embeddings) / s.high_freq_factor;
    if (wavelen < high_freq_wavelen) {
      divisors.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      divisors.push_back(float(s.factor));
    } else {
      const double smooth = (double(s.original_max_position_embeddings) / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      divisors.push_back(float(1.0 / ((1.0 - smooth) / s.factor + smooth)));
    }
  }
  return divisors;
}

class HfPlanner {
 public:
  HfPlanner(const Checkpoint& checkpoint, const ModelConfig& config) : checkpoint_(checkpoint), c_(config) {}

  std::vector<PlannedTensor> plan(bool with_rope_freqs) {
    const std::string& p = c_.tensor_prefix;
    add("token_embd.weight", p + "embed_tokens.weight");
    add("output_norm.weight", p + "norm.weight");
    if (checkpoint_.find(c_.lm_head_name) != nullptr) add("output.weight", c_.lm_head_name);
    if (with_rope_freqs && c_.rope_scaling.enabled) {
      auto divisors = std::make_shared<std::vector<float>>(llama3_rope_divisors(c_));
      out_.push_back({"rope_freqs.weight", {int64_t(divisors->size())}, TensorRole::RopeFreqs, DType::F32,
                      [divisors](int64_t, float* out) { std::memcpy(out, divisors->data(), divisors->size() * 4); }});
    }
    for (int32_t i = 0; i < c_.n_layers; ++i) add_layer(i);
    return std::move(out_);
  }

 private:
  void add(const std::string& gguf_name, const std::string& hf_name, int64_t rope_head_dim = 0) {
    const TensorView& t = checkpoint_.get(hf_name);
    RowReader rows = stored_rows(checkpoint_, t);
    if (rope_head_dim > 0) rows = interleave_rope_rows(std::move(rows), rope_head_dim);
    out_.push_back({gguf_name, t.shape, role_of(gguf_name), t.dtype, std::move(rows)});
  }

  void add_layer(int32_t i) {
    const std::string hf = c_.tensor_prefix + "layers." + std::to_string(i) + ".";
    const std::string g = "blk." + std::to_string(i) + ".";
    // Only HF Llama permutes Q/K rows; Llama 4 already uses interleaved pairs.
    const int64_t rope_dim = c_.architecture == "llama" ? c_.head_dim : 0;
    add(g + "attn_norm.weight", hf + "input_layernorm.weight");
    add(g + "attn_q.weight", hf + "self_attn.q_proj.weight", rope_dim);
    add(g + "attn_k.weight", hf + "self_attn.k_proj.weight", rope_dim);
    add(g + "attn_v.weight", hf + "self_attn.v_proj.weight");
    add(g + "attn_output.weight", hf + "self_attn.o_proj.weight");
    add(g + "ffn_norm.weight", hf + "post_attention_layernorm.weight");

    const std::string mlp = c_.architecture == "llama" ? hf + "mlp." : hf + "feed_forward.";
    if (!c_.moe_layer[size_t(i)]) {
      add(g + "ffn_gate.weight", mlp + "gate_proj.weight");
      add(g + "ffn_up.weight", mlp + "up_proj.weight");
      add(g + "ffn_down.weight", mlp + "down_proj.weight");
      return;
    }
    add(g + "ffn_gate_inp.weight", mlp + "router.weight");
    add(g + "ffn_gate_shexp.weight", mlp + "shared_expert.gate_proj.weight");
    add(g + "ffn_up_shexp.weight", mlp + "shared_expert.up_proj.weight");
    add(g + "ffn_down_shexp.weight", mlp + "shared_expert.down_proj.weight");
    add_experts(g, mlp + "experts.");
  }

  void add_experts(const std::string& g, const std::string& hf) {
    const int64_t n = c_.n_experts;
    const int64_t hidden = c_.hidden_size;
    const int64_t inter = c_.intermediate_size;

    // Fused layout: gate_up_proj [E, hidden, 2 * inter] and down_proj [E, inter, hidden], both x @ W.
    if (const TensorView* gate_up = checkpoint_.find(hf + "gate_up_proj"); gate_up != nullptr) {
      const TensorView& down = checkpoint_.get(hf + "down_proj");
      check_shape(*gate_up, {n, hidden, 2 * inter});
      check_shape(down, {n, inter, hidden});
      out_.push_back({g + "ffn_gate_exps.weight", {n, inter, hidden}, TensorRole::Linear, gate_up->dtype,
                      transposed_rows(checkpoint_, *gate_up, 0, inter)});
      out_.push_back({g + "ffn_up_exps.weight", {n, inter, hidden}, TensorRole::Linear, gate_up->dtype,
                      transposed_rows(checkpoint_, *gate_up, inter, inter)});
      out_.push_back({g + "ffn_down_exps.weight", {n, hidden, inter}, TensorRole::Linear, down.dtype,
                      transposed_rows(checkpoint_, down, 0, hidden)});
      return;
    }

    // One nn.Linear per expert and projection.
    struct Projection {
      const char* gguf;
      const char* hf;
      int64_t rows;
      int64_t cols;
    };
    for (const Projection& proj : {Projection{"ffn_gate_exps", "gate_proj", inter, hidden},
                                   Projection{"ffn_up_exps", "up_proj", inter, hidden},
                                   Projection{"ffn_down_exps", "down_proj", hidden, inter}}) {
      std::vector<RowReader> experts;
      DType dtype = DType::F32;
      for (int64_t e = 0; e < n; ++e) {
        const TensorView& t = checkpoint_.get(hf + std::to_string(e) + "." + proj.hf + ".weight");
        check_shape(t, {proj.rows, proj.cols});
        experts.push_back(stored_rows(checkpoint_, t));
        dtype = t.dtype;
      }
      out_.push_back({g + proj.gguf + ".weight", {n, proj.rows, proj.cols}, TensorRole::Linear, dtype,
                      stacked_rows(std::move(experts), proj.rows)});
    }
  }

  void check_shape(const TensorView& t, const std::vector<int64_t>& shape) const {
    if (t.shape != shape) {
      throw Error(checkpoint_.path() + ": tensor " + t.name + " has shape " + shape_to_string(t.shape) + ", expected " +
                  shape_to_string(shape) + " from the model config");
    }
  }

  const Checkpoint& checkpoint_;
  const ModelConfig& c_;
  std::vector<PlannedTensor> out_;
};

}  // namespace

std::vector<PlannedTensor> plan_tensors(const Checkpoint& checkpoint, const ModelConfig& config, bool with_rope_freqs) {
  if (checkpoint.format() == Checkpoint::Format::HuggingFace) return HfPlanner(checkpoint, config).plan(with_rope_freqs);

  // GGUF input already has the output names and orientation. Tensors keep the
  // file's order, as llama-quantize keeps it.
  std::vector<PlannedTensor> out;
  for (const GgufTensor& g : checkpoint.gguf()->tensors()) {
    if (g.name == "rope_freqs.weight" && !with_rope_freqs) {
      // TODO: recover the llama3 rope_scaling parameters from the divisors.
      throw Error(checkpoint.path() + ": rope_freqs.weight (llama3 RoPE scaling) has no Hugging Face form yet; "
                  "convert this file to GGUF instead");
    }
    const TensorView& t = checkpoint.get(g.name);
    out.push_back({g.name, t.shape, role_of(g.name), t.dtype, stored_rows(checkpoint, t)});
  }
  return out;
}

}  // namespace brasa::cli
