#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/gguf.h"

namespace brasa {

// Builds a GGUF v3 file: metadata key/values in the order they are added,
// then tensor infos, then tensor data, each tensor aligned to 32 bytes (GGUF's
// default alignment, so no general.alignment key is written).
class GgufWriter {
 public:
  void add_string(const std::string& key, const std::string& value);
  void add_uint32(const std::string& key, uint32_t value);
  void add_int32(const std::string& key, int32_t value);
  void add_uint64(const std::string& key, uint64_t value);
  void add_float32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  void add_int32_array(const std::string& key, const std::vector<int32_t>& values);
  void add_float32_array(const std::string& key, const std::vector<float>& values);
  // Adds a value read from another GGUF file with its own type, as a converter
  // that copies keys needs. Throws brasa::Error for an array of arrays.
  void add_value(const std::string& key, const GgufValue& value);

  // Adds a tensor. `shape` is row-major, outermost dimension first (as
  // GgufFile reports it); the file stores GGML's reversed ne[] order. Throws
  // brasa::Error when the byte count does not match the shape and dtype, or
  // when the dtype has no GGML type number.
  void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape, std::vector<uint8_t> bytes);

  // Adds a tensor whose bytes the TensorSource of write() produces later, so
  // that a converter keeps one tensor in memory at a time. Checks as add_tensor.
  void add_tensor_info(const std::string& name, DType dtype, const std::vector<int64_t>& shape);

  // Produces the bytes of the tensor at `index` (in the order added) when the
  // writer reaches it. The bytes must match the declared shape and dtype.
  using TensorSource = std::function<std::vector<uint8_t>(size_t index)>;

  // Writes the file; throws brasa::Error naming the path on failure. Tensors
  // added with add_tensor_info need a `source`.
  void write(const std::string& path, const TensorSource& source = nullptr) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
    size_t n_bytes = 0;
    bool deferred = false;  // bytes come from the TensorSource
  };

  void begin_value(const std::string& key, uint32_t type);
  void append_scalar(GgufValueType type, int64_t integer, double real, const std::string& string);

  std::vector<uint8_t> metadata_;
  uint64_t n_metadata_ = 0;
  std::vector<Tensor> tensors_;
};

// Quantizes n values (a multiple of 32) to llama.cpp's Q8_0 blocks: per block
// of 32, an F16 scale d = max|x| / 127 and 32 int8 values round(x / d).
std::vector<uint8_t> quantize_q8_0(const float* values, int64_t n);

}  // namespace brasa
