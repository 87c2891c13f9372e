#include "formats/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace brasa {

namespace fs = std::filesystem;

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& path, FileResidency residency) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->path_ = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    checkpoint->format_ = Format::HuggingFace;
    checkpoint->open_huggingface(path, residency);
  } else if (fs::exists(path, ec)) {
    checkpoint->format_ = Format::Gguf;
    checkpoint->open_gguf(path, residency);
  } else {
    throw Error(path + ": model not found (expected a Hugging Face checkpoint directory or a .gguf file)");
  }
  return checkpoint;
}

FileResidency Checkpoint::residency() const {
  if (gguf_ != nullptr) return gguf_->mapping()->residency();
  for (const auto& file : safetensors_) {
    if (file->residency() == FileResidency::kMapped) return FileResidency::kMapped;
  }
  return FileResidency::kResident;
}

void Checkpoint::add_tensor(const TensorView& t) {
  auto [it, inserted] = tensors_.emplace(t.name, t);
  if (!inserted) {
    throw Error(path_ + ": tensor " + t.name + " appears twice, in " + it->second.file + " and " + t.file);
  }
}

void Checkpoint::open_gguf(const std::string& file, FileResidency residency) {
  gguf_ = std::make_unique<GgufFile>(file, residency);
  for (const GgufTensor& g : gguf_->tensors()) {
    TensorView t;
    t.name = g.name;
    t.dtype = g.dtype;
    t.shape = g.shape;
    t.data = g.data;
    t.bytes = g.bytes;
    t.file = file;
    add_tensor(t);
  }
}

void Checkpoint::open_huggingface(const std::string& dir, FileResidency residency) {
  fs::path root(dir);
  fs::path config_path = root / "config.json";
  if (!fs::exists(config_path)) throw Error(config_path.string() + ": missing config.json in the checkpoint directory");
  config_ = read_json_file(config_path.string());
  if (!config_.is_object()) throw Error(config_path.string() + ": expected a JSON object");
  fs::path generation_path = root / "generation_config.json";
  if (fs::exists(generation_path)) generation_config_ = read_json_file(generation_path.string());

  // Pick the weight files: the index names the shards and which tensor each holds.
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;
  fs::path index_path = root / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    nlohmann::json index = read_json_file(index_path.string());
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw Error(index_path.string() + ": invalid index: expected an object with a \"weight_map\" object");
    }
    std::set<std::string> shards;
    for (auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string()) throw Error(index_path.string() + ": weight_map entry " + name + " is not a file name");
      std::string shard = file.get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos) {
        throw Error(index_path.string() + ": weight_map entry " + name + " names a file outside the directory: " + shard);
      }
      weight_map[name] = shard;
      shards.insert(shard);
    }
    files.assign(shards.begin(), shards.end());
  } else if (fs::exists(root / "model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    for (const auto& entry : fs::directory_iterator(root)) {
      if (entry.path().extension() == ".safetensors") files.push_back(entry.path().filename().string());
    }
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw Error(dir + ": no .safetensors files in the checkpoint directory");

  for (const std::string& name : files) {
    fs::path file = root / name;
    if (!fs::exists(file)) throw Error(file.string() + ": missing safetensors shard named in " + index_path.string());
    safetensors_.push_back(std::make_unique<SafetensorsFile>(file.string(), residency));
    for (const TensorView& t : safetensors_.back()->tensors()) add_tensor(t);
  }

  // Every tensor the index promises must be in the shard it names.
  for (const auto& [name, shard] : weight_map) {
    auto it = tensors_.find(name);
    if (it == tensors_.end() || fs::path(it->second.file).filename() != shard) {
      throw Error(index_path.string() + ": tensor " + name + " is listed in " + shard + " but not stored there");
    }
  }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& Checkpoint::get(const std::string& name) const {
  const TensorView* t = find(name);
  if (t == nullptr) throw Error("missing tensor " + name + " in " + path_);
  return *t;
}

}  // namespace brasa
