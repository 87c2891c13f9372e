#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/backend_options.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/sampler.h"
#include "kernels/backend.h"
#include "models/model.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace brasa::cli {

namespace {

constexpr const char* kDefaultModel = "build/models/llama4-scout-tiny";
constexpr int32_t kBlockSize = 16;

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string prompt_ids;
  int32_t n_predict = 64;
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int64_t seed = -1;
  int threads = 0;
  bool ignore_eos = false;
  std::string kv_cache_dtype = "f32";
  std::string kernels;  // empty: the fastest kernel set
  LoadOptions load;
};

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    try {
      size_t used = 0;
      long value = std::stol(item, &used);
      if (used != item.size() || value < 0 || value > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(int32_t(value));
    } catch (const std::exception&) {
      throw Error("--prompt-ids: invalid token id \"" + item + "\" (expected comma-separated non-negative integers)");
    }
  }
  if (ids.empty()) throw Error("--prompt-ids: no token ids given");
  return ids;
}

// KV pools and block tables for one sequence of up to max_tokens positions.
// Global blocks are assigned in order. The local pool of chunked-local layers
// holds one chunk: logical block i maps to local block i % blocks_per_chunk, so
// each new chunk reuses the blocks of the one before, which no token can see any
// more. The engine's block manager does the same job for serving.
struct SequenceKv {
  KvPoolStorage global;
  KvPoolStorage local;
  std::vector<int32_t> table;
  std::vector<int32_t> local_table;
  int32_t chunk_size = 0;  // 0: no chunked-local layers, or a chunk that is not whole blocks

  SequenceKv(const KvGeometry& g, int32_t max_tokens, DType kv_dtype) {
    int32_t n_blocks = (max_tokens + kBlockSize - 1) / kBlockSize;
    if (g.n_global_layers > 0) {
      global = KvPoolStorage(n_blocks, kBlockSize, g.n_global_layers, g.n_kv_heads, g.head_dim, kv_dtype);
    }
    table.resize(static_cast<size_t>(n_blocks));
    for (int32_t i = 0; i < n_blocks; ++i) table[size_t(i)] = i;

    local_table = table;
    if (g.n_local_layers > 0) {
      int32_t n_local = n_blocks;
      if (g.chunk_size > 0 && g.chunk_size % kBlockSize == 0) {
        chunk_size = g.chunk_size;
        n_local = std::min(n_blocks, g.chunk_size / kBlockSize);
        for (int32_t i = 0; i < n_blocks; ++i) local_table[size_t(i)] = i % n_local;
      }
      local = KvPoolStorage(n_local, kBlockSize, g.n_local_layers, g.n_kv_heads, g.head_dim, kv_dtype);
    }
  }

  SequenceStep step(const int32_t* tokens, int32_t n, int32_t start_pos) const {
    SequenceStep s;
    s.tokens = tokens;
    s.n_tokens = n;
    s.start_pos = start_pos;
    s.block_table = table.data();
    s.n_blocks = int32_t(table.size());
    s.local_block_table = local_table.data();
    s.n_local_blocks = int32_t(local_table.size());
    return s;
  }

  // Tokens from `pos` that one step may take: with a one-chunk local pool, a step
  // must not cross a chunk boundary, or the new chunk would overwrite keys that
  // the earlier tokens of the same step still attend to.
  int32_t max_step_tokens(int32_t pos, int32_t remaining) const {
    if (chunk_size == 0) return remaining;
    return std::min(remaining, chunk_size - pos % chunk_size);
  }

  KvPools pools() { return KvPools{&global.pool(), local.pool().n_blocks > 0 ? &local.pool() : nullptr}; }
};

