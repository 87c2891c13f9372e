// Output types per tensor role, and the encoding of a planned tensor.
#include "cli/convert.h"
#include "core/error.h"
#include "formats/quantize.h"

namespace brasa::cli {

DType parse_target_dtype(const std::string& name) {
  if (name == "q8_0") return DType::Q8_0;
  if (name == "q4_0") return DType::Q4_0;
  if (name == "bf16") return DType::BF16;
  if (name == "f16") return DType::F16;
  if (name == "f32") return DType::F32;
  if (name == "fp8") return DType::F8_E4M3;
  throw Error("invalid --dtype '" + name + "': expected q8_0, q4_0, bf16, f16, f32 or fp8");
}

// GGUF output:
// - Norms, rope_freqs and the MoE router stay F32. They are tiny, and
//   llama-quantize (llama.cpp v0.5.0, src/llama-quant.cpp) keeps 1-D tensors
//   in F32 and leaves ffn_gate_inp unquantized. A small error in a router
//   logit can flip the chosen expert.
// - Under Q4_0, token_embd and output take Q8_0, because the output
//   projection sets every logit. llama-quantize gives output.weight Q6_K (Q8_0
//   when rows are not a multiple of 256) but keeps token_embd in Q4_0.
// - A row whose length is not a multiple of 32 cannot hold Q8_0 or Q4_0
//   blocks, so such a tensor falls back to F16 (e.g. stories260K's ffn_down,
//   with rows of 172).
DType gguf_tensor_type(const PlannedTensor& tensor, DType target) {
  if (target == DType::F8_E4M3) {
    throw Error("GGUF has no FP8 type; write FP8 with --format safetensors, or pick q8_0, q4_0, bf16, f16 or f32");
  }
  if (tensor.role == TensorRole::Norm || tensor.role == TensorRole::RopeFreqs || tensor.role == TensorRole::Router ||
      tensor.shape.size() == 1) {
    return DType::F32;
  }
  DType type = target;
  if (type == DType::Q4_0 && (tensor.role == TensorRole::Embedding || tensor.role == TensorRole::Output)) {
    type = DType::Q8_0;
  }
  if (dtype_is_block_quantized(type) && tensor.n_cols() % kQuantBlock != 0) type = DType::F16;
  return type;
}

// Safetensors output follows Hugging Face checkpoints: every tensor in the
// target float type. FP8 applies to the linear projections of the layers
// (attention, dense and shared MLPs, routed experts) with one F32 scale per
// output row; embeddings, the LM head, norms and the router stay BF16, as in
// Meta's FP8 Llama 4 checkpoints.
DType safetensors_tensor_type(const PlannedTensor& tensor, DType target) {
  if (dtype_is_block_quantized(target)) {
    throw Error(std::string("safetensors cannot store ") + dtype_name(target) +
                "; write it with --format gguf, or pick bf16, f16, f32 or fp8");
  }
  if (target != DType::F8_E4M3) return target;
  return tensor.role == TensorRole::Linear ? DType::F8_E4M3 : DType::BF16;
}

std::vector<uint8_t> encode_tensor(const PlannedTensor& tensor, DType type, std::vector<float>* fp8_scales) {
  const int64_t rows = tensor.n_rows();
  const int64_t cols = tensor.n_cols();
  std::vector<uint8_t> bytes;
  bytes.reserve(dtype_row_bytes(type, rows * cols));
  std::vector<float> row(static_cast<size_t>(cols));
  if (fp8_scales != nullptr) fp8_scales->clear();
  for (int64_t r = 0; r < rows; ++r) {
    tensor.read_row(r, row.data());
    if (type == DType::F8_E4M3) {
      BRASA_CHECK(fp8_scales != nullptr, "FP8 encoding needs a place for the row scales");
      fp8_scales->push_back(quantize_fp8_row(row.data(), cols, bytes));
    } else {
      quantize_row(type, row.data(), cols, bytes);
    }
  }
  return bytes;
}

}  // namespace brasa::cli
