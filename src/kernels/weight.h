#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace brasa {

// A 2-D weight matrix as stored in a checkpoint, used in place from the mapping.
// Rows are output features and columns input features (the nn.Linear layout),
// so a matrix-vector product reads each row once, front to back.
struct Weight {
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  size_t row_stride_bytes = 0;         // bytes from one row to the next
  const float* row_scale = nullptr;    // F8_E4M3 only: value = fp8 * row_scale[row]
  // Multiply with F32 activations even where the backend would round them to
  // BF16 or int8, because a discrete choice follows (the MoE router's top-k).
  bool exact_activations = false;

  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + size_t(r) * row_stride_bytes; }
  size_t bytes() const { return size_t(rows) * row_stride_bytes; }

  // The rows [first, first + count) as a weight of their own, e.g. one expert of a fused tensor.
  Weight slice_rows(int64_t first, int64_t count) const {
    Weight w = *this;
    w.rows = count;
    w.data = row(first);
    if (row_scale != nullptr) w.row_scale = row_scale + first;
    return w;
  }
};

// Builds a dense row-major Weight over `data`.
inline Weight make_weight(DType dtype, int64_t rows, int64_t cols, const void* data, const float* row_scale = nullptr) {
  Weight w;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = data;
  w.row_stride_bytes = dtype_row_bytes(dtype, cols);
  w.row_scale = row_scale;
  return w;
}

}  // namespace brasa
