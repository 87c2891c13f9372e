// `brasa bench`: measures this machine's read bandwidth and peak multiply-add
// rate, then prefill and decode speed of a model through Model::forward, and
// reports each speed as a fraction of the limit that bounds it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/backend_options.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "kernels/backend.h"
#include "kernels/cpu/machine_probe.h"
#include "kernels/kv_pool.h"
#include "models/llama_model.h"
#include "models/model_config.h"
#include "models/model.h"

namespace brasa::cli {

namespace {

constexpr int32_t kBlockSize = 16;

struct BenchOptions {
  std::string model_path;
  int threads = 0;
  bool json = false;
  std::vector<int32_t> prompt_lengths = {128, 512, 2048};
  std::vector<int32_t> batch_sizes = {1, 8, 32};
  int32_t decode_context = 128;
  int32_t decode_steps = 8;
  LoadOptions load;
};

struct BenchResult {
  std::string phase;        // "prefill" or "decode"
  int32_t tokens = 0;       // prompt length, or context length for decode
  int32_t batch = 1;
  double seconds = 0.0;     // one prefill, or one decode step
  double tokens_per_second = 0.0;
  // The step's multiply-adds at the peak of the path its matmuls take, and its
  // bytes at the read bandwidth. The larger sets the bound.
  Roofline roofline;
  const char* peak_path = "";
  // The multiply-adds at the F32 FMA peak, so a faster path cannot hide a low
  // F32 fraction.
  double fma_seconds = 0.0;

  const char* bound() const { return roofline.compute_bound() ? "compute" : "memory"; }
};

// Bytes of the checkpoint's weight files: the .gguf file, or every
// .safetensors file of a Hugging Face directory.
double weight_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) return double(fs::file_size(path));
  double total = 0.0;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") total += double(entry.file_size());
  }
  return total;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// KV storage for the runs, with one block table per sequence. Local layers get
// their own pool indexed like the global one, which is valid because the model
// reads only the entries of the chunks a step touches.
class BenchKv {
 public:
  BenchKv(const KvGeometry& geometry, int32_t n_sequences, int32_t max_positions)
      : blocks_per_sequence_((max_positions + kBlockSize - 1) / kBlockSize) {
    const int32_t n_blocks = n_sequences * blocks_per_sequence_;
    global_ = KvPoolStorage(n_blocks, kBlockSize, geometry.n_global_layers, geometry.n_kv_heads, geometry.head_dim);
    if (geometry.n_local_layers > 0) {
      local_ = KvPoolStorage(n_blocks, kBlockSize, geometry.n_local_layers, geometry.n_kv_heads, geometry.head_dim);
    }
    tables_.resize(size_t(n_sequences));
    for (int32_t s = 0; s < n_sequences; ++s) {
      for (int32_t b = 0; b < blocks_per_sequence_; ++b) tables_[size_t(s)].push_back(s * blocks_per_sequence_ + b);
    }
  }

  KvPools pools() {
    KvPools pools;
    pools.global = &global_.pool();
    pools.local = local_.pool().n_blocks > 0 ? &local_.pool() : nullptr;
    return pools;
  }

  SequenceStep step(int32_t sequence, const int32_t* tokens, int32_t n_tokens, int32_t start_pos) const {
    SequenceStep step;
    step.tokens = tokens;
    step.n_tokens = n_tokens;
    step.start_pos = start_pos;
    step.block_table = tables_[size_t(sequence)].data();
    step.n_blocks = blocks_per_sequence_;
    step.local_block_table = step.block_table;
    step.n_local_blocks = blocks_per_sequence_;
    return step;
  }

 private:
  int32_t blocks_per_sequence_;
  KvPoolStorage global_;
  KvPoolStorage local_;
  std::vector<std::vector<int32_t>> tables_;
};

std::vector<int32_t> random_tokens(int32_t n, int32_t vocab_size, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> id(0, vocab_size - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int32_t& t : tokens) t = id(rng);
  return tokens;
}

