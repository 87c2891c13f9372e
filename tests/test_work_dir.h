#pragma once

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace brasa::test {

// Removes the process-<pid> directories under root whose process no longer
// exists. A test process that crashed or that ctest killed on its timeout
// never ran the destructor in work_dir(), and its directory may contain
// checkpoints of tens of MB. The check assumes that every test process runs
// in the PID namespace of the caller.
inline void remove_stale_process_dirs(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<fs::path> stale;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("process-", 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + 8, &end, 10);
    if (pid <= 0 || end == name.c_str() + 8 || *end != '\0') continue;

    // Signal 0 only checks the process: ESRCH means it does not exist, and
    // EPERM means it exists under another user.
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) stale.push_back(entry.path());
  }
  for (const fs::path& path : stale) {
    std::error_code ignored;
    fs::remove_all(path, ignored);  // another process may be removing it too
  }
}

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
      remove_stale_process_dirs(BRASA_TEST_WORK_DIR);
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
