// `brasa perplexity`: perplexity of a model over a text file, in windows of
// --ctx tokens, the way llama.cpp's perplexity tool reports it. Each window is
// scored through the engine as a prompt with prompt_logprobs and max_tokens 0,
// so scoring takes the same path (chunked prefill, paged KV) as serving.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/backend_options.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "kernels/backend.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace brasa::cli {

namespace {

struct PerplexityOptions {
  std::string model_path;
  std::string file;
  int32_t ctx = 512;
  int32_t stride = 0;  // 0: the same as ctx, so windows do not overlap
  int threads = 0;
  int32_t max_windows = 0;  // 0: all
  bool json = false;
  std::string kv_cache_dtype = "f32";
  std::string kernels;  // empty: the fastest kernel set
  LoadOptions load;
};

struct WindowResult {
  int32_t index = 0;
  int32_t first_token = 0;
  int32_t n_scored = 0;
  double nll_sum = 0.0;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": failed to open the text file");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Scores tokens[begin, end) as one prompt and returns the logprob of each token
// given the ones before it in the window (entry 0 has none).
std::vector<float> score_window(Engine& engine, const std::vector<int32_t>& tokens, size_t begin, size_t end,
                                int32_t index) {
  GenerationRequest request;
  request.id = "ppl-" + std::to_string(index);
  request.prompt.assign(tokens.begin() + long(begin), tokens.begin() + long(end));
  request.max_tokens = 0;
  request.sampling.temperature = 0.0f;
  request.sampling.prompt_logprobs = 0;

  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  std::vector<float> logprobs;
  std::string error;
  SubmitResult submitted = engine.submit(std::move(request), [&](const GenerationUpdate& update) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& scored : update.prompt_logprobs) logprobs.push_back(scored.logprob);
    if (update.finished) {
      finished = true;
      error = update.error;
      done.notify_one();
    }
  });
  if (submitted != SubmitResult::Accepted) throw Error("window " + std::to_string(index) + " was rejected by the engine");

  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return finished; });
  if (!error.empty()) throw Error("window " + std::to_string(index) + " failed: " + error);
  if (logprobs.size() != end - begin) throw Error("the engine returned no prompt logprobs for window " + std::to_string(index));
  return logprobs;
}

void print_progress(int32_t done_windows, int32_t total_windows, double ppl) {
  const int width = 30;
  int filled = total_windows > 0 ? int(double(width) * done_windows / total_windows) : width;
  std::string bar(size_t(filled), '#');
  bar.resize(size_t(width), '.');
  std::fprintf(stderr, "\r[%s] %d/%d windows, perplexity %.4f", bar.c_str(), done_windows, total_windows, ppl);
  std::fflush(stderr);
}

