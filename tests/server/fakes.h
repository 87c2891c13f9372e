#pragma once

// A byte-level tokenizer and an echoing engine, so the HTTP and protocol layers
// can be tested without a model.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace brasa::testing {

// Token i < 256 is byte i; 256 is BOS "<s>", 257 is EOS "</s>".
class ByteTokenizer : public Tokenizer {
 public:
  static constexpr int32_t kBos = 256;
  static constexpr int32_t kEos = 257;

  int32_t vocab_size() const override { return 258; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    std::vector<int32_t> ids;
    if (add_bos) ids.push_back(kBos);
    for (size_t i = 0; i < text.size(); ++i) {
      if (parse_special && text.substr(i, 3) == "<s>") {
        ids.push_back(kBos);
        i += 2;
      } else if (parse_special && text.substr(i, 4) == "</s>") {
        ids.push_back(kEos);
        i += 3;
      } else {
        ids.push_back(static_cast<unsigned char>(text[i]));
      }
    }
    return ids;
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special) const override {
    std::string text;
    for (int32_t id : ids) {
      if (skip_special && is_special(id)) continue;
      text += token_bytes(id);
    }
    return text;
  }

  std::string token_bytes(int32_t id) const override {
    if (id == kBos) return "<s>";
    if (id == kEos) return "</s>";
    return std::string(1, char(id));
  }
  std::string token_text(int32_t id) const override { return token_bytes(id); }
  bool is_special(int32_t id) const override { return id >= 256; }
  int32_t bos_id() const override { return kBos; }
  const std::vector<int32_t>& eos_ids() const override { return eos_; }
  int32_t token_id(std::string_view text) const override { return text.size() == 1 ? static_cast<unsigned char>(text[0]) : -1; }

 private:
  std::vector<int32_t> eos_{kEos};
};

// Generates the prompt back, without BOS, one token per step, then EOS.
// Each token's logprob is -1, or -(1 + seed % 4) for a seeded request, so the
// choices of a seeded request differ in cumulative logprob. The alternatives
// are the next byte values.
class EchoEngine : public Engine {
 public:
  explicit EchoEngine(int32_t max_model_len = 256, int32_t max_waiting = 64)
      : max_model_len_(max_model_len), max_waiting_(max_waiting) {
    info_.name = "echo";
    info_.vocab_size = 258;
    info_.max_context = max_model_len;
  }
  ~EchoEngine() override { stop(); }

  SubmitResult submit(GenerationRequest request, UpdateCallback callback) override {
    std::lock_guard lock(mutex_);
    if (int32_t(sequences_.size()) >= max_waiting_) return SubmitResult::QueueFull;
    Sequence sequence;
    for (int32_t token : request.prompt) {
      if (token != ByteTokenizer::kBos) sequence.output.push_back(token);
    }
    sequence.output.push_back(ByteTokenizer::kEos);
    sequence.request = std::move(request);
    sequence.callback = std::move(callback);
    ++n_submitted_;
    sequences_.emplace(sequence.request.id, std::move(sequence));
    wake_.notify_all();
    return SubmitResult::Accepted;
  }

  void cancel(const std::string& id) override {
    std::lock_guard lock(mutex_);
    auto it = sequences_.find(id);
    if (it != sequences_.end()) it->second.cancelled = true;
    wake_.notify_all();
  }

  EngineStats stats() const override {
    std::lock_guard lock(mutex_);
    EngineStats stats;
    stats.n_running = int32_t(sequences_.size());
    stats.kv_blocks_total = 100;
    stats.kv_blocks_used = int32_t(sequences_.size());
    return stats;
  }
  const ModelInfo& model_info() const override { return info_; }
  int32_t max_model_len() const override { return max_model_len_; }

  void start() override {
    running_ = true;
    thread_ = std::thread([this] { loop(); });
  }
  void stop() override {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      running_ = false;
      for (auto& [id, sequence] : sequences_) sequence.cancelled = true;
      wake_.notify_all();
    }
    thread_.join();
  }

  // While paused, sequences get no tokens; tests use it to hold requests open.
  void set_paused(bool paused) {
    std::lock_guard lock(mutex_);
    paused_ = paused;
    wake_.notify_all();
  }
  int64_t n_submitted() const { return n_submitted_; }
  int64_t n_cancelled() const { return n_cancelled_; }

 private:
  struct Sequence {
    GenerationRequest request;
    UpdateCallback callback;
    std::vector<int32_t> output;
    size_t next = 0;
    bool cancelled = false;
  };

  void loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] {
        bool any_cancelled = false;
        for (auto& [id, sequence] : sequences_) any_cancelled = any_cancelled || sequence.cancelled;
        return !running_ || any_cancelled || (!paused_ && !sequences_.empty());
      });
      if (!running_ && sequences_.empty()) return;
      step(lock);
    }
  }

  // One step: every sequence gets its next token, or its end.
  void step(std::unique_lock<std::mutex>& lock) {
    std::vector<std::pair<UpdateCallback, GenerationUpdate>> updates;
    for (auto it = sequences_.begin(); it != sequences_.end();) {
      Sequence& sequence = it->second;
      GenerationUpdate update;
      update.n_prompt_tokens = int32_t(sequence.request.prompt.size());
      if (sequence.cancelled) {
        update.finished = true;
        update.finish_reason = FinishReason::Cancelled;
        ++n_cancelled_;
      } else if (paused_) {
        ++it;
        continue;
      } else {
        if (sequence.next == 0 && sequence.request.sampling.prompt_logprobs >= 0) {
          for (int32_t token : sequence.request.prompt) update.prompt_logprobs.push_back(sampled(token, sequence.request));
        }
        bool score_only = sequence.request.max_tokens == 0;
        if (!score_only) {
          int32_t token = sequence.output[sequence.next++];
          update.tokens.push_back(sampled(token, sequence.request));
          bool is_eos = token == ByteTokenizer::kEos && !sequence.request.ignore_eos;
          if (is_eos) {
            update.finished = true;
            update.finish_reason = FinishReason::Stop;
          }
        }
        if (!update.finished && (score_only || int32_t(sequence.next) >= sequence.request.max_tokens ||
                                 sequence.next >= sequence.output.size())) {
          update.finished = true;
          update.finish_reason = FinishReason::Length;
        }
      }
      updates.emplace_back(sequence.callback, std::move(update));
      if (updates.back().second.finished) it = sequences_.erase(it);
      else ++it;
    }
    lock.unlock();
    for (auto& [callback, update] : updates) callback(update);
    lock.lock();
  }

  static SampledToken sampled(int32_t token, const GenerationRequest& request) {
    const float logprob = request.sampling.seed ? -1.0f - float(*request.sampling.seed % 4) : -1.0f;
    SampledToken result{token, logprob, {}};
    for (int32_t k = 0; k < request.sampling.logprobs; ++k) result.top.push_back({(token + k) % 256, -1.0f - float(k)});
    return result;
  }

  ModelInfo info_;
  int32_t max_model_len_;
  int32_t max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Sequence> sequences_;
  std::thread thread_;
  bool running_ = false;
  bool paused_ = false;
  std::atomic<int64_t> n_submitted_{0};
  std::atomic<int64_t> n_cancelled_{0};
};

}  // namespace brasa::testing
