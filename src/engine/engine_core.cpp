#include "engine/engine_core.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "engine/sampler.h"

namespace brasa {

namespace {

// Logits memory kept from one step to the next: decode at batch 256 with a
// 202,048-token vocabulary fits, and a longer prompt's scored rows do not.
constexpr size_t kKeptLogitsBytes = size_t(256) << 20;

// Frees the logits after a step that needed more than kKeptLogitsBytes, such
// as a long prompt scored for its logprobs, since decode steps need far less.
void release_large_logits(StepOutput& out) {
  if (out.logits.capacity() * sizeof(float) > kKeptLogitsBytes) out.logits = std::vector<float>();
}

size_t block_bytes(int32_t n_layers, const KvGeometry& kv, int32_t block_size, DType kv_dtype) {
  return size_t(n_layers) * 2 * size_t(kv.n_kv_heads) * size_t(kv.head_dim) * size_t(block_size) *
         kv_element_bytes(kv_dtype);
}

// Identity of the model mixed into every block hash, so cached blocks are only
// ever matched against KV that this model computed.
BlockHash model_seed(const ModelInfo& info) {
  std::ostringstream key;
  key << info.architecture << '/' << info.name << '/' << info.vocab_size << '/' << info.n_params << '/'
      << info.kv.n_global_layers << '/' << info.kv.n_local_layers << '/' << info.kv.n_kv_heads << '/'
      << info.kv.head_dim << '/' << info.kv.chunk_size;
  const std::string text = key.str();
  std::vector<int32_t> bytes(text.begin(), text.end());
  return hash_block(0, bytes, 0);
}

KvCacheConfig make_kv_config(const ModelInfo& info, const EngineConfig& config, const KvPoolSizes& sizes) {
  KvCacheConfig kv;
  kv.block_size = config.block_size;
  kv.chunk_size = sizes.n_local_blocks > 0 ? info.kv.chunk_size : 0;
  kv.n_global_blocks = sizes.n_global_blocks;
  kv.n_local_blocks = sizes.n_local_blocks;
  kv.enable_prefix_caching = config.enable_prefix_caching;
  kv.model_seed = model_seed(info);
  return kv;
}

void check_config(const ModelInfo& info, const EngineConfig& config) {
  if (config.block_size <= 0) {
    throw Error("invalid block_size " + std::to_string(config.block_size) + ": must be positive");
  }
  if (config.max_num_seqs <= 0) {
    throw Error("invalid max_num_seqs " + std::to_string(config.max_num_seqs) + ": must be positive");
  }
  if (config.max_num_batched_tokens <= 0) {
    throw Error("invalid max_num_batched_tokens " + std::to_string(config.max_num_batched_tokens) +
                ": must be positive");
  }
  if (config.max_waiting < 0) throw Error("invalid max_waiting " + std::to_string(config.max_waiting));
  if (config.max_model_len < 0) throw Error("invalid max_model_len " + std::to_string(config.max_model_len));
  if (info.kv.n_global_layers <= 0) {
    throw Error("model " + info.name + " has no global attention layers; the engine needs at least one");
  }
  if (info.kv.n_local_layers > 0) {
    if (info.kv.chunk_size <= 0) {
      throw Error("model " + info.name + " has chunked-local layers but attention chunk size " +
                  std::to_string(info.kv.chunk_size));
    }
    if (info.kv.chunk_size % config.block_size != 0) {
      throw Error("block_size " + std::to_string(config.block_size) + " does not divide the attention chunk size " +
                  std::to_string(info.kv.chunk_size) + " of model " + info.name);
    }
  }
}

}  // namespace

KvPoolSizes size_kv_pools(const KvGeometry& kv, int64_t kv_cache_bytes, int32_t block_size, int64_t max_model_len,
                          int32_t max_num_seqs, DType kv_dtype) {
  KvPoolSizes sizes;
  const double global_bytes = double(block_bytes(kv.n_global_layers, kv, block_size, kv_dtype));
  const double local_bytes = double(block_bytes(kv.n_local_layers, kv, block_size, kv_dtype));
  const std::string too_small = "kv_cache_bytes " + std::to_string(kv_cache_bytes) + " is too small";

  if (kv.n_local_layers == 0 || kv.chunk_size <= 0) {
    sizes.n_global_blocks = int32_t(std::min<double>(std::floor(double(kv_cache_bytes) / global_bytes), 1 << 30));
    if (sizes.n_global_blocks < 1) {
      throw Error(too_small + ": one KV block takes " + std::to_string(int64_t(global_bytes)) + " bytes");
    }
    return sizes;
  }

  // Find the length L at which max_num_seqs equal sequences fill the budget. A
  // sizing for max_model_len alone would starve the local pool when the model's
  // context (10M tokens for Llama 4 Scout) dwarfs the chunk.
  const int32_t chunk_blocks = kv.chunk_size / block_size;
  const double global_per_token = global_bytes / block_size;
  const double local_per_token = local_bytes / block_size;
  const double chunk = kv.chunk_size;
  const double bytes_per_sequence = double(kv_cache_bytes) / std::max(max_num_seqs, 1);
  double length = bytes_per_sequence / (global_per_token + local_per_token);
  if (length > chunk) length = (bytes_per_sequence - local_per_token * chunk) / global_per_token;
  length = std::min(length, double(max_model_len));

  const double global_need = global_per_token * length;
  const double local_need = local_per_token * std::min(length, chunk);
  const double global_share = global_need / (global_need + local_need);
  double n_global = std::floor(double(kv_cache_bytes) * global_share / global_bytes);
  double n_local = std::floor((double(kv_cache_bytes) - n_global * global_bytes) / local_bytes);
  if (n_local < chunk_blocks) {
    n_local = chunk_blocks;
    n_global = std::floor((double(kv_cache_bytes) - n_local * local_bytes) / global_bytes);
  }
  if (n_global < 1) {
    throw Error(too_small + ": one chunk of local KV blocks and one global block take " +
                std::to_string(int64_t(n_local * local_bytes + global_bytes)) + " bytes");
  }
  sizes.n_global_blocks = int32_t(std::min<double>(n_global, 1 << 30));
  sizes.n_local_blocks = int32_t(std::min<double>(n_local, 1 << 30));
  return sizes;
}

EngineCore::EngineCore(Model& model, const EngineConfig& config)
    : model_(model),
      config_(config),
      kv_((check_config(model.info(), config),
           make_kv_config(model.info(), config,
                          size_kv_pools(model.info().kv, config.kv_cache_bytes, config.block_size,
                                        config.max_model_len > 0 ? config.max_model_len
                                        : model.info().max_context > 0 ? model.info().max_context
                                                                       : int64_t(1) << 20,
                                        config.max_num_seqs, config.kv_cache_dtype)))),
      scheduler_(SchedulerConfig{config.max_num_seqs, config.max_num_batched_tokens}, kv_) {
  const ModelInfo& info = model.info();
  if (config.max_model_len > 0 && info.max_context > 0 && config.max_model_len > info.max_context) {
    throw Error("max_model_len " + std::to_string(config.max_model_len) + " exceeds the context length " +
                std::to_string(info.max_context) + " of model " + info.name);
  }

  // The usable length is also capped by what the global pool can hold for one sequence.
  const int64_t pool_tokens = int64_t(kv_.config().n_global_blocks) * config.block_size;
  int64_t max_len = config.max_model_len > 0 ? config.max_model_len : info.max_context;
  if (max_len <= 0 || max_len > pool_tokens) max_len = pool_tokens;
  max_model_len_ = int32_t(std::min<int64_t>(max_len, std::numeric_limits<int32_t>::max()));

  global_storage_ = KvPoolStorage(kv_.config().n_global_blocks, config.block_size, info.kv.n_global_layers,
                                  info.kv.n_kv_heads, info.kv.head_dim, config.kv_cache_dtype);
  if (kv_.has_local()) {
    local_storage_ = KvPoolStorage(kv_.config().n_local_blocks, config.block_size, info.kv.n_local_layers,
                                   info.kv.n_kv_heads, info.kv.head_dim, config.kv_cache_dtype);
  }

  const char* debug = std::getenv("BRASA_DEBUG_KV");
  debug_kv_ = debug != nullptr && std::string(debug) == "1";

  spdlog::info("engine: KV cache {} global blocks ({:.1f} MiB), {} local blocks ({:.1f} MiB), block size {}, "
               "type {}, max_model_len {}",
               kv_.config().n_global_blocks, double(global_storage_.pool().bytes()) / (1 << 20),
               kv_.config().n_local_blocks, double(local_storage_.pool().bytes()) / (1 << 20), config.block_size,
               dtype_name(config.kv_cache_dtype), max_model_len_);
  publish_stats();
}

SubmitResult EngineCore::submit(GenerationRequest request, UpdateCallback callback) {
  const int32_t vocab = model_.info().vocab_size;
  if (request.prompt.empty() || request.max_tokens < 0) return SubmitResult::Invalid;
  for (int32_t token : request.prompt) {
    if (token < 0 || token >= vocab) return SubmitResult::Invalid;
  }
  const int64_t n_total = int64_t(request.prompt.size()) + request.max_tokens;
  if (n_total > max_model_len_ || !kv_.fits_alone(n_total)) return SubmitResult::TooLong;

  auto seq = std::make_unique<Sequence>();
  seq->tokens = request.prompt;
  seq->n_prompt = int32_t(request.prompt.size());
  seq->sampler = std::make_unique<Sampler>(request.sampling);
  if (request.sampling.prompt_logprobs >= 0) {
    // Entry 0 has no context to score it; it stays at logprob 0 and is reported as null.
    seq->prompt_logprobs.resize(size_t(seq->n_prompt));
    seq->prompt_logprobs[0].token = request.prompt[0];
    seq->n_prompt_scored = 1;
  }
  seq->request = std::move(request);
  seq->callback = std::move(callback);

  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (live_ids_.count(seq->request.id) != 0) return SubmitResult::Invalid;
    if (n_waiting_ >= config_.max_waiting) return SubmitResult::QueueFull;
    live_ids_.insert(seq->request.id);
    submitted_.push_back(std::move(seq));
    n_waiting_ += 1;
    stats_.n_waiting = n_waiting_;
  }
  work_ready_.notify_one();
  return SubmitResult::Accepted;
}

