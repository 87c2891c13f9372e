#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/huge_page_buffer.h"

namespace brasa {

// The memory that contains the bytes of a MappedFile.
enum class FileResidency {
  // A read-only mapping of the page cache. Opening is instant and the memory
  // is shared with other processes, but the pages are 4 KiB, so streaming
  // them at decode costs TLB misses and stops hardware prefetch at every page.
  kMapped,
  // A private copy in anonymous memory, advised to use transparent huge
  // pages. Opening reads the whole file, and bench-moe BF16 then decoded 7%
  // faster (docs/benchmarks.md). Falls back to kMapped, with a warning, when
  // the file is larger than the memory available right now.
  kResident,
};

// The whole contents of a file in memory, read-only. Weights are used in place
// from it, so kMapped never needs a checkpoint to fit in RAM twice.
class MappedFile {
 public:
  // Throws brasa::Error naming the file when it is missing or unreadable.
  explicit MappedFile(const std::string& path, FileResidency residency = FileResidency::kMapped);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  FileResidency residency() const { return residency_; }

 private:
  void map(int fd);
  void read_resident(int fd);

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  FileResidency residency_ = FileResidency::kMapped;
  void* mapping_ = nullptr;  // kMapped: what the destructor unmaps
  HugePageBuffer resident_;  // kResident: the copy
};

}  // namespace brasa
