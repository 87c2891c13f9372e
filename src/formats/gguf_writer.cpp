#include "formats/gguf_writer.h"

#include <cmath>
#include <fstream>

#include "core/error.h"

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

void GgufWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            std::vector<uint8_t> bytes) {
  ggml_type(dtype);  // rejects dtypes GGUF cannot store
  if (shape.empty()) throw Error("tensor " + name + ": GGUF tensors need at least one dimension");
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (dtype_is_block_quantized(dtype) && shape.back() % kQuantBlock != 0) {
    throw Error("tensor " + name + ": the last dimension must be a multiple of 32 for " + dtype_name(dtype));
  }
  size_t expected = dtype_row_bytes(dtype, n);
  if (bytes.size() != expected) {
    throw Error("tensor " + name + ": " + std::to_string(bytes.size()) + " bytes but its shape and dtype need " +
                std::to_string(expected));
  }
  tensors_.push_back({name, dtype, shape, std::move(bytes)});
}

void GgufWriter::write(const std::string& path) const {
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
    offset = align_up(offset + t.bytes.size());
  }
  header.resize(align_up(header.size()), 0);

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot open " + path + " for writing");
  out.write(reinterpret_cast<const char*>(header.data()), std::streamsize(header.size()));
  const char padding[kAlignment] = {};
  for (const Tensor& t : tensors_) {
    out.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
    out.write(padding, std::streamsize(align_up(t.bytes.size()) - t.bytes.size()));
  }
  out.flush();
  if (!out) throw Error("failed to write " + path);
}

std::vector<uint8_t> quantize_q8_0(const float* values, int64_t n) {
  BRASA_CHECK(n % kQuantBlock == 0, "Q8_0 quantization needs a multiple of 32 values");
  std::vector<uint8_t> out;
  out.reserve(size_t(n / kQuantBlock) * 34);
  for (int64_t block = 0; block < n; block += kQuantBlock) {
    float max_abs = 0.0f;
    for (int64_t i = 0; i < kQuantBlock; ++i) max_abs = std::max(max_abs, std::fabs(values[block + i]));
    float scale = max_abs / 127.0f;
    float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    append<uint16_t>(out, f32_to_f16(scale));
    for (int64_t i = 0; i < kQuantBlock; ++i) {
      append<int8_t>(out, static_cast<int8_t>(std::lround(values[block + i] * inverse)));
    }
  }
  return out;
}

}  // namespace brasa
