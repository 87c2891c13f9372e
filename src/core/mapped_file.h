#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace brasa {

// A read-only memory mapping of a whole file. Weights are used in place from
// the mapping, so a checkpoint never has to fit in RAM twice.
class MappedFile {
 public:
  // Maps `path`; throws brasa::Error naming the file when it is missing or unreadable.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace brasa