void EngineCore::cancel(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (live_ids_.count(id) == 0) return;
    cancelled_.push_back(id);
  }
  work_ready_.notify_one();
}

void EngineCore::wait_for_work() {
  std::unique_lock<std::mutex> lock(mutex_);
  work_ready_.wait(lock, [&] { return woken_ || !submitted_.empty() || !cancelled_.empty(); });
  woken_ = false;
}

void EngineCore::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
  }
  work_ready_.notify_all();
}

void EngineCore::take_in_queued_work() {
  std::vector<std::unique_ptr<Sequence>> submitted;
  std::vector<std::string> cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    submitted.swap(submitted_);
    cancelled.swap(cancelled_);
  }

  for (auto& seq : submitted) {
    prompt_tokens_total_ += seq->n_prompt;
    scheduler_.add(std::move(seq));
  }

  // Cancelled sequences give their blocks back before this step schedules.
  for (const std::string& id : cancelled) {
    std::unique_ptr<Sequence> seq = scheduler_.remove(id);
    if (!seq) continue;
    GenerationUpdate update;
    update.finished = true;
    update.finish_reason = FinishReason::Cancelled;
    update.n_prompt_tokens = seq->n_prompt;
    update.n_cached_tokens = std::max(seq->n_cached_tokens, 0);
    send(*seq, std::move(update));
  }
}

