#include "formats/gguf_writer.h"

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "formats/quantize.h"

namespace brasa {

namespace {

// GGUF metadata value types and GGML tensor type numbers, as stored in the file.
constexpr uint32_t kTypeUint32 = 4;
constexpr uint32_t kTypeInt32 = 5;
constexpr uint32_t kTypeFloat32 = 6;
constexpr uint32_t kTypeBool = 7;
constexpr uint32_t kTypeString = 8;
constexpr uint32_t kTypeArray = 9;
constexpr uint32_t kTypeUint64 = 10;
constexpr uint64_t kAlignment = 32;

uint32_t ggml_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 8;
    case DType::I8: return 24;
    case DType::I16: return 25;
    case DType::I32: return 26;
    case DType::I64: return 27;
    case DType::F64: return 28;
    case DType::BF16: return 30;
    default: break;
  }
  throw Error(std::string("GGUF has no tensor type for dtype ") + dtype_name(dtype));
}

template <typename T>
void append(std::vector<uint8_t>& out, T value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

void append_string(std::vector<uint8_t>& out, const std::string& s) {
  append<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

void GgufWriter::begin_value(const std::string& key, uint32_t type) {
  append_string(metadata_, key);
  append<uint32_t>(metadata_, type);
  ++n_metadata_;
}

void GgufWriter::add_string(const std::string& key, const std::string& value) {
  begin_value(key, kTypeString);
  append_string(metadata_, value);
}

void GgufWriter::add_uint32(const std::string& key, uint32_t value) {
  begin_value(key, kTypeUint32);
  append(metadata_, value);
}

void GgufWriter::add_int32(const std::string& key, int32_t value) {
  begin_value(key, kTypeInt32);
  append(metadata_, value);
}

void GgufWriter::add_uint64(const std::string& key, uint64_t value) {
  begin_value(key, kTypeUint64);
  append(metadata_, value);
}

void GgufWriter::add_float32(const std::string& key, float value) {
  begin_value(key, kTypeFloat32);
  append(metadata_, value);
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  begin_value(key, kTypeBool);
  append<uint8_t>(metadata_, value ? 1 : 0);
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  begin_value(key, kTypeArray);
  append<uint32_t>(metadata_, kTypeString);
  append<uint64_t>(metadata_, values.size());
  for (const std::string& v : values) append_string(metadata_, v);
}

void GgufWriter::add_int32_array(const std::string& key, const std::vector<int32_t>& values) {
  begin_value(key, kTypeArray);
  append<uint32_t>(metadata_, kTypeInt32);
  append<uint64_t>(metadata_, values.size());
  for (int32_t v : values) append(metadata_, v);
}

void GgufWriter::add_float32_array(const std::string& key, const std::vector<float>& values) {
  begin_value(key, kTypeArray);
  append<uint32_t>(metadata_, kTypeFloat32);
  append<uint64_t>(metadata_, values.size());
  for (float v : values) append(metadata_, v);
}

namespace {

// Checks that GGUF can store a tensor of this dtype and shape; returns its byte count.
size_t checked_tensor_bytes(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  ggml_type(dtype);  // rejects dtypes GGUF cannot store
  if (shape.empty()) throw Error("tensor " + name + ": GGUF tensors need at least one dimension");
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (dtype_is_block_quantized(dtype) && shape.back() % kQuantBlock != 0) {
    throw Error("tensor " + name + ": the last dimension must be a multiple of 32 for " + dtype_name(dtype));
  }
  return dtype_row_bytes(dtype, n);
}

}  // namespace

void GgufWriter::append_scalar(GgufValueType type, int64_t integer, double real, const std::string& string) {
  switch (type) {
    case GgufValueType::U8: append<uint8_t>(metadata_, uint8_t(integer)); return;
    case GgufValueType::I8: append<int8_t>(metadata_, int8_t(integer)); return;
    case GgufValueType::U16: append<uint16_t>(metadata_, uint16_t(integer)); return;
    case GgufValueType::I16: append<int16_t>(metadata_, int16_t(integer)); return;
    case GgufValueType::U32: append<uint32_t>(metadata_, uint32_t(integer)); return;
    case GgufValueType::I32: append<int32_t>(metadata_, int32_t(integer)); return;
    case GgufValueType::U64: append<uint64_t>(metadata_, uint64_t(integer)); return;
    case GgufValueType::I64: append<int64_t>(metadata_, integer); return;
    case GgufValueType::BOOL: append<uint8_t>(metadata_, integer != 0 ? 1 : 0); return;
    case GgufValueType::F32: append<float>(metadata_, float(real)); return;
    case GgufValueType::F64: append<double>(metadata_, real); return;
    case GgufValueType::STRING: append_string(metadata_, string); return;
    case GgufValueType::ARRAY: break;
  }
  throw Error("GGUF arrays of arrays are not supported");
}

void GgufWriter::add_value(const std::string& key, const GgufValue& value) {
  if (value.type == GgufValueType::ARRAY && value.element_type == GgufValueType::ARRAY) {
    throw Error("GGUF key " + key + ": arrays of arrays are not supported");
  }
  begin_value(key, uint32_t(value.type));
  if (value.type != GgufValueType::ARRAY) {
    append_scalar(value.type, value.integer, value.real, value.string);
    return;
  }

  append<uint32_t>(metadata_, uint32_t(value.element_type));
  if (value.element_type == GgufValueType::STRING) {
    append<uint64_t>(metadata_, value.strings.size());
    for (const std::string& s : value.strings) append_string(metadata_, s);
  } else if (value.element_type == GgufValueType::F32 || value.element_type == GgufValueType::F64) {
    append<uint64_t>(metadata_, value.reals.size());
    for (double r : value.reals) append_scalar(value.element_type, 0, r, {});
  } else {
    append<uint64_t>(metadata_, value.ints.size());
    for (int64_t i : value.ints) append_scalar(value.element_type, i, 0.0, {});
  }
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            std::vector<uint8_t> bytes) {
  size_t expected = checked_tensor_bytes(name, dtype, shape);
  if (bytes.size() != expected) {
    throw Error("tensor " + name + ": " + std::to_string(bytes.size()) + " bytes but its shape and dtype need " +
                std::to_string(expected));
  }
  tensors_.push_back({name, dtype, shape, std::move(bytes), expected, false});
}

void GgufWriter::add_tensor_info(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  size_t expected = checked_tensor_bytes(name, dtype, shape);
  tensors_.push_back({name, dtype, shape, {}, expected, true});
}

void GgufWriter::write(const std::string& path, const TensorSource& source) const {
  std::vector<uint8_t> header;
  append<uint32_t>(header, 0x46554747);  // "GGUF" read as a little-endian u32
  append<uint32_t>(header, 3);
  append<uint64_t>(header, tensors_.size());
  append<uint64_t>(header, n_metadata_);
  header.insert(header.end(), metadata_.begin(), metadata_.end());

  // Tensor infos: GGML lists dimensions innermost first, the reverse of shape.
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    append_string(header, t.name);
    append<uint32_t>(header, uint32_t(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) append<uint64_t>(header, uint64_t(*d));
    append<uint32_t>(header, ggml_type(t.dtype));
    append<uint64_t>(header, offset);
    offset = align_up(offset + t.n_bytes);
  }
  header.resize(align_up(header.size()), 0);

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot open " + path + " for writing");
  out.write(reinterpret_cast<const char*>(header.data()), std::streamsize(header.size()));
  const char padding[kAlignment] = {};
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    std::vector<uint8_t> produced;
    if (t.deferred) {
      if (!source) throw Error("tensor " + t.name + ": no source for its bytes while writing " + path);
      produced = source(i);
      if (produced.size() != t.n_bytes) {
        throw Error("tensor " + t.name + ": the source produced " + std::to_string(produced.size()) +
                    " bytes but its shape and dtype need " + std::to_string(t.n_bytes));
      }
    }
    const std::vector<uint8_t>& bytes = t.deferred ? produced : t.bytes;
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.write(padding, std::streamsize(align_up(bytes.size()) - bytes.size()));
    if (!out) throw Error("failed to write " + path);
  }
  out.flush();
  if (!out) throw Error("failed to write " + path);
}

std::vector<uint8_t> quantize_q8_0(const float* values, int64_t n) {
  BRASA_CHECK(n % kQuantBlock == 0, "Q8_0 quantization needs a multiple of 32 values");
  std::vector<uint8_t> out;
  out.reserve(size_t(n / kQuantBlock) * 34);
  quantize_row(DType::Q8_0, values, n, out);
  return out;
}

}  // namespace brasa
