#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "formats/tensor_view.h"

namespace brasa {

// One .safetensors file, memory-mapped: an 8-byte little-endian header length,
// a JSON header that maps each tensor name to its dtype, shape and
// data_offsets [begin, end) within the data area, then the data area itself.
// The constructor validates the header against the file size and throws
// brasa::Error naming the file and the tensor on any inconsistency.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path, FileResidency residency = FileResidency::kMapped);

  const std::string& path() const { return file_->path(); }
  FileResidency residency() const { return file_->residency(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;  // the header's "__metadata__" strings
};

// Parses a safetensors dtype name ("F32", "BF16", "F8_E4M3", ...). Throws
// brasa::Error naming `context` for a dtype brasa does not support.
DType parse_safetensors_dtype(const std::string& name, const std::string& context);

}  // namespace brasa