bool EngineCore::step() {
  take_in_queued_work();
  const SchedulerOutput plan = scheduler_.schedule();
  for (const Sequence* seq : plan.preempted) {
    spdlog::debug("engine: preempted sequence {} at {} tokens", seq->request.id, seq->tokens.size());
  }
  if (!plan.scheduled.empty()) run_step(plan);
  publish_stats();
  if (debug_kv_) spdlog::info("engine: KV state after step\n{}", dump());
  return !plan.scheduled.empty();
}

void EngineCore::run_step(const SchedulerOutput& plan) {
  std::vector<SequenceStep> batch;
  batch.reserve(plan.scheduled.size());
  for (const ScheduledSequence& item : plan.scheduled) {
    Sequence& seq = *item.seq;
    SequenceStep step;
    step.tokens = seq.tokens.data() + item.start_pos;
    step.n_tokens = item.n_tokens;
    step.start_pos = item.start_pos;
    step.block_table = seq.block_table.data();
    step.n_blocks = int32_t(seq.block_table.size());
    step.local_block_table = seq.local_block_table.empty() ? nullptr : seq.local_block_table.data();
    step.n_local_blocks = int32_t(seq.local_block_table.size());
    step.all_logits = !seq.prompt_logprobs_done() && item.start_pos < seq.n_prompt;
    batch.push_back(step);
  }

  KvPools pools;
  pools.global = &global_storage_.pool();
  pools.local = kv_.has_local() ? &local_storage_.pool() : nullptr;
  StepOutput& out = step_output_;
  std::string error;
  try {
    model_.forward(batch, pools, out);
    if (out.first_row.size() != batch.size() || out.vocab_size != model_.info().vocab_size) {
      error = "model step returned logits for " + std::to_string(out.first_row.size()) + " of " +
              std::to_string(batch.size()) + " sequences";
    }
  } catch (const std::exception& e) {
    error = std::string("model step failed: ") + e.what();
  }
  if (!error.empty()) {
    release_large_logits(out);
    spdlog::error("engine: {} ({} sequences in the step)", error, batch.size());
    for (const ScheduledSequence& item : plan.scheduled) {
      finish_with_error(*item.seq, error);
      scheduler_.finish(item.seq);
    }
    return;
  }

  std::vector<Sequence*> finished;
  for (size_t i = 0; i < plan.scheduled.size(); ++i) process_sequence(plan.scheduled[i], out, i, finished);
  release_large_logits(out);
  for (Sequence* seq : finished) scheduler_.finish(seq);
}

