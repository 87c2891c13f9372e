#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "structured/vocabulary.h"
#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/protocol.h"
#include "templates/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace brasa::server {

struct ServiceConfig {
  std::string served_model_name;  // the id clients send as `model`
  std::string api_key;            // empty: no authentication
};

// The OpenAI-compatible routes: /v1/chat/completions, /v1/completions,
// /v1/models, /health and /metrics. Turns requests into engine sequences.
class OpenAiService {
 public:
  // `chat_template` may be null, and then chat requests get a 400.
  OpenAiService(ServiceConfig config, Engine& engine, const Tokenizer& tokenizer, const ChatTemplate* chat_template);

  void handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer);

  // While draining (at shutdown) new generation requests get 503.
  void set_draining(bool draining) { draining_ = draining; }

  ServerMetrics& metrics() { return metrics_; }

 private:
  void handle_chat(const HttpRequest& request, const std::shared_ptr<ResponseWriter>& writer);
  void handle_completion(const HttpRequest& request, const std::shared_ptr<ResponseWriter>& writer);
  void handle_models(const std::shared_ptr<ResponseWriter>& writer);
  // GET /v1/models/{model}: the model object, or a 404 when the id is not the served name.
  void handle_model(const std::string& id, const std::shared_ptr<ResponseWriter>& writer);
  nlohmann::json model_object() const;

  // Checks the fields that depend on the model and returns max_tokens to use.
  int32_t check_lengths(const CommonRequest& request, size_t n_prompt_tokens, int32_t default_max_tokens,
                        const char* prompt_field) const;
  void check_logit_bias(const SamplingParams& sampling) const;
  void check_model(const std::string& model) const;
  std::vector<GenerationRequest> make_sequences(const CommonRequest& request, int32_t max_tokens,
                                                const std::vector<int32_t>& prompt, int n,
                                                const TokenConstraint* constraint = nullptr) const;

  void reply_error(const std::shared_ptr<ResponseWriter>& writer, const ApiError& error);
  std::string next_id(const char* prefix);
  // The options both APIs share, with a fresh id that starts with id_prefix.
  JobOptions job_options(ApiKind kind, const char* id_prefix, const CommonRequest& request);

  ServiceConfig config_;
  Engine& engine_;
  const Tokenizer& tokenizer_;
  const ChatTemplate* chat_template_;
  ServerMetrics metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> request_counter_{0};
  uint64_t id_salt_ = 0;
  std::shared_ptr<const VocabularyIndex> vocabulary_;  // for structured-output constraints
};

// Compares two strings in time that depends only on their lengths, so a
// wrong API key reveals nothing about the right one through timing.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace brasa::server
