#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "kernels/backend.h"
#include "kernels/kv_pool.h"

namespace brasa {

// The KV cache shape the engine needs to size and lay out a model's pools. Layers with
// chunked local attention keep their KV in a separate pool, because a sequence
// only ever needs its current chunk of them.
struct KvGeometry {
  int32_t n_global_layers = 0;  // layers that attend to the whole context
  int32_t n_local_layers = 0;   // chunked-local layers (Llama 4 RoPE layers)
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t chunk_size = 0;       // attention_chunk_size; 0 when there are no local layers
};

// Weight bytes by what reads them, as stored (an FP8 matrix counts its F32 row
// scales too). Bandwidth estimates use them, because a checkpoint that mixes
// types reads a different share of its bytes than of its parameters.
struct WeightBytes {
  int64_t layers = 0;         // every layer's matrices and norms, all routed experts included
  int64_t layers_active = 0;  // what one token reads of them: on average k of n routed experts
  int64_t head = 0;           // the output head, read once per step for the rows that need logits
};

struct ModelInfo {
  std::string architecture;     // "llama" or "llama4"
  std::string name;             // directory or file name, for logs and /v1/models
  int32_t vocab_size = 0;
  int32_t max_context = 0;      // max_position_embeddings, or the GGUF context_length
  int64_t n_params = 0;         // all parameters
  int64_t n_active_params = 0;  // parameters read for one token (MoE: chosen experts only)
  DType matmul_dtype = DType::F32;  // the type that stores most parameters of the layer matrices
  WeightBytes weight_bytes;
  KvGeometry kv;
};

// One sequence's part of a forward step: n_tokens new tokens at positions
// start_pos, start_pos + 1, ... Their keys and values are written to the blocks
// of the tables before attention reads them. Logical block i of a table covers
// positions [i * block_size, (i + 1) * block_size). The local table is indexed the
// same way; only the entries of the chunks the step touches must be valid.
struct SequenceStep {
  const int32_t* tokens = nullptr;
  int32_t n_tokens = 0;
  int32_t start_pos = 0;
  const int32_t* block_table = nullptr;
  int32_t n_blocks = 0;
  const int32_t* local_block_table = nullptr;
  int32_t n_local_blocks = 0;
  bool all_logits = false;      // logits for every token (prompt scoring), else only the last
};

// Logits of a step, F32, one row of vocab_size per requested token.
struct StepOutput {
  std::vector<float> logits;
  std::vector<int64_t> first_row;  // per sequence, its first row in logits
  int32_t vocab_size = 0;

  const float* row(int64_t r) const { return logits.data() + r * vocab_size; }
};

// The KV pools a step reads and writes; local may be empty (n_blocks == 0).
struct KvPools {
  KvPool* global = nullptr;
  KvPool* local = nullptr;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;

  // Runs one step for a batch of sequences. Not thread-safe: one step at a time.
  // out may still hold the previous step's output, as the engine reuses it:
  // forward replaces every field, and may keep the logits' memory.
  virtual void forward(std::span<const SequenceStep> batch, const KvPools& kv, StepOutput& out) = 0;
};

struct LoadOptions {
  // kResident reads the weights into memory backed by huge pages, which
  // decodes faster. kMapped uses the files in place and starts at once.
  FileResidency weights = FileResidency::kResident;
};

// Loads a Hugging Face checkpoint directory or a .gguf file. Throws brasa::Error
// naming the file and what is wrong.
std::unique_ptr<Model> load_model(const std::string& path, Backend& backend, const LoadOptions& options = {});

}  // namespace brasa
