#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace brasa {

// Value types of GGUF metadata, with the numbers the format stores.
enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

const char* gguf_value_type_name(GgufValueType t);

// One metadata value. A scalar fills one of integer, real or string. An array
// fills the vector that matches its element type: integers and bools go to ints,
// F32/F64 to reals, strings to strings.
struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  GgufValueType element_type = GgufValueType::U8;  // ARRAY only
  int64_t integer = 0;   // every integer type and BOOL (U64 above INT64_MAX is stored modulo 2^64)
  double real = 0.0;     // F32 and F64
  std::string string;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<std::string> strings;

  bool is_integer() const;
  bool is_real() const { return type == GgufValueType::F32 || type == GgufValueType::F64; }
};

// A tensor of a GGUF file. `shape` is row-major, outermost dimension first
// (the reverse of GGML's ne[] order), so a [rows][cols] matrix has shape {rows, cols}.
struct GgufTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;        // from the start of the data section
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  int64_t n_elements() const;
};

// A GGUF v2 or v3 file, memory-mapped. Every header field is validated at open
// time against the file size, so a truncated or corrupt file raises brasa::Error
// naming the file instead of reading out of bounds. Tensor data stays in the mapping.
class GgufFile {
 public:
  explicit GgufFile(const std::string& path, FileResidency residency = FileResidency::kMapped);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  const GgufValue* find(const std::string& key) const;

  // Typed getters. The versions without a default throw brasa::Error naming the
  // file and key when the key is missing; all of them throw on a type mismatch.
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key) const;  // accepts integer values too
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  const std::vector<int64_t>& get_int_array(const std::string& key) const;
  const std::vector<double>& get_float_array(const std::string& key) const;

  const GgufTensor* find_tensor(const std::string& name) const;

  // The mapping, shared so that tensors can outlive this object's owner.
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  const GgufValue& require(const std::string& key) const;

  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace brasa
