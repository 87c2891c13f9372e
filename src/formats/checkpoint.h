#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/tensor_view.h"

namespace brasa {

// The tensors and metadata of a model checkpoint, from either a Hugging Face
// directory (config.json plus one or more .safetensors files) or a .gguf file.
// Tensors are views into memory mappings that live as long as this object.
class Checkpoint {
 public:
  enum class Format { HuggingFace, Gguf };

  // Opens a directory as a Hugging Face checkpoint and a file as GGUF. A
  // directory uses model.safetensors.index.json when present, else
  // model.safetensors, else every *.safetensors file in it. Throws brasa::Error
  // naming the path when a file is missing or invalid. `residency` sets where
  // the weight files' bytes live (see FileResidency).
  static std::unique_ptr<Checkpoint> open(const std::string& path,
                                          FileResidency residency = FileResidency::kMapped);

  Format format() const { return format_; }
  const std::string& path() const { return path_; }

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  // Throws brasa::Error "missing tensor NAME in PATH" when absent.
  const TensorView& get(const std::string& name) const;

  // Hugging Face only: config.json and generation_config.json (an empty object
  // when that file is absent). Both are empty objects for GGUF.
  const nlohmann::json& config() const { return config_; }
  const nlohmann::json& generation_config() const { return generation_config_; }

  // GGUF only: the file with its key/values; nullptr for Hugging Face.
  const GgufFile* gguf() const { return gguf_.get(); }

  // kResident when every weight file was read into memory. kMapped when any
  // was mapped in place, by request or because memory was short.
  FileResidency residency() const;

 private:
  Checkpoint() = default;
  void open_huggingface(const std::string& dir, FileResidency residency);
  void open_gguf(const std::string& file, FileResidency residency);
  void add_tensor(const TensorView& t);

  Format format_ = Format::HuggingFace;
  std::string path_;
  std::map<std::string, TensorView> tensors_;
  nlohmann::json config_ = nlohmann::json::object();
  nlohmann::json generation_config_ = nlohmann::json::object();
  std::vector<std::unique_ptr<SafetensorsFile>> safetensors_;
  std::unique_ptr<GgufFile> gguf_;
};

// Reads a JSON file; throws brasa::Error naming the file when it is missing or invalid.
nlohmann::json read_json_file(const std::string& path);

}  // namespace brasa