void EngineCore::score_prompt_rows(Sequence& seq, int32_t start_pos, int32_t n_tokens, const StepOutput& out,
                                   int64_t first_row) {
  // Row j is the distribution of the token at position start_pos + j + 1.
  const int32_t top_n = seq.request.sampling.prompt_logprobs;
  for (int32_t j = 0; j < n_tokens; ++j) {
    const int32_t pos = start_pos + j + 1;
    if (pos >= seq.n_prompt) break;
    if (pos < seq.n_prompt_scored) continue;
    seq.prompt_logprobs[size_t(pos)] =
        compute_logprobs(out.row(first_row + j), out.vocab_size, seq.tokens[size_t(pos)], top_n);
  }
  seq.n_prompt_scored = std::max(seq.n_prompt_scored, std::min(start_pos + n_tokens + 1, seq.n_prompt));
}

void EngineCore::process_sequence(const ScheduledSequence& item, const StepOutput& out, size_t index,
                                  std::vector<Sequence*>& finished) {
  Sequence& seq = *item.seq;
  const bool all_logits = !seq.prompt_logprobs_done() && item.start_pos < seq.n_prompt;
  const int64_t first_row = out.first_row[index];
  seq.n_computed += item.n_tokens;
  kv_.on_computed(seq);
  if (all_logits) score_prompt_rows(seq, item.start_pos, item.n_tokens, out, first_row);

  // A prefill chunk that has not reached the last token has nothing to report.
  if (seq.n_computed < int32_t(seq.tokens.size())) return;

  GenerationUpdate update;
  update.n_prompt_tokens = seq.n_prompt;
  update.n_cached_tokens = std::max(seq.n_cached_tokens, 0);
  if (seq.wants_prompt_logprobs() && !seq.prompt_logprobs_sent) {
    update.prompt_logprobs = seq.prompt_logprobs;
    seq.prompt_logprobs_sent = true;
  }

  // max_tokens == 0: the request only scores its prompt.
  if (seq.n_output() >= seq.request.max_tokens) {
    update.finished = true;
    update.finish_reason = FinishReason::Length;
    send(seq, std::move(update));
    finished.push_back(&seq);
    return;
  }

  // Sample from the last row, after masking what the constraint forbids.
  const int64_t row_index = first_row + (all_logits ? item.n_tokens - 1 : 0);
  std::vector<float> logits(out.row(row_index), out.row(row_index) + out.vocab_size);
  if (seq.request.constraint) {
    std::vector<uint8_t> allowed(logits.size(), 1);
    seq.request.constraint->mask(allowed);
    bool any = false;
    for (size_t v = 0; v < logits.size(); ++v) {
      if (allowed[v] == 0) logits[v] = -std::numeric_limits<float>::infinity();
      any = any || allowed[v] != 0;
    }
    if (!any) {
      finish_with_error(seq, "the output constraint allows no token");
      finished.push_back(&seq);
      return;
    }
  }
  const std::span<const int32_t> prompt(seq.tokens.data(), size_t(seq.n_prompt));
  const std::span<const int32_t> output(seq.tokens.data() + seq.n_prompt, size_t(seq.n_output()));
  const SampledToken sampled = seq.sampler->sample(logits.data(), out.vocab_size, prompt, output);
  generation_tokens_total_ += 1;

  // Stop tokens end the sequence and are not part of the output.
  const auto& stop_ids = seq.request.stop_token_ids;
  const bool is_stop = std::find(stop_ids.begin(), stop_ids.end(), sampled.token) != stop_ids.end();
  if (is_stop && !seq.request.ignore_eos) {
    update.finished = true;
    update.finish_reason = FinishReason::Stop;
  } else {
    seq.tokens.push_back(sampled.token);
    update.tokens.push_back(sampled);
    if (seq.request.constraint) seq.request.constraint->accept(sampled.token);

    if (seq.request.constraint && seq.request.constraint->is_complete()) {
      update.finished = true;
      update.finish_reason = FinishReason::Stop;
    } else if (seq.n_output() >= seq.request.max_tokens || int32_t(seq.tokens.size()) >= max_model_len_) {
      update.finished = true;
      update.finish_reason = FinishReason::Length;
    }
  }
  const bool is_finished = update.finished;
  send(seq, std::move(update));
  if (is_finished) finished.push_back(&seq);
}