// The parameter counts that set a step's work. The embedding table is read one
// row per token and the output head runs only for tokens that need logits, so
// neither belongs with the per-token matmul parameters.
struct WorkModel {
  double matmul_params = 0.0;  // active parameters multiplied once per token
  double head_params = 0.0;    // output head, multiplied once per logits row
  DType weight_type = DType::BF16;  // the type that sets the matmul peak
  int32_t n_heads = 0;         // query heads, 0 when unknown
  int32_t head_dim = 0;
  int32_t n_global_layers = 0;
  int32_t n_local_layers = 0;
  int32_t chunk_size = 0;
};

WorkModel make_work_model(const Model& model) {
  const ModelInfo& info = model.info();
  WorkModel work;
  work.matmul_params = double(info.n_active_params);
  work.weight_type = info.matmul_dtype;
  work.head_dim = info.kv.head_dim;
  work.n_global_layers = info.kv.n_global_layers;
  work.n_local_layers = info.kv.n_local_layers;
  work.chunk_size = info.kv.chunk_size;
  // NOTE: only LlamaModel exposes its config. Another Model counts every
  // active parameter as a per-token matmul and leaves attention out.
  if (const auto* llama = dynamic_cast<const LlamaModel*>(&model)) {
    const ModelConfig& config = llama->config();
    const double table = double(config.vocab_size) * config.hidden_size;
    work.head_params = table;
    work.matmul_params -= config.tie_word_embeddings ? table : 2 * table;
    work.n_heads = config.n_heads;
  }
  return work;
}

// Positions that the attention of `n_tokens` new tokens starting at start_pos
// reads, summed over tokens and layers.
double attended_positions(const WorkModel& work, int32_t start_pos, int32_t n_tokens) {
  double global = 0.0;
  double local = 0.0;
  for (int32_t p = start_pos; p < start_pos + n_tokens; ++p) {
    global += p + 1;
    local += work.chunk_size > 0 ? p % work.chunk_size + 1 : p + 1;
  }
  return global * work.n_global_layers + local * work.n_local_layers;
}

// KV bytes of one position in one layer: its keys and values in F32.
double kv_bytes_per_position_layer(const KvGeometry& kv) { return 2.0 * kv.n_kv_heads * kv.head_dim * sizeof(float); }

// KV bytes that attention reads for one new token at `context` positions.
double kv_bytes_read(const KvGeometry& kv, int32_t context) {
  const double per_position_layer = kv_bytes_per_position_layer(kv);
  const int32_t local_context = kv.chunk_size > 0 ? context % kv.chunk_size + 1 : context;
  return per_position_layer * (double(kv.n_global_layers) * context + double(kv.n_local_layers) * local_context);
}

// KV bytes that n_tokens new tokens write, over every layer.
double kv_bytes_written(const KvGeometry& kv, int64_t n_tokens) {
  return kv_bytes_per_position_layer(kv) * double(kv.n_global_layers + kv.n_local_layers) * double(n_tokens);
}

// Weight bytes that a step of n_tokens tokens reads: the layer weights with
// each token's share of the routed experts, up to all of them, as when the
// tokens choose different experts, and the output head once.
// NOTE: an estimate. A dense model reads all its layer weights at any count.
double step_weight_bytes(const WeightBytes& weights, int64_t n_tokens) {
  const double layers = std::min(double(weights.layers), double(weights.layers_active) * double(n_tokens));
  return layers + double(weights.head);
}

// 2 FLOPs per multiply-add: the weight matmuls for every token, the output
// head for each row of logits, and q.k plus the weighted sum of v for each
// position read.
double step_flops(const WorkModel& work, int64_t n_tokens, int64_t logits_rows, double attended) {
  return 2.0 * work.matmul_params * double(n_tokens) + 2.0 * work.head_params * double(logits_rows) +
         4.0 * work.n_heads * work.head_dim * attended;
}

