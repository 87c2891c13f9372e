// Runs `brasa generate` on the Llama 4 scout-tiny test checkpoint with a prompt
// that crosses several attention chunks, and checks its greedy text against the
// engine, whose KV cache management is tested on its own.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "test_work_dir.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "kernels/backend.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

#include "cli_process.h"

namespace brasa {
namespace {

std::pair<std::string, int> run_command(const std::string& command) { return capture_output(command + " 2>/dev/null"); }

std::vector<int32_t> engine_greedy(Model& model, const std::vector<int32_t>& prompt, int32_t n) {
  EngineConfig config;
  config.max_num_seqs = 1;
  config.kv_cache_bytes = 32ll << 20;
  auto engine = make_engine(model, config);
  engine->start();
  GenerationRequest request;
  request.id = "greedy";
  request.prompt = prompt;
  request.max_tokens = n;
  request.sampling.temperature = 0.0f;
  request.ignore_eos = true;
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  std::vector<int32_t> tokens;
  EXPECT_EQ(engine->submit(std::move(request),
                           [&](const GenerationUpdate& update) {
                             std::lock_guard<std::mutex> lock(mutex);
                             for (const auto& t : update.tokens) tokens.push_back(t.token);
                             if (update.finished) {
                               finished = true;
                               done.notify_one();
                             }
                           }),
            SubmitResult::Accepted);
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return finished; });
  lock.unlock();
  engine->stop();
  return tokens;
}

TEST(Generate, ChunkedPrefillMatchesEngine) {
  const std::string dir = ::brasa::test::work_dir() + "/generate-scout-tiny";
  if (!std::filesystem::exists(dir + "/config.json")) {
    auto [output, status] = run_command(std::string("cd ") + BRASA_SOURCE_DIR + " && " + BRASA_BINARY +
                                        " make-test-model --preset scout-tiny --dtype bf16 --out " + dir);
    ASSERT_EQ(status, 0) << output;
  }

  // 100 prompt tokens cross three boundaries of scout-tiny's 32-token chunks.
  std::string ids;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 100; ++i) {
    int32_t id = 1000 + (i * 7919) % 50000;
    prompt.push_back(id);
    ids += (i ? "," : "") + std::to_string(id);
  }
  const int32_t n = 24;
  auto [output, status] = run_command(std::string(BRASA_BINARY) + " generate --model " + dir + " --prompt-ids " + ids +
                                      " -n " + std::to_string(n) + " --temperature 0 --ignore-eos --threads 1");
  ASSERT_EQ(status, 0) << output;

  auto backend = make_cpu_backend(ThreadPool::global());
  auto model = load_model(dir, *backend);
  auto tokenizer = load_tokenizer(dir);
  std::vector<int32_t> expected = engine_greedy(*model, prompt, n);
  ASSERT_EQ(expected.size(), size_t(n));
  std::string expected_text = tokenizer->decode(expected, false);
  EXPECT_NE(output.find(expected_text), std::string::npos) << "generate printed:\n" << output << "\nengine: " << expected_text;
}

// `--kernels scalar --kv-cache-dtype f16` is the llama.cpp-comparable setup:
// its greedy text on stories260K must be the text llama.cpp recorded.
TEST(Generate, ScalarF16KvMatchesLlamaCpp) {
  const std::string model = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
  auto [output, status] = run_command(std::string(BRASA_BINARY) + " generate --model " + model +
                                      " --prompt 'Once upon a time' -n 64 --temperature 0 --ignore-eos" +
                                      " --kernels scalar --kv-cache-dtype f16 --threads 1");
  ASSERT_EQ(status, 0) << output;
  EXPECT_NE(output.find(", there was a little girl named Lily. She loved to play outside in the park."),
            std::string::npos)
      << output;
}

// Weights read into huge pages (the default) and used in place (--mmap) are
// the same bytes, so greedy text must not change.
TEST(Generate, MmapGivesTheSameText) {
  const std::string model = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
  const std::string command = std::string(BRASA_BINARY) + " generate --model " + model +
                              " --prompt 'Once upon a time' -n 32 --temperature 0 --ignore-eos --threads 1";
  auto [resident, resident_status] = run_command(command);
  auto [mapped, mapped_status] = run_command(command + " --mmap");
  ASSERT_EQ(resident_status, 0) << resident;
  ASSERT_EQ(mapped_status, 0) << mapped;
  // The text ends where the timing line starts.
  const auto text = [](const std::string& output) { return output.substr(0, output.find("\n\nprompt:")); };
  EXPECT_NE(resident.find("Once upon a time, there was"), std::string::npos) << resident;
  EXPECT_EQ(text(resident), text(mapped));
}

TEST(Generate, UnknownKernelSetIsAnError) {
  const std::string model = std::string(BRASA_SHARED_DIR) + "/testdata/models/stories260K.gguf";
  auto [output, status] = run_command("(" + std::string(BRASA_BINARY) + " generate --model " + model +
                                      " --prompt hi -n 1 --kernels sse9 2>&1)");
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("unknown kernel set 'sse9'"), std::string::npos) << output;
}

}  // namespace
}  // namespace brasa
