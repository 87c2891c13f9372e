#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "test_work_dir.h"

namespace brasa {
namespace {

// Writes `size` random bytes to a file in this test process's scratch folder.
std::string write_random_file(const std::string& name, size_t size, std::vector<uint8_t>& bytes) {
  std::mt19937 rng(7);
  bytes.resize(size);
  for (uint8_t& b : bytes) b = uint8_t(rng());
  const std::string path = test::work_dir() + "/" + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(size));
  return path;
}

TEST(MappedFile, ResidentAndMappedHoldTheSameBytes) {
  // One huge page and a little more, so the resident copy ends in a partial page.
  std::vector<uint8_t> bytes;
  const std::string path = write_random_file("mapped-file-bytes.bin", (size_t(2) << 20) + 4099, bytes);

  const MappedFile mapped(path, FileResidency::kMapped);
  const MappedFile resident(path, FileResidency::kResident);
  EXPECT_EQ(mapped.residency(), FileResidency::kMapped);
  EXPECT_EQ(resident.residency(), FileResidency::kResident);
  ASSERT_EQ(mapped.size(), bytes.size());
  ASSERT_EQ(resident.size(), bytes.size());
  EXPECT_EQ(std::vector<uint8_t>(mapped.data(), mapped.data() + mapped.size()), bytes);
  EXPECT_EQ(std::vector<uint8_t>(resident.data(), resident.data() + resident.size()), bytes);
  // The copy starts on a huge-page boundary, so all of it can use huge pages.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(resident.data()) % (uintptr_t(2) << 20), 0u);
}

TEST(MappedFile, EmptyFileInBothModes) {
  std::vector<uint8_t> bytes;
  const std::string path = write_random_file("mapped-file-empty.bin", 0, bytes);
  for (FileResidency residency : {FileResidency::kMapped, FileResidency::kResident}) {
    const MappedFile file(path, residency);
    EXPECT_EQ(file.size(), 0u);
  }
}

TEST(MappedFile, ErrorsNameThePath) {
  const std::string missing = test::work_dir() + "/no-such-file.bin";
  for (FileResidency residency : {FileResidency::kMapped, FileResidency::kResident}) {
    try {
      MappedFile file(missing, residency);
      FAIL() << "opened a missing file";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(missing + ": cannot open"), std::string::npos) << e.what();
    }
    try {
      MappedFile file(test::work_dir(), residency);
      FAIL() << "opened a directory";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
  }
}

// A sparse file larger than the memory the kernel reports as available costs
// no disk, and reading it into memory must give way to mapping it.
TEST(MappedFile, ResidentFallsBackWhenMemoryIsShort) {
  size_t available_kib = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  size_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") available_kib = kib;
  }
  ASSERT_GT(available_kib, 0u) << "no MemAvailable in /proc/meminfo";

  const std::string path = test::work_dir() + "/mapped-file-sparse.bin";
  const size_t size = available_kib * 1024 + (size_t(1) << 30);
  {
    std::ofstream file(path, std::ios::binary);
    file.seekp(std::streamoff(size - 1));
    file.put('x');
  }
  const MappedFile file(path, FileResidency::kResident);
  EXPECT_EQ(file.residency(), FileResidency::kMapped);
  ASSERT_EQ(file.size(), size);
  EXPECT_EQ(file.data()[size - 1], 'x');
  std::filesystem::remove(path);
}

// Weights are read-only in both modes: a stray write must fault, not change
// the model.
TEST(MappedFileDeathTest, ResidentCopyIsReadOnly) {
  std::vector<uint8_t> bytes;
  const std::string path = write_random_file("mapped-file-readonly.bin", 4096, bytes);
  const MappedFile resident(path, FileResidency::kResident);
  EXPECT_DEATH(const_cast<uint8_t*>(resident.data())[10] = 1, "");
}

}  // namespace
}  // namespace brasa