BenchResult run_prefill(Model& model, int32_t length, const WorkModel& work, const MachineLimits& limits,
                        std::mt19937& rng) {
  const ModelInfo& info = model.info();
  BenchKv kv(info.kv, 1, length);
  const auto tokens = random_tokens(length, info.vocab_size, rng);
  const SequenceStep step = kv.step(0, tokens.data(), length, 0);
  StepOutput output;

  const auto start = std::chrono::steady_clock::now();
  model.forward(std::span<const SequenceStep>(&step, 1), kv.pools(), output);
  BenchResult result;
  result.phase = "prefill";
  result.tokens = length;
  result.seconds = seconds_since(start);
  result.tokens_per_second = length / result.seconds;

  // Only the last token needs logits. Its KV is written once, and the prompt's
  // own KV that attention reads back is small enough to stay in cache.
  const double flops = step_flops(work, length, 1, attended_positions(work, 0, length));
  const double bytes = step_weight_bytes(info.weight_bytes, length) + kv_bytes_written(info.kv, length);
  const MatmulPeak peak = matmul_peak(limits, work.weight_type, length);
  result.peak_path = peak.path;
  result.roofline = roofline(flops, peak.flops, bytes, limits.read_bytes_per_second);
  result.fma_seconds = limits.peak_flops > 0 ? flops / limits.peak_flops : 0.0;
  return result;
}

BenchResult run_decode(Model& model, int32_t batch, const BenchOptions& options, const WorkModel& work,
                       const MachineLimits& limits, std::mt19937& rng) {
  const ModelInfo& info = model.info();
  const int32_t context = options.decode_context;
  BenchKv kv(info.kv, batch, context + options.decode_steps + 1);
  const auto tokens = random_tokens(batch, info.vocab_size, rng);
  StepOutput output;

  // The KV cache stays zero: attention costs the same whatever the values are,
  // so the contexts need no prefill.
  auto run_step = [&](int32_t position) {
    std::vector<SequenceStep> steps;
    for (int32_t s = 0; s < batch; ++s) steps.push_back(kv.step(s, tokens.data() + s, 1, position));
    model.forward(steps, kv.pools(), output);
  };
  run_step(context);
  const auto start = std::chrono::steady_clock::now();
  for (int32_t i = 1; i <= options.decode_steps; ++i) run_step(context + i);

  BenchResult result;
  result.phase = "decode";
  result.tokens = context;
  result.batch = batch;
  result.seconds = seconds_since(start) / options.decode_steps;
  result.tokens_per_second = batch / result.seconds;

  // Every sequence attends to its whole context and needs logits.
  const int32_t mid_context = context + options.decode_steps / 2;
  const double flops = step_flops(work, batch, batch, double(batch) * attended_positions(work, mid_context, 1));
  const double bytes = step_weight_bytes(info.weight_bytes, batch) + batch * kv_bytes_read(info.kv, mid_context);
  const MatmulPeak peak = matmul_peak(limits, work.weight_type, batch);
  result.peak_path = peak.path;
  // NOTE: the bandwidth is measured past the last-level cache, so a model whose
  // weights fit in that cache can decode faster than this limit (above 100%).
  result.roofline = roofline(flops, peak.flops, bytes, limits.read_bytes_per_second);
  result.fma_seconds = limits.peak_flops > 0 ? flops / limits.peak_flops : 0.0;
  return result;
}

