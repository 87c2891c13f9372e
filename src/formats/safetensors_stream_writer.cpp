#include "formats/safetensors_stream_writer.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors_writer.h"

namespace brasa {

void SafetensorsStreamWriter::add_tensor_info(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  safetensors_dtype_name(dtype);  // rejects the block types
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw Error("duplicate tensor name " + name);
  }
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  tensors_.push_back({name, dtype, shape, dtype_row_bytes(dtype, n)});
}

void SafetensorsStreamWriter::write(const std::string& path, const TensorSource& source,
                                    const std::map<std::string, std::string>& metadata) const {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.n_bytes}}};
    offset += t.n_bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot open " + path + " for writing");
  const uint64_t header_size = header_text.size();
  unsigned char size_bytes[8];
  for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<unsigned char>(header_size >> (8 * i));
  out.write(reinterpret_cast<const char*>(size_bytes), 8);
  out.write(header_text.data(), std::streamsize(header_text.size()));

  for (size_t i = 0; i < tensors_.size(); ++i) {
    const std::vector<uint8_t> bytes = source(i);
    if (bytes.size() != tensors_[i].n_bytes) {
      throw Error("tensor " + tensors_[i].name + ": the source produced " + std::to_string(bytes.size()) +
                  " bytes but its shape and dtype need " + std::to_string(tensors_[i].n_bytes));
    }
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!out) throw Error("failed to write " + path);
  }
  out.flush();
  if (!out) throw Error("failed to write " + path);
}

}  // namespace brasa