void EngineCore::send(Sequence& seq, GenerationUpdate update) {
  if (update.finished) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ids_.erase(seq.request.id);
  }
  if (!seq.callback) return;
  try {
    seq.callback(update);
  } catch (const std::exception& e) {
    spdlog::error("engine: update callback of sequence {} threw: {}", seq.request.id, e.what());
  }
}

void EngineCore::finish_with_error(Sequence& seq, const std::string& message) {
  GenerationUpdate update;
  update.finished = true;
  update.finish_reason = FinishReason::Error;
  update.error = message;
  update.n_prompt_tokens = seq.n_prompt;
  update.n_cached_tokens = std::max(seq.n_cached_tokens, 0);
  send(seq, std::move(update));
}

void EngineCore::cancel_all() {
  take_in_queued_work();
  std::vector<std::string> ids;
  for (const auto& seq : scheduler_.running()) ids.push_back(seq->request.id);
  for (const auto& seq : scheduler_.waiting()) ids.push_back(seq->request.id);
  for (const std::string& id : ids) {
    std::unique_ptr<Sequence> seq = scheduler_.remove(id);
    GenerationUpdate update;
    update.finished = true;
    update.finish_reason = FinishReason::Cancelled;
    update.n_prompt_tokens = seq->n_prompt;
    update.n_cached_tokens = std::max(seq->n_cached_tokens, 0);
    send(*seq, std::move(update));
  }
  publish_stats();
}

void EngineCore::publish_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  n_waiting_ = int32_t(submitted_.size() + scheduler_.waiting().size());
  stats_.n_running = int32_t(scheduler_.running().size());
  stats_.n_waiting = n_waiting_;
  stats_.kv_blocks_total = kv_.global().n_blocks();
  stats_.kv_blocks_used = kv_.global().n_used();
  stats_.kv_blocks_cached = kv_.global().n_cached_free();
  stats_.prefix_cache_queries = scheduler_.counters().prefix_cache_queries;
  stats_.prefix_cache_hits = scheduler_.counters().prefix_cache_hits;
  stats_.n_preemptions = scheduler_.counters().n_preemptions;
  stats_.prompt_tokens_total = prompt_tokens_total_;
  stats_.generation_tokens_total = generation_tokens_total_;
}

EngineStats EngineCore::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::string EngineCore::dump() const {
  std::ostringstream out;
  out << kv_.dump();
  for (const auto& seq : scheduler_.running()) {
    out << "running " << seq->request.id << ": tokens " << seq->tokens.size() << ", computed " << seq->n_computed
        << ", blocks [";
    for (size_t i = 0; i < seq->block_table.size(); ++i) out << (i ? " " : "") << seq->block_table[i];
    out << "]\n";
  }
  for (const auto& seq : scheduler_.waiting()) out << "waiting " << seq->request.id << ": tokens " << seq->tokens.size() << "\n";
  return out.str();
}

}  // namespace brasa
