#include "core/huge_page_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.h"

namespace brasa {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

HugePageBuffer::HugePageBuffer(size_t bytes) {
  if (bytes == 0) return;
  const size_t size = round_up(bytes, kHugePage);

  // Over-allocate by one huge page, then return the unaligned head and the
  // tail to the kernel, so that every 2 MiB of the rest can be one huge page.
  const size_t padded = size + kHugePage;
  void* p = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int saved = errno;
    throw Error("cannot allocate " + std::to_string(bytes) + " bytes: " + std::strerror(saved));
  }
  const auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = round_up(start, kHugePage);
  if (aligned > start) ::munmap(p, aligned - start);
  const uintptr_t end = aligned + size;
  if (start + padded > end) ::munmap(reinterpret_cast<void*>(end), start + padded - end);

  data_ = reinterpret_cast<uint8_t*>(aligned);
  size_ = size;
  // Advice only: the memory works without huge pages too.
  ::madvise(data_, size_, MADV_HUGEPAGE);
}

HugePageBuffer::~HugePageBuffer() { release(); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void HugePageBuffer::protect_read_only() {
  if (data_ != nullptr) ::mprotect(data_, size_, PROT_READ);
}

void HugePageBuffer::release() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace brasa