void print_table(const std::string& model_name, double weight_bytes, const ModelInfo& info,
                 const MachineLimits& limits, int threads, const std::vector<BenchResult>& results) {
  std::printf("machine: read bandwidth %.1f GB/s, kernels %s, %d threads\n", limits.read_bytes_per_second / 1e9,
              limits.isa, threads);
  std::printf("peak GFLOP/s: f32-fma %.1f, bf16-dot %.1f, amx-bf16 %.1f; peak GOP/s: amx-int8 %.1f\n",
              limits.peak_flops / 1e9, limits.peak_flops_bf16_dot / 1e9, limits.peak_flops_amx_bf16 / 1e9,
              limits.peak_ops_amx_int8 / 1e9);
  std::printf("model: %s, %.3f B params (%.3f B active), weight files %.2f GB\n\n", model_name.c_str(),
              double(info.n_params) / 1e9, double(info.n_active_params) / 1e9, weight_bytes / 1e9);
  std::printf("%-8s %6s %6s %10s %9s %8s %9s %9s %8s %8s %9s\n", "phase", "tokens", "batch", "tokens/s", "ms/step",
              "bound", "of limit", "peak path", "of peak", "ceiling", "of f32");
  for (const BenchResult& r : results) {
    const Roofline& roof = r.roofline;
    std::printf("%-8s %6d %6d %10.2f %9.2f %8s %8.1f%% %9s %7.1f%% %7.1f%% %8.1f%%\n", r.phase.c_str(), r.tokens,
                r.batch, r.tokens_per_second, r.seconds * 1e3, r.bound(), 100.0 * roof.limit_seconds() / r.seconds,
                r.peak_path, 100.0 * roof.compute_seconds / r.seconds, 100.0 * roof.peak_ceiling(),
                100.0 * r.fma_seconds / r.seconds);
  }
  std::printf("\nof limit: the roofline time (the larger of the multiply-adds at the peak path and the bytes at the\n"
              "read bandwidth) over the measured time. of peak: the multiply-adds at the peak path over the measured\n"
              "time. ceiling: the largest \"of peak\" that the bytes allow. of f32: as \"of peak\", at the F32 FMA peak.\n"
              "The bandwidth is measured past the last-level cache: for a model whose weights stay in that cache,\n"
              "\"of limit\" can pass 100%% and \"of peak\" the ceiling.\n");
}

void print_json(const std::string& model_name, double weight_bytes, const ModelInfo& info,
                const MachineLimits& limits, int threads, const std::vector<BenchResult>& results) {
  nlohmann::json out;
  out["machine"] = {{"read_bytes_per_second", limits.read_bytes_per_second},
                    {"peak_flops", limits.peak_flops},
                    {"peak_flops_bf16_dot", limits.peak_flops_bf16_dot},
                    {"peak_flops_amx_bf16", limits.peak_flops_amx_bf16},
                    {"peak_ops_amx_int8", limits.peak_ops_amx_int8},
                    {"isa", limits.isa},
                    {"threads", threads}};
  out["model"] = {{"name", model_name},
                  {"params", info.n_params},
                  {"active_params", info.n_active_params},
                  {"weight_file_bytes", weight_bytes}};
  out["results"] = nlohmann::json::array();
  for (const BenchResult& r : results) {
    const Roofline& roof = r.roofline;
    out["results"].push_back({{"phase", r.phase},
                              {"tokens", r.tokens},
                              {"batch", r.batch},
                              {"seconds_per_step", r.seconds},
                              {"tokens_per_second", r.tokens_per_second},
                              {"bound", r.bound()},
                              {"compute_seconds_per_step", roof.compute_seconds},
                              {"memory_seconds_per_step", roof.memory_seconds},
                              {"limit_seconds_per_step", roof.limit_seconds()},
                              {"fraction_of_limit", roof.limit_seconds() / r.seconds},
                              {"peak_path", r.peak_path},
                              {"fraction_of_peak", roof.compute_seconds / r.seconds},
                              {"peak_ceiling", roof.peak_ceiling()},
                              {"fraction_of_f32_fma_peak", r.fma_seconds / r.seconds}});
  }
  std::printf("%s\n", out.dump(2).c_str());
}

// Rejects option values that need no model to check, so that a typo fails at
// once instead of after the machine probe.
void check_bench_options(const BenchOptions& options) {
  if (options.decode_steps < 1) {
    throw Error("bench: invalid --decode-steps " + std::to_string(options.decode_steps) + "; expected at least 1");
  }
  if (options.decode_context < 0) {
    throw Error("bench: invalid --decode-context " + std::to_string(options.decode_context) +
                "; expected 0 or more");
  }
  for (int32_t length : options.prompt_lengths) {
    if (length < 1) throw Error("bench: invalid prompt length " + std::to_string(length) + "; expected at least 1");
  }
  for (int32_t batch : options.batch_sizes) {
    if (batch < 1) throw Error("bench: invalid batch size " + std::to_string(batch) + "; expected at least 1");
  }
}

// Returns the model's context length from its config alone, with the weight
// files only mapped, so that the lengths can be checked before the probe.
int32_t read_max_context(const std::string& path) {
  const std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(path, FileResidency::kMapped);
  if (checkpoint->format() == Checkpoint::Format::Gguf) {
    return parse_gguf_config(*checkpoint->gguf()).max_position_embeddings;
  }
  const std::string config_path = (std::filesystem::path(path) / "config.json").string();
  return parse_hf_config(checkpoint->config(), config_path).max_position_embeddings;
}

