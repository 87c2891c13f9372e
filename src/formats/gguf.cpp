#include "formats/gguf.h"

#include <algorithm>

#include <cstring>
#include <limits>

#include "core/error.h"

namespace brasa {

namespace {

constexpr uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
constexpr uint64_t kMaxStringBytes = 1u << 30;

// GGML tensor type names, indexed by the type ids of ggml.h. Only some of them are supported.
const char* ggml_type_name(uint32_t id) {
  static const char* const names[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",   "Q4_2",   "Q4_3",    "Q5_0",    "Q5_1",   "Q8_0",
      "Q8_1",    "Q2_K",   "Q3_K",    "Q4_K",   "Q5_K",   "Q6_K",    "Q8_K",    "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S",  "IQ4_NL",  "IQ3_S",  "IQ2_S",  "IQ4_XS",  "I8",      "I16",    "I32",
      "I64",     "F64",    "IQ1_M",   "BF16",   "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0",
      "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
  if (id < sizeof(names) / sizeof(names[0])) return names[id];
  return nullptr;
}

bool ggml_type_to_dtype(uint32_t id, DType& out) {
  switch (id) {
    case 0: out = DType::F32; return true;
    case 1: out = DType::F16; return true;
    case 2: out = DType::Q4_0; return true;
    case 8: out = DType::Q8_0; return true;
    case 30: out = DType::BF16; return true;
    default: return false;
  }
}

// Bounds-checked little-endian reader over the mapping. Every read names the
// file and the item being read when the file ends early.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const char* what) {
    if (remaining() < sizeof(T)) fail_truncated(what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    uint64_t n = read<uint64_t>(what);
    if (n > kMaxStringBytes || n > remaining()) {
      throw Error(path_ + ": invalid GGUF file: " + what + " has length " + std::to_string(n) + " at offset " +
                  std::to_string(pos_ - 8) + ", past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }

  [[noreturn]] void fail_truncated(const char* what) const {
    throw Error(path_ + ": truncated GGUF file: " + what + " at offset " + std::to_string(pos_) +
                " runs past the end of the file (" + std::to_string(size_) + " bytes)");
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    case GgufValueType::STRING: return 8;  // the minimum: a length with no bytes
    case GgufValueType::ARRAY: return 12;  // the minimum: element type and count
  }
  return 0;
}

bool valid_value_type(uint32_t t) { return t <= 12; }

// Reads one scalar of type t into value.integer / value.real / value.string.
void read_scalar(Reader& r, GgufValueType t, GgufValue& value, const std::string& path, const std::string& key) {
  switch (t) {
    case GgufValueType::U8: value.integer = r.read<uint8_t>("metadata value"); break;
    case GgufValueType::I8: value.integer = r.read<int8_t>("metadata value"); break;
    case GgufValueType::U16: value.integer = r.read<uint16_t>("metadata value"); break;
    case GgufValueType::I16: value.integer = r.read<int16_t>("metadata value"); break;
    case GgufValueType::U32: value.integer = r.read<uint32_t>("metadata value"); break;
    case GgufValueType::I32: value.integer = r.read<int32_t>("metadata value"); break;
    case GgufValueType::U64: value.integer = int64_t(r.read<uint64_t>("metadata value")); break;
    case GgufValueType::I64: value.integer = r.read<int64_t>("metadata value"); break;
    case GgufValueType::F32: value.real = r.read<float>("metadata value"); break;
    case GgufValueType::F64: value.real = r.read<double>("metadata value"); break;
    case GgufValueType::BOOL: {
      uint8_t b = r.read<uint8_t>("metadata value");
      if (b > 1) throw Error(path + ": invalid GGUF file: bool value " + std::to_string(b) + " of key " + key);
      value.integer = b;
      break;
    }
    case GgufValueType::STRING: value.string = r.read_string("metadata string"); break;
    case GgufValueType::ARRAY:
      throw Error(path + ": invalid GGUF file: nested array in key " + key + " is not supported");
  }
}

GgufValue read_value(Reader& r, GgufValueType type, const std::string& path, const std::string& key) {
  GgufValue value;
  value.type = type;
  if (type != GgufValueType::ARRAY) {
    read_scalar(r, type, value, path, key);
    return value;
  }

  uint32_t element_type = r.read<uint32_t>("array element type");
  if (!valid_value_type(element_type)) {
    throw Error(path + ": invalid GGUF file: unknown array element type " + std::to_string(element_type) +
                " in key " + key);
  }
  value.element_type = GgufValueType(element_type);
  if (value.element_type == GgufValueType::ARRAY) {
    throw Error(path + ": invalid GGUF file: nested array in key " + key + " is not supported");
  }
  uint64_t count = r.read<uint64_t>("array length");

  // Each element takes at least scalar_size bytes, so the bytes left bound an
  // honest count. A larger count is corrupt and must not drive an allocation.
  if (count > r.remaining() / scalar_size(value.element_type)) {
    throw Error(path + ": invalid GGUF file: array " + key + " claims " + std::to_string(count) +
                " elements, more than the remaining " + std::to_string(r.remaining()) + " bytes can hold");
  }

  GgufValue element;
  if (value.element_type == GgufValueType::STRING) {
    value.strings.reserve(size_t(count));
    for (uint64_t i = 0; i < count; ++i) value.strings.push_back(r.read_string("array string"));
  } else if (value.element_type == GgufValueType::F32 || value.element_type == GgufValueType::F64) {
    value.reals.reserve(size_t(count));
    for (uint64_t i = 0; i < count; ++i) {
      read_scalar(r, value.element_type, element, path, key);
      value.reals.push_back(element.real);
    }
  } else {
    value.ints.reserve(size_t(count));
    for (uint64_t i = 0; i < count; ++i) {
      read_scalar(r, value.element_type, element, path, key);
      value.ints.push_back(element.integer);
    }
  }
  return value;
}

}  // namespace

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: return "u8";
    case GgufValueType::I8: return "i8";
    case GgufValueType::U16: return "u16";
    case GgufValueType::I16: return "i16";
    case GgufValueType::U32: return "u32";
    case GgufValueType::I32: return "i32";
    case GgufValueType::F32: return "f32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::U64: return "u64";
    case GgufValueType::I64: return "i64";
    case GgufValueType::F64: return "f64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::U16: case GgufValueType::I16:
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::U64: case GgufValueType::I64:
    case GgufValueType::BOOL:
      return true;
    default:
      return false;
  }
}

int64_t GgufTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path, FileResidency residency)
    : file_(std::make_shared<MappedFile>(path, residency)) {
  Reader r(file_->data(), file_->size(), file_->path());

  // 1. Header: magic, version, counts.
  if (file_->size() < 4 || std::memcmp(file_->data(), "GGUF", 4) != 0) {
    throw Error(path + ": not a GGUF file (the magic bytes \"GGUF\" are missing)");
  }
  r.read<uint32_t>("magic");
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    throw Error(path + ": unsupported GGUF version " + std::to_string(version_) + " (supported: 2 and 3)");
  }
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");

