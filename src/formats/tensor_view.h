#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace brasa {

// A tensor stored in a checkpoint file, viewed in place in the file's mapping.
// `shape` is row-major, outermost dimension first, as PyTorch and safetensors
// write it, so an nn.Linear weight has shape {out_features, in_features}.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  std::string file;  // the file that contains it, for error messages

  int64_t n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// Formats a shape as "[2, 3]" for error messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace brasa