void run_perplexity(const PerplexityOptions& options) {
  if (options.ctx < 2) throw Error("--ctx must be at least 2, got " + std::to_string(options.ctx));
  if (options.stride < 0) throw Error("--stride must be positive, got " + std::to_string(options.stride));
  const int32_t stride = options.stride > 0 ? options.stride : options.ctx;
  if (stride > options.ctx) throw Error("--stride must not exceed --ctx");
  const DType kv_dtype = parse_kv_cache_dtype(options.kv_cache_dtype);

  ThreadPool::set_global_threads(options.threads);
  auto backend = make_backend(ThreadPool::global(), options.kernels);
  auto model = load_model(options.model_path, *backend, options.load);
  auto tokenizer = load_tokenizer(options.model_path);

  // BOS goes in front of the whole text once, as a document start.
  const std::string text = read_text_file(options.file);
  std::vector<int32_t> tokens = tokenizer->encode(text, /*add_bos=*/true, /*parse_special=*/false);
  if (tokens.size() < 2) throw Error(options.file + ": the text has fewer than 2 tokens");

  EngineConfig config;
  config.max_num_seqs = 1;
  config.max_model_len = options.ctx;
  config.max_num_batched_tokens = std::min(options.ctx, 256);
  config.kv_cache_bytes = 64ll << 20;
  config.kv_cache_dtype = kv_dtype;
  auto engine = make_engine(*model, config);
  if (engine->max_model_len() < options.ctx) {
    throw Error("--ctx " + std::to_string(options.ctx) + " exceeds the model's context length " +
                std::to_string(engine->max_model_len()));
  }
  engine->start();

  // Windows start every `stride` tokens. A window scores the tokens that no
  // earlier window scored, except its own first token, which has no context
  // inside the window. With stride < ctx every token after the first is scored
  // once, with at least ctx - stride tokens of context.
  std::vector<size_t> starts;
  for (size_t begin = 0; begin + 1 < tokens.size(); begin += size_t(stride)) {
    starts.push_back(begin);
    if (begin + size_t(options.ctx) >= tokens.size()) break;
  }
  int32_t n_windows = int32_t(starts.size());
  if (options.max_windows > 0) n_windows = std::min(n_windows, options.max_windows);

  std::fprintf(stderr, "perplexity: %zu tokens, %d windows of %d tokens, stride %d\n", tokens.size(), n_windows,
               options.ctx, stride);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<WindowResult> windows;
  double nll_total = 0.0;
  int64_t scored_total = 0;
  size_t scored_until = 1;
  for (int32_t w = 0; w < n_windows; ++w) {
    const size_t begin = starts[size_t(w)];
    const size_t end = std::min(tokens.size(), begin + size_t(options.ctx));
    std::vector<float> logprobs = score_window(*engine, tokens, begin, end, w);

    WindowResult result;
    result.index = w;
    result.first_token = int32_t(begin);
    for (size_t i = std::max(scored_until, begin + 1); i < end; ++i) {
      result.nll_sum -= double(logprobs[i - begin]);
      result.n_scored++;
    }
    scored_until = end;
    nll_total += result.nll_sum;
    scored_total += result.n_scored;
    windows.push_back(result);
    if (!options.json) print_progress(w + 1, n_windows, std::exp(nll_total / double(std::max<int64_t>(1, scored_total))));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  engine->stop();
  if (!options.json) std::fprintf(stderr, "\n");

  const double ppl = std::exp(nll_total / double(scored_total));
  if (options.json) {
    nlohmann::json out;
    out["model"] = options.model_path;
    out["file"] = options.file;
    out["ctx"] = options.ctx;
    out["stride"] = stride;
    out["tokens_scored"] = scored_total;
    out["perplexity"] = ppl;
    out["seconds"] = seconds;
    for (const auto& window : windows) {
      out["windows"].push_back({{"index", window.index},
                                {"first_token", window.first_token},
                                {"tokens_scored", window.n_scored},
                                {"perplexity", std::exp(window.nll_sum / std::max(1, window.n_scored))}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("%8s %12s %10s %12s\n", "window", "first token", "scored", "perplexity");
  for (const auto& window : windows) {
    std::printf("%8d %12d %10d %12.4f\n", window.index, window.first_token, window.n_scored,
                std::exp(window.nll_sum / std::max(1, window.n_scored)));
  }
  std::printf("final perplexity: %.4f over %lld tokens (%.1f tokens/s)\n", ppl, static_cast<long long>(scored_total),
              double(scored_total) / seconds);
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto options = std::make_shared<PerplexityOptions>();
  CLI::App* command = app.add_subcommand("perplexity", "Compute the perplexity of a model over a text file");
  command->add_option("--model", options->model_path, "Checkpoint directory or .gguf file")->required();
  command->add_option("--file", options->file, "Text file to score")->required();
  command->add_option("--ctx", options->ctx, "Tokens per window")->capture_default_str();
  command->add_option("--stride", options->stride, "Tokens between window starts (default: --ctx)");
  command->add_option("--threads", options->threads, "Worker threads (default: physical cores)");
  add_backend_options(*command, options->kernels, options->kv_cache_dtype);
  add_load_options(*command, options->load);
  command->add_option("--max-windows", options->max_windows, "Score at most this many windows (default: all)");
  command->add_flag("--json", options->json, "Print the result as JSON");
  command->callback([options] { run_perplexity(*options); });
}

}  // namespace brasa::cli
