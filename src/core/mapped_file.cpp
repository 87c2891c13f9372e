#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace brasa {

namespace {

constexpr size_t kReadChunk = size_t(64) << 20;

// MemAvailable from /proc/meminfo: free memory plus the page cache and other
// memory the kernel can reclaim. Free pages alone would exclude the page
// cache, which right after a checkpoint was copied or downloaded contains
// that checkpoint. Elsewhere it falls back to the free pages.
size_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? size_t(pages) * size_t(page_size) : 0;
}

}  // namespace

MappedFile::MappedFile(const std::string& path, FileResidency residency) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int saved = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(saved));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  size_ = size_t(st.st_size);

  if (residency == FileResidency::kResident) {
    const size_t available = available_memory_bytes();
    if (size_ > available) {
      spdlog::warn("{}: {:.0f} MB do not fit in the {:.0f} MB of available memory, so the file is mapped in place "
                   "as with --mmap",
                   path, double(size_) / 1e6, double(available) / 1e6);
      residency = FileResidency::kMapped;
    }
  }
  residency_ = residency;

  try {
    if (size_ > 0 && residency == FileResidency::kResident) read_resident(fd);
    if (size_ > 0 && residency == FileResidency::kMapped) map(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

void MappedFile::map(int fd) {
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) throw Error(path_ + ": mmap failed: " + std::strerror(errno));
  mapping_ = p;
  data_ = static_cast<const uint8_t*>(p);
}

void MappedFile::read_resident(int fd) {
  HugePageBuffer buffer(size_);
  size_t done = 0;
  while (done < size_) {
    const ssize_t n = ::pread(fd, buffer.data() + done, std::min(kReadChunk, size_ - done), off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(path_ + ": cannot read: " + std::strerror(errno));
    if (n == 0) throw Error(path_ + ": cannot read: the file shrank while being read");
    done += size_t(n);
  }

  // Weights are never written, so a stray write should fault, as in the mapping.
  buffer.protect_read_only();
  resident_ = std::move(buffer);
  data_ = resident_.data();
}

MappedFile::~MappedFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

}  // namespace brasa
