#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_work_dir.h"

namespace brasa {
namespace {

namespace fs = std::filesystem;

// Returns the id of a child process that has exited and been reaped, so no
// process has it until the kernel reuses it.
pid_t exited_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

TEST(TestWorkDir, RemovesDirsOfExitedProcesses) {
  const fs::path root = fs::path(test::work_dir()) / "stale-root";
  const fs::path exited = root / ("process-" + std::to_string(exited_pid()));
  const fs::path running = root / ("process-" + std::to_string(getpid()));
  const fs::path other = root / "process-cache";
  for (const fs::path& dir : {exited, running, other}) {
    fs::create_directories(dir);
    std::ofstream(dir / "model.gguf") << "weights";
  }

  test::remove_stale_process_dirs(root);

  EXPECT_FALSE(fs::exists(exited));
  EXPECT_TRUE(fs::exists(running / "model.gguf"));
  EXPECT_TRUE(fs::exists(other / "model.gguf"));
}

TEST(TestWorkDir, ProcessDirExistsUnderRoot) {
  const fs::path dir = test::work_dir();
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(dir.parent_path(), fs::path(BRASA_TEST_WORK_DIR));
  EXPECT_EQ(dir.filename().string(), "process-" + std::to_string(getpid()));
}

}  // namespace
}  // namespace brasa
