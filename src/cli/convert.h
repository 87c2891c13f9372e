#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/checkpoint.h"
#include "models/model_config.h"

namespace brasa::cli {

// The purpose of a tensor. convert_types.cpp chooses the output type of each role.
enum class TensorRole { Embedding, Output, Norm, RopeFreqs, Router, Linear };

// One tensor of a converted model, in GGUF's naming and orientation: llama.cpp's
// names (token_embd.weight, blk.N.attn_q.weight, ...), [out, in] matrices,
// routed experts stacked as [n_experts, rows, cols], and Q/K rows in
// interleaved RoPE order. Values are produced as F32 rows on demand, so a
// converter reads the source one tensor at a time.
struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;  // row-major, outermost first
  TensorRole role = TensorRole::Linear;
  DType source_dtype = DType::F32;
  // Writes row `row` (of n_rows() rows of shape.back() values) into `out`.
  std::function<void(int64_t row, float* out)> read_row;

  int64_t n_cols() const { return shape.back(); }
  int64_t n_rows() const {
    int64_t n = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
    return n;
  }
};

// The tensors of `checkpoint` in GGUF naming. rope_freqs.weight is added for
// llama3 RoPE scaling when `with_rope_freqs` is set (GGUF output), as
// llama.cpp's converter does. Throws brasa::Error for a tensor the plan
// needs and the checkpoint lacks.
std::vector<PlannedTensor> plan_tensors(const Checkpoint& checkpoint, const ModelConfig& config, bool with_rope_freqs);

// Output types. `target` is the --dtype choice.
DType gguf_tensor_type(const PlannedTensor& tensor, DType target);
DType safetensors_tensor_type(const PlannedTensor& tensor, DType target);

// Encodes a planned tensor into `type`. For F8_E4M3, `fp8_scales` receives one
// scale per row.
std::vector<uint8_t> encode_tensor(const PlannedTensor& tensor, DType type, std::vector<float>* fp8_scales = nullptr);

struct ConvertOptions {
  std::string model;
  std::string out;
  std::string dtype;
  std::string format;  // "gguf" or "safetensors"; empty: from the output name
};

// The input dtype name as --dtype spells it, mapped to its type. Throws
// brasa::Error listing the valid names.
DType parse_target_dtype(const std::string& name);

void write_gguf_model(const Checkpoint& checkpoint, const ModelConfig& config, const std::string& source_path,
                      DType target, const std::string& out_path);
void write_safetensors_model_dir(const Checkpoint& checkpoint, const ModelConfig& config,
                                 const std::string& source_path, DType target, const std::string& out_dir);

}  // namespace brasa::cli
