#include "formats/safetensors.h"

#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace brasa {

namespace {

// The Hugging Face safetensors library rejects headers above 100 MB; a larger
// length is a corrupt file and must not drive a JSON parse.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;

}  // namespace

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

DType parse_safetensors_dtype(const std::string& name, const std::string& context) {
  static const std::map<std::string, DType> kTypes = {
      {"F32", DType::F32},   {"F16", DType::F16},   {"BF16", DType::BF16}, {"F8_E4M3", DType::F8_E4M3},
      {"I8", DType::I8},     {"I16", DType::I16},   {"I32", DType::I32},   {"I64", DType::I64},
      {"U8", DType::U8},     {"BOOL", DType::BOOL}, {"F64", DType::F64},
  };
  auto it = kTypes.find(name);
  if (it == kTypes.end()) {
    throw Error(context + ": unsupported safetensors dtype " + name +
                " (supported: F32, F16, BF16, F8_E4M3, F64, I8, I16, I32, I64, U8, BOOL)");
  }
  return it->second;
}

SafetensorsFile::SafetensorsFile(const std::string& path, FileResidency residency)
    : file_(std::make_shared<MappedFile>(path, residency)) {
  const size_t file_size = file_->size();

  // 1. Header length and JSON header.
  if (file_size < 8) {
    throw Error(path + ": truncated safetensors file: " + std::to_string(file_size) +
                " bytes, too short for the 8-byte header length");
  }
  uint64_t header_bytes;
  std::memcpy(&header_bytes, file_->data(), 8);
  if (header_bytes > kMaxHeaderBytes || header_bytes > file_size - 8) {
    throw Error(path + ": invalid safetensors file: header length " + std::to_string(header_bytes) +
                " exceeds the file size " + std::to_string(file_size));
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file_->data() + 8, file_->data() + 8 + header_bytes);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": invalid safetensors header: " + e.what());
  }
  if (!header.is_object()) throw Error(path + ": invalid safetensors header: expected a JSON object");

  const uint8_t* data_area = file_->data() + 8 + header_bytes;
  const uint64_t data_size = file_size - 8 - header_bytes;

  // 2. One entry per tensor; "__metadata__" is a string map.
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(path + ": invalid safetensors header: __metadata__ is not an object");
      for (auto& [key, value] : entry.items()) {
        if (value.is_string()) metadata_[key] = value.get<std::string>();
      }
      continue;
    }

    std::string context = path + ": tensor " + name;
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
      throw Error(context + ": invalid safetensors header entry (needs dtype, shape and data_offsets)");
    }
    const auto& dtype = entry["dtype"];
    const auto& shape = entry["shape"];
    const auto& offsets = entry["data_offsets"];
    if (!dtype.is_string()) throw Error(context + ": dtype is not a string");
    if (!shape.is_array()) throw Error(context + ": shape is not an array");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      throw Error(context + ": data_offsets must be two non-negative integers");
    }

    TensorView t;
    t.name = name;
    t.file = path;
    t.dtype = parse_safetensors_dtype(dtype.get<std::string>(), context);

    // The element count must not overflow; the byte check below then bounds it by the file.
    uint64_t n_elements = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw Error(context + ": shape " + shape.dump() + " has a negative or non-integer size");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && n_elements > (uint64_t(1) << 62) / v) throw Error(context + ": shape " + shape.dump() + " is too large");
      n_elements *= v;
      t.shape.push_back(int64_t(v));
    }

    uint64_t begin = offsets[0].get<uint64_t>();
    uint64_t end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      throw Error(context + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") lie outside the data area of " + std::to_string(data_size) + " bytes");
    }
    uint64_t expected = dtype_row_bytes(t.dtype, 1) * n_elements;
    if (end - begin != expected) {
      throw Error(context + ": data_offsets cover " + std::to_string(end - begin) + " bytes, but dtype " +
                  dtype.get<std::string>() + " and shape " + shape.dump() + " need " + std::to_string(expected));
    }
    t.data = data_area + begin;
    t.bytes = size_t(end - begin);
    tensors_.push_back(std::move(t));
  }
}

}  // namespace brasa