void run_generate(const GenerateOptions& options) {
  std::string model_path = options.model.empty() ? kDefaultModel : options.model;
  if (options.model.empty() && !std::filesystem::exists(model_path)) {
    throw Error(std::string("no --model given and the default model ") + kDefaultModel +
                " does not exist; create it with `brasa make-test-model --preset scout-tiny --out " + kDefaultModel +
                "` or pass --model PATH");
  }
  if (options.n_predict < 0) throw Error("-n must not be negative, got " + std::to_string(options.n_predict));
  if (options.prompt.empty() == options.prompt_ids.empty()) {
    throw Error("give exactly one of --prompt TEXT and --prompt-ids 1,2,3");
  }
  const DType kv_dtype = parse_kv_cache_dtype(options.kv_cache_dtype);

  ThreadPool::set_global_threads(options.threads);
  ThreadPool& pool = ThreadPool::global();
  std::unique_ptr<Backend> backend = make_backend(pool, options.kernels);
  std::unique_ptr<Model> model = load_model(model_path, *backend, options.load);
  const ModelInfo& info = model->info();

  // The tokenizer is optional with --prompt-ids: ids are then printed as numbers.
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int32_t> prompt;
  if (!options.prompt.empty()) {
    tokenizer = load_tokenizer(model_path);
    prompt = tokenizer->encode(options.prompt, true, false);
  } else {
    prompt = parse_ids(options.prompt_ids);
    try {
      tokenizer = load_tokenizer(model_path);
    } catch (const Error& e) {
      spdlog::warn("no tokenizer, printing token ids: {}", e.what());
    }
  }
  if (prompt.empty()) throw Error("the prompt encodes to no tokens");
  for (int32_t id : prompt) {
    if (id >= info.vocab_size) {
      throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary of size " +
                  std::to_string(info.vocab_size));
    }
  }

  SamplingParams sampling;
  sampling.temperature = options.temperature;
  sampling.top_k = options.top_k;
  sampling.top_p = options.top_p;
  sampling.min_p = options.min_p;
  sampling.repetition_penalty = options.repeat_penalty;
  if (options.seed >= 0) sampling.seed = uint64_t(options.seed);
  Sampler sampler(sampling);

  const int32_t n_prompt = int32_t(prompt.size());
  SequenceKv kv(info.kv, n_prompt + options.n_predict, kv_dtype);
  std::unique_ptr<Detokenizer> detokenizer;
  if (tokenizer) {
    detokenizer = std::make_unique<Detokenizer>(*tokenizer, false);
    for (int32_t id : prompt) std::fputs(detokenizer->push(id).c_str(), stdout);
    std::fputs(detokenizer->flush().c_str(), stdout);
    detokenizer = std::make_unique<Detokenizer>(*tokenizer, false, false);
  }
  std::fflush(stdout);

  using Clock = std::chrono::steady_clock;
  StepOutput out;
  std::vector<int32_t> tokens = prompt;
  std::vector<int32_t> generated;

  // 1. Prefill the prompt, in one step per chunk of the chunked-local layers.
  auto prefill_start = Clock::now();
  for (int32_t pos = 0; pos < n_prompt;) {
    int32_t n = kv.max_step_tokens(pos, n_prompt - pos);
    SequenceStep prefill = kv.step(tokens.data() + pos, n, pos);
    model->forward({&prefill, 1}, kv.pools(), out);
    pos += n;
  }
  double prefill_seconds = std::chrono::duration<double>(Clock::now() - prefill_start).count();

  // 2. Decode one token per step, printing each as it is produced.
  auto decode_start = Clock::now();
  while (int32_t(generated.size()) < options.n_predict) {
    SampledToken next = sampler.sample(out.row(0), out.vocab_size, prompt, generated);
    generated.push_back(next.token);
    tokens.push_back(next.token);
    if (detokenizer) {
      std::fputs(detokenizer->push(next.token).c_str(), stdout);
    } else {
      std::printf(" %d", next.token);
    }
    std::fflush(stdout);

    bool eos = tokenizer && !options.ignore_eos &&
               std::find(tokenizer->eos_ids().begin(), tokenizer->eos_ids().end(), next.token) != tokenizer->eos_ids().end();
    if (eos || int32_t(generated.size()) == options.n_predict) break;
    SequenceStep decode = kv.step(&tokens.back(), 1, int32_t(tokens.size()) - 1);
    model->forward({&decode, 1}, kv.pools(), out);
  }
  if (detokenizer) std::fputs(detokenizer->flush().c_str(), stdout);
  double decode_seconds = std::chrono::duration<double>(Clock::now() - decode_start).count();

  std::printf("\n\nprompt: %d tokens, %.1f tokens/s; generation: %zu tokens, %.1f tokens/s\n", n_prompt,
              prefill_seconds > 0 ? n_prompt / prefill_seconds : 0.0, generated.size(),
              decode_seconds > 0 ? double(generated.size()) / decode_seconds : 0.0);
}

}  // namespace

void register_generate(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt with one model, without the server");
  cmd->add_option("--model,-m", options->model,
                  std::string("Hugging Face checkpoint directory or .gguf file (default: ") + kDefaultModel + ")");
  cmd->add_option("--prompt,-p", options->prompt, "Prompt text, encoded with the model's tokenizer (BOS added)");
  cmd->add_option("--prompt-ids", options->prompt_ids, "Prompt as comma-separated token ids, e.g. 1,403,407");
  cmd->add_option("-n,--n-predict", options->n_predict, "Number of tokens to generate")->capture_default_str();
  cmd->add_option("--temperature,--temp", options->temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", options->top_k, "Keep the k most likely tokens; 0 is off")->capture_default_str();
  cmd->add_option("--top-p", options->top_p, "Keep the smallest set of tokens with this probability mass")->capture_default_str();
  cmd->add_option("--min-p", options->min_p, "Drop tokens below this fraction of the top probability")->capture_default_str();
  cmd->add_option("--repeat-penalty", options->repeat_penalty, "Repetition penalty over prompt and output; 1 is off")
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "RNG seed; -1 picks a random seed")->capture_default_str();
  cmd->add_option("--threads,-t", options->threads, "Threads for the kernels; 0 is the number of physical cores")
      ->capture_default_str();
  add_backend_options(*cmd, options->kernels, options->kv_cache_dtype);
  add_load_options(*cmd, options->load);
  cmd->add_flag("--ignore-eos", options->ignore_eos, "Keep generating after an end-of-sequence token");
  cmd->callback([options] {
    try {
      run_generate(*options);
    } catch (const Error& e) {
      std::fprintf(stderr, "brasa generate: error: %s\n", e.what());
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace brasa::cli
