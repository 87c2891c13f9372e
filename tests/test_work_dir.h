#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace brasa::test {

// Returns a scratch directory that only this test process uses, removed when
// the process exits. ctest runs each test in its own process, several at a
// time, so a fixed path shared by two tests is a race. One process rewrites a
// file that another has mapped (SIGBUS) or is still reading.
inline const std::string& work_dir() {
  namespace fs = std::filesystem;
  static const struct ProcessDir {
    std::string path =
        (fs::path(BRASA_TEST_WORK_DIR) / ("process-" + std::to_string(static_cast<long>(getpid())))).string();
    ProcessDir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);  // left behind by an earlier process with this id
      fs::create_directories(path);
    }
    ~ProcessDir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } dir;
  return dir.path;
}

}  // namespace brasa::test
