#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace brasa {

// Writes one .safetensors file whose tensors are produced one at a time, so a
// converter never keeps more than one tensor's bytes in memory. The layout is the one
// write_safetensors uses: an 8-byte little-endian header length, the JSON
// header padded with spaces to a multiple of 8 bytes, then the tensor bytes in
// the order added.
class SafetensorsStreamWriter {
 public:
  // Adds a tensor; throws brasa::Error for a dtype safetensors cannot store or a duplicate name.
  void add_tensor_info(const std::string& name, DType dtype, const std::vector<int64_t>& shape);

  // Produces the bytes of the tensor at `index` (in the order added).
  using TensorSource = std::function<std::vector<uint8_t>(size_t index)>;

  // Writes the file. Throws brasa::Error naming the path when writing fails or
  // a produced tensor's byte count does not match its shape and dtype.
  void write(const std::string& path, const TensorSource& source,
             const std::map<std::string, std::string>& metadata = {{"format", "pt"}}) const;

  size_t size() const { return tensors_.size(); }

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t n_bytes;
  };
  std::vector<Tensor> tensors_;
};

}  // namespace brasa
