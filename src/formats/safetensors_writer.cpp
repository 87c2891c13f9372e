#include "formats/safetensors_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace brasa {

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::I8: return "I8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
    case DType::F64: return "F64";
    case DType::Q8_0:
    case DType::Q4_0: break;
  }
  throw Error(std::string("safetensors cannot store dtype ") + dtype_name(dtype));
}

namespace {

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<const TensorData*>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;

  // Offsets are relative to the start of the data section, which follows the header.
  uint64_t offset = 0;
  for (const TensorData* t : tensors) {
    size_t expected = dtype_row_bytes(t->dtype, element_count(t->shape));
    if (t->bytes.size() != expected) {
      throw Error("tensor " + t->name + ": " + std::to_string(t->bytes.size()) + " bytes but its shape and dtype need " +
                  std::to_string(expected));
    }
    if (header.contains(t->name)) throw Error("duplicate tensor name " + t->name + " in " + path);
    header[t->name] = {{"dtype", safetensors_dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }

  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot open " + path + " for writing");
  uint64_t header_size = header_text.size();
  unsigned char size_bytes[8];
  for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<unsigned char>(header_size >> (8 * i));
  out.write(reinterpret_cast<const char*>(size_bytes), 8);
  out.write(header_text.data(), std::streamsize(header_text.size()));
  for (const TensorData* t : tensors) out.write(reinterpret_cast<const char*>(t->bytes.data()), std::streamsize(t->bytes.size()));
  out.flush();
  if (!out) throw Error("failed to write " + path);
}

std::vector<std::string> write_safetensors_model(const std::string& dir, const std::vector<TensorData>& tensors,
                                                 int n_shards) {
  if (n_shards < 1) throw Error("shard count must be at least 1, got " + std::to_string(n_shards));
  if (size_t(n_shards) > tensors.size()) {
    throw Error("cannot split " + std::to_string(tensors.size()) + " tensors into " + std::to_string(n_shards) + " shards");
  }
  std::filesystem::create_directories(dir);

  if (n_shards == 1) {
    std::vector<const TensorData*> all;
    for (const TensorData& t : tensors) all.push_back(&t);
    write_safetensors(dir + "/model.safetensors", all);
    return {"model.safetensors"};
  }

  // Fill shards in tensor order, closing one when it reaches its share of the
  // total bytes, but keep at least one tensor for each remaining shard.
  uint64_t total_bytes = 0;
  for (const TensorData& t : tensors) total_bytes += t.bytes.size();
  uint64_t target_bytes = (total_bytes + uint64_t(n_shards) - 1) / uint64_t(n_shards);

  std::vector<std::vector<const TensorData*>> shards(static_cast<size_t>(n_shards));
  uint64_t shard_bytes = 0;
  size_t shard = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    size_t tensors_left = tensors.size() - i;
    size_t shards_left = size_t(n_shards) - shard - 1;
    bool shard_full = shard_bytes >= target_bytes && shards_left > 0;
    bool must_move_on = !shards[shard].empty() && tensors_left == shards_left;
    if (!shards[shard].empty() && (shard_full || must_move_on)) {
      ++shard;
      shard_bytes = 0;
    }
    shards[shard].push_back(&tensors[i]);
    shard_bytes += tensors[i].bytes.size();
  }

  std::vector<std::string> names;
  nlohmann::json weight_map = nlohmann::json::object();
  for (int s = 0; s < n_shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", s + 1, n_shards);
    write_safetensors(dir + "/" + name, shards[size_t(s)]);
    for (const TensorData* t : shards[size_t(s)]) weight_map[t->name] = name;
    names.push_back(name);
  }

  nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  std::ofstream out(dir + "/model.safetensors.index.json", std::ios::trunc);
  if (!out) throw Error("cannot open " + dir + "/model.safetensors.index.json for writing");
  out << index.dump(2) << "\n";
  if (!out) throw Error("failed to write " + dir + "/model.safetensors.index.json");
  return names;
}

}  // namespace brasa
