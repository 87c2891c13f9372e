#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace brasa {

// One tensor ready to be written: its name, element type, shape and raw
// little-endian bytes (row-major, as safetensors stores them).
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// The safetensors name of a dtype ("F32", "BF16", "F8_E4M3", ...). Throws
// brasa::Error for the block types (Q8_0, Q4_0), which safetensors cannot store.
const char* safetensors_dtype_name(DType dtype);

// Writes one .safetensors file: an 8-byte little-endian header length, the JSON
// header (padded with spaces to a multiple of 8 bytes so every tensor starts
// 8-byte aligned), then the tensor bytes in the order given. `metadata` becomes
// the header's "__metadata__" map. Throws brasa::Error when the file cannot be
// written or a tensor's byte count does not match its shape.
void write_safetensors(const std::string& path, const std::vector<const TensorData*>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes the tensors into `dir` the way Hugging Face saves a model: one
// model.safetensors when n_shards is 1, else model-0000i-of-0000n.safetensors
// files of about equal size plus model.safetensors.index.json (its "weight_map"
// gives each tensor's file, "metadata.total_size" the sum of tensor bytes).
// Returns the file names written, relative to dir.
std::vector<std::string> write_safetensors_model(const std::string& dir, const std::vector<TensorData>& tensors,
                                                 int n_shards = 1);

}  // namespace brasa