// Rejects prompt lengths and decode contexts beyond the model's context length.
void check_bench_lengths(const BenchOptions& options, int32_t max_context) {
  if (max_context <= 0) return;
  for (int32_t length : options.prompt_lengths) {
    if (length > max_context) {
      throw Error("bench: prompt length " + std::to_string(length) + " exceeds the model's context length " +
                  std::to_string(max_context) + "; lower --prompts");
    }
  }
  // The last timed decode step writes position decode_context + decode_steps.
  const int64_t last_position = int64_t(options.decode_context) + options.decode_steps;
  if (last_position >= max_context) {
    throw Error("bench: --decode-context " + std::to_string(options.decode_context) + " plus --decode-steps " +
                std::to_string(options.decode_steps) + " reaches position " + std::to_string(last_position) +
                ", beyond the model's context length " + std::to_string(max_context) + "; lower them");
  }
}

void run_bench(const BenchOptions& options) {
  check_bench_options(options);
  // Logs go to stderr, so stdout carries only the table or the JSON.
  init_logging("info");
  ThreadPool::set_global_threads(options.threads);
  ThreadPool& pool = ThreadPool::global();
  check_bench_lengths(options, read_max_context(options.model_path));

  // The probe takes seconds, so it runs after every option has been checked.
  // It also runs before the weights load: probing after loading them made
  // bench-moe BF16 decode about 20% slower at batch 1 on the development VM
  // (37 to 38 against 47 tokens/s).
  if (!options.json) std::fprintf(stderr, "measuring read bandwidth and peak FLOP/s...\n");
  const MachineLimits limits = measure_machine_limits(pool);
  auto backend = make_cpu_backend(pool);
  auto model = load_model(options.model_path, *backend, options.load);
  const ModelInfo& info = model->info();
  const double weight_bytes = weight_file_bytes(options.model_path);
  const WorkModel work = make_work_model(*model);
  std::mt19937 rng(42);

  // One short step first, so page faults on the mapped weights are not timed.
  {
    BenchKv kv(info.kv, 1, 16);
    const auto tokens = random_tokens(16, info.vocab_size, rng);
    const SequenceStep step = kv.step(0, tokens.data(), 16, 0);
    StepOutput output;
    model->forward(std::span<const SequenceStep>(&step, 1), kv.pools(), output);
  }

  std::vector<BenchResult> results;
  for (int32_t length : options.prompt_lengths) {
    if (!options.json) std::fprintf(stderr, "prefill %d tokens...\n", length);
    results.push_back(run_prefill(*model, length, work, limits, rng));
  }
  for (int32_t batch : options.batch_sizes) {
    if (!options.json) std::fprintf(stderr, "decode at batch %d...\n", batch);
    results.push_back(run_decode(*model, batch, options, work, limits, rng));
  }

  if (options.json) {
    print_json(info.name, weight_bytes, info, limits, pool.size(), results);
  } else {
    print_table(info.name, weight_bytes, info, limits, pool.size(), results);
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Measure the machine's limits and a model's prefill and decode speed against them");
  command->add_option("--model", options->model_path, "Hugging Face checkpoint directory or .gguf file")
      ->required();
  command->add_option("--threads", options->threads, "Threads, the calling one included (0: physical cores)")
      ->capture_default_str();
  command->add_option("--prompts", options->prompt_lengths, "Prompt lengths to prefill, in tokens, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--batches", options->batch_sizes, "Decode batch sizes, in sequences, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--decode-context", options->decode_context, "Context length of each decoding sequence")
      ->capture_default_str();
  command->add_option("--decode-steps", options->decode_steps, "Timed decode steps per batch size")
      ->capture_default_str();
  command->add_flag("--json", options->json, "Print the results as JSON instead of a table");
  add_load_options(*command, options->load);
  command->callback([options] { run_bench(*options); });
}

}  // namespace brasa::cli