  // A key/value takes at least 12 bytes and a tensor info at least 28, so larger
  // counts are corrupt. Checking them first avoids huge reservations.
  if (n_kv > r.remaining() / 12) {
    throw Error(path + ": invalid GGUF file: metadata count " + std::to_string(n_kv) + " is larger than the file allows");
  }
  if (n_tensors > r.remaining() / 28) {
    throw Error(path + ": invalid GGUF file: tensor count " + std::to_string(n_tensors) +
                " is larger than the file allows");
  }

  // 2. Metadata key/values.
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.read_string("metadata key");
    uint32_t type = r.read<uint32_t>("metadata value type");
    if (!valid_value_type(type)) {
      throw Error(path + ": invalid GGUF file: unknown value type " + std::to_string(type) + " for key " + key);
    }
    GgufValue value = read_value(r, GgufValueType(type), path, key);
    if (!metadata_.emplace(key, std::move(value)).second) {
      throw Error(path + ": invalid GGUF file: duplicate metadata key " + key);
    }
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer() || a->integer <= 0 || a->integer > (1 << 20) || (a->integer & (a->integer - 1)) != 0) {
      throw Error(path + ": invalid GGUF file: general.alignment must be a power of two, got " +
                  std::to_string(a->integer));
    }
    alignment_ = size_t(a->integer);
  }

  // 3. Tensor infos.
  tensors_.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = r.read_string("tensor name");
    uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      throw Error(path + ": invalid GGUF file: tensor " + t.name + " has " + std::to_string(n_dims) +
                  " dimensions (expected 1 to 4)");
    }
    std::vector<int64_t> ne(n_dims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t v = r.read<uint64_t>("tensor dimension");
      if (v > uint64_t(std::numeric_limits<int64_t>::max() / 2) ||
          (v != 0 && n_elements > std::numeric_limits<int64_t>::max() / 2 / int64_t(v))) {
        throw Error(path + ": invalid GGUF file: tensor " + t.name + " has an absurd dimension " + std::to_string(v));
      }
      ne[d] = int64_t(v);
      n_elements *= int64_t(v);
    }
    uint32_t type = r.read<uint32_t>("tensor type");
    t.offset = r.read<uint64_t>("tensor data offset");

    if (!ggml_type_to_dtype(type, t.dtype)) {
      const char* name = ggml_type_name(type);
      std::string type_name = name != nullptr ? std::string(name) : std::string("#") + std::to_string(type);
      throw Error("unsupported GGUF tensor type " + type_name + " in tensor " + t.name + " of " + path +
                  " (supported: F32, F16, BF16, Q8_0, Q4_0)");
    }
    if (dtype_is_block_quantized(t.dtype) && ne[0] % kQuantBlock != 0) {
      throw Error(path + ": invalid GGUF file: tensor " + t.name + " of type " + dtype_name(t.dtype) +
                  " has a row length " + std::to_string(ne[0]) + " that is not a multiple of 32");
    }
    if (t.offset % alignment_ != 0) {
      throw Error(path + ": invalid GGUF file: tensor " + t.name + " has data offset " + std::to_string(t.offset) +
                  " that is not a multiple of the alignment " + std::to_string(alignment_));
    }

    // GGML's ne[0] is the innermost (contiguous) dimension, and shape lists the outermost first.
    t.shape.assign(ne.rbegin(), ne.rend());
    t.bytes = dtype_row_bytes(t.dtype, ne[0]) * size_t(ne[0] == 0 ? 0 : n_elements / ne[0]);
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
      throw Error(path + ": invalid GGUF file: duplicate tensor name " + t.name);
    }
    tensors_.push_back(std::move(t));
  }

  // 4. The data section starts at the next multiple of the alignment.
  size_t pos = r.position();
  data_offset_ = (pos + alignment_ - 1) / alignment_ * alignment_;
  // A vocabulary-only file (no tensors) may end right after its metadata,
  // without the padding up to the data section.
  if (tensors_.empty()) data_offset_ = std::min(data_offset_, file_->size());
  if (data_offset_ > file_->size()) {
    throw Error(path + ": truncated GGUF file: the data section would start at offset " + std::to_string(data_offset_) +
                ", past the end of the file (" + std::to_string(file_->size()) + " bytes)");
  }
  size_t data_size = file_->size() - data_offset_;
  for (GgufTensor& t : tensors_) {
    if (t.offset > data_size || t.bytes > data_size - t.offset) {
      throw Error(path + ": truncated GGUF file: tensor " + t.name + " needs bytes [" + std::to_string(t.offset) +
                  ", " + std::to_string(t.offset + t.bytes) + ") of the data section, which has " +
                  std::to_string(data_size) + " bytes");
    }
    t.data = file_->data() + data_offset_ + t.offset;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::require(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) throw Error(path() + ": missing GGUF metadata key " + key);
  return *v;
}

