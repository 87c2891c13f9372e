#pragma once

#include <cstddef>
#include <cstdint>

namespace brasa {

// Anonymous memory that starts on a 2 MiB boundary and is advised to use
// transparent huge pages, so that streaming it costs few TLB misses and the
// hardware prefetcher is not stopped at every 4 KiB page. Without huge pages
// (a kernel set to "never") it is still ordinary, usable memory.
class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  // Throws brasa::Error when mmap cannot allocate the memory.
  explicit HugePageBuffer(size_t bytes);
  ~HugePageBuffer();
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Makes the whole buffer read-only, so a stray write faults.
  void protect_read_only();

 private:
  void release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace brasa
