// Runs `brasa serve` with invalid options, which must fail before it listens,
// with a message that names the option.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>

#include <sys/wait.h>

#include "cli_process.h"

namespace brasa {
namespace {

// spdlog 1.10 reads an unknown level name as "off", so without the check a typo
// started a server that logged nothing, errors included.
TEST(ServeOptions, UnknownLogLevelIsAnError) {
  // The model path does not exist either, so a level that passed would end in a load error instead.
  const std::string model = "/nonexistent/model.gguf";
  for (const char* level : {"loud", "INFO", "warning", ""}) {
    auto [output, status] = run_brasa("serve --port 0 --model " + model + " --log-level '" + level + "'");
    EXPECT_NE(status, 0) << level;
    EXPECT_NE(output.find("--log-level"), std::string::npos) << level << "\noutput: " << output;
  }
}

// A zero queue or body limit would start a server that rejects every request.
TEST(ServeOptions, ZeroLimitsAreErrors) {
  const std::string model = "/nonexistent/model.gguf";
  auto [waiting_output, waiting_status] = run_brasa("serve --port 0 --model " + model + " --max-waiting 0");
  EXPECT_NE(waiting_status, 0);
  EXPECT_NE(waiting_output.find("--max-waiting must be at least 1, got 0"), std::string::npos) << waiting_output;

  auto [body_output, body_status] = run_brasa("serve --port 0 --model " + model + " --max-body-bytes 0");
  EXPECT_NE(body_status, 0);
  EXPECT_NE(body_output.find("--max-body-bytes must be at least 1, got 0"), std::string::npos) << body_output;
}

// 99999999G is far beyond the 47-bit user address space of x86-64 Linux, so
// the allocation fails at once whatever the overcommit setting.
TEST(ServeOptions, HugeKvCacheIsAnError) {
  const std::string model = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
  auto [output, status] = run_brasa("serve --port 0 --model " + model + " --kv-cache-memory 99999999G");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("cannot allocate the KV cache: --kv-cache-memory 99999999G"), std::string::npos) << output;
}

}  // namespace
}  // namespace brasa