namespace {

[[noreturn]] void fail_type(const std::string& path, const std::string& key, const GgufValue& v, const char* expected) {
  throw Error(path + ": GGUF metadata key " + key + " has type " + gguf_value_type_name(v.type) + ", expected " +
              expected);
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufValueType::STRING) fail_type(path(), key, v, "string");
  return v.string;
}

std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = require(key);
  if (!v.is_integer()) fail_type(path(), key, v, "an integer");
  return v.integer;
}

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.is_real()) return v.real;
  if (v.is_integer()) return double(v.integer);
  fail_type(path(), key, v, "a number");
}

double GgufFile::get_float(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return fallback;
  if (!v->is_integer()) fail_type(path(), key, *v, "bool");
  return v->integer != 0;
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = require(key);
  if (v.type != GgufValueType::ARRAY || v.element_type != GgufValueType::STRING) fail_type(path(), key, v, "array of string");
  return v.strings;
}

const std::vector<int64_t>& GgufFile::get_int_array(const std::string& key) const {
  const GgufValue& v = require(key);
  bool ok = v.type == GgufValueType::ARRAY && v.element_type != GgufValueType::STRING &&
            v.element_type != GgufValueType::F32 && v.element_type != GgufValueType::F64;
  if (!ok) fail_type(path(), key, v, "array of integers");
  return v.ints;
}

const std::vector<double>& GgufFile::get_float_array(const std::string& key) const {
  const GgufValue& v = require(key);
  bool ok = v.type == GgufValueType::ARRAY &&
            (v.element_type == GgufValueType::F32 || v.element_type == GgufValueType::F64);
  if (!ok) fail_type(path(), key, v, "array of floats");
  return v.reals;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace brasa
