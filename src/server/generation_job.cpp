#include "server/generation_job.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "server/response_format.h"
#include "structured/tool_call_parser.h"

namespace brasa::server {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string sse(const nlohmann::json& value) { return "data: " + to_wire(value) + "\n\n"; }

}  // namespace

GenerationJob::GenerationJob(JobOptions options, Engine& engine, const Tokenizer& tokenizer, ServerMetrics& metrics,
                             std::shared_ptr<ResponseWriter> writer)
    : options_(std::move(options)),
      engine_(engine),
      tokenizer_(tokenizer),
      metrics_(metrics),
      writer_(std::move(writer)),
      arrival_(std::chrono::steady_clock::now()) {}

void GenerationJob::add_choice(int32_t prompt_index, std::vector<int32_t> prompt) {
  ChoiceState choice;
  choice.index = int32_t(choices_.size());
  choice.prompt_index = prompt_index;
  choice.engine_id = options_.id + "-" + std::to_string(choice.index);
  choice.prompt = std::move(prompt);
  choice.n_prompt_tokens = int32_t(choice.prompt.size());
  choice.stop_matcher = StopMatcher(options_.stop);
  choice.tool_stream = ToolCallStreamParser(options_.tool_call_policy);
  choices_.push_back(std::move(choice));
}

std::optional<ApiError> GenerationJob::start(std::vector<GenerationRequest> requests) {
  auto self = shared_from_this();
  writer_->on_disconnect([self] { self->on_client_gone(); });

  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].id = choices_[i].engine_id;
    // The engine calls back on its own thread; the work moves to the connection's strand.
    UpdateCallback callback = [self, i](const GenerationUpdate& update) {
      self->writer_->post([self, i, update] { self->on_update(i, update); });
    };
    SubmitResult result = engine_.submit(std::move(requests[i]), std::move(callback));
    if (result == SubmitResult::Accepted) {
      ++n_open_;
      continue;
    }

    // Withdraw the choices already queued; their final updates arrive and are ignored.
    done_ = true;
    for (size_t j = 0; j < i; ++j) engine_.cancel(choices_[j].engine_id);
    if (result == SubmitResult::QueueFull) {
      return ApiError{503, "The server is overloaded: the request queue is full. Retry later.", "server_error", "",
                      "queue_full"};
    }
    if (result == SubmitResult::Invalid) {
      spdlog::warn("request {}: the engine rejected sequence {} as invalid", options_.id, choices_[i].engine_id);
      return ApiError{400, "The engine rejected the request as invalid (empty prompt or a token id outside the vocabulary).",
                      "invalid_request_error", options_.kind == ApiKind::Chat ? "messages" : "prompt", "invalid_value"};
    }
    return ApiError{400, "The prompt plus max_tokens exceeds the KV cache capacity of this server.",
                    "invalid_request_error", options_.kind == ApiKind::Chat ? "messages" : "prompt", "context_length_exceeded"};
  }

  // Updates run on this strand after the handler returns, so the stream opens before any chunk.
  if (options_.stream) writer_->begin_stream();
  return std::nullopt;
}

void GenerationJob::on_client_gone() {
  if (done_) return;
  client_gone_ = true;
  for (ChoiceState& choice : choices_) {
    if (!choice.finished) engine_.cancel(choice.engine_id);
  }
}

void GenerationJob::on_update(size_t choice_index, const GenerationUpdate& update) {
  ChoiceState& choice = choices_[choice_index];
  if (update.finished) --n_open_;
  if (done_ || choice.finished || client_gone_) {
    if (n_open_ == 0 && !done_) complete();
    return;
  }

  if (!update.prompt_logprobs.empty()) choice.prompt_logprobs = update.prompt_logprobs;
  if (update.n_prompt_tokens > 0) choice.n_prompt_tokens = update.n_prompt_tokens;
  choice.n_cached_tokens = std::max(choice.n_cached_tokens, update.n_cached_tokens);

  // Timing: the first token of the request, then the gaps between tokens of a sequence.
  auto now = std::chrono::steady_clock::now();
  if (!update.tokens.empty()) {
    if (!first_token_seen_) {
      first_token_seen_ = true;
      metrics_.time_to_first_token.observe(seconds_since(arrival_));
    } else if (choice.last_token_time.time_since_epoch().count() != 0) {
      double gap = std::chrono::duration<double>(now - choice.last_token_time).count();
      for (size_t k = 0; k < update.tokens.size(); ++k) metrics_.inter_token_latency.observe(gap / double(update.tokens.size()));
    }
    choice.last_token_time = now;
  }

  size_t first_new_token = choice.tokens.size();
  std::string delta;
  size_t n_new_tokens = 0;
  append_tokens(choice, update.tokens, delta, n_new_tokens);

  if (choice.stop_matcher.stopped()) {
    // A stop string ended the text; the sequence may still be running.
    choice.cancelled_by_server = true;
    engine_.cancel(choice.engine_id);
    send_delta(choice, delta, first_new_token);
    finish_choice(choice, "stop");
  } else if (update.finished) {
    delta += choice.stop_matcher.push(choice.utf8.flush());
    delta += choice.stop_matcher.flush();
    send_delta(choice, delta, first_new_token);
    switch (update.finish_reason) {
      case FinishReason::Stop:
        finish_choice(choice, "stop");
        break;
      case FinishReason::Length:
      case FinishReason::None:
        finish_choice(choice, "length");
        break;
      case FinishReason::Cancelled:
        // Not cancelled by this job, so the engine is shutting down.
        error_ = ApiError{503, "The server is shutting down; the request was cancelled.", "server_error", "", "cancelled"};
        finish_choice(choice, "");
        break;
      case FinishReason::Error:
        error_ = ApiError{500, "Generation failed: " + update.error, "server_error", "", "engine_error"};
        finish_choice(choice, "");
        break;
    }
  } else {
    send_delta(choice, delta, first_new_token);
  }

  if (n_open_ == 0 || std::all_of(choices_.begin(), choices_.end(), [](const ChoiceState& c) { return c.finished; })) {
    // Every choice has its final text; sequences cancelled for a stop string may
    // still report, but their output no longer changes the response.
    complete();
  }
}

void GenerationJob::append_tokens(ChoiceState& choice, const std::vector<SampledToken>& tokens, std::string& delta,
                                  size_t& n_new_tokens) {
  for (const SampledToken& sampled : tokens) {
    choice.tokens.push_back(sampled);
    ++n_new_tokens;
    // Special tokens (EOS, template markers) are not part of the text.
    if (tokenizer_.is_special(sampled.token)) continue;
    delta += choice.stop_matcher.push(choice.utf8.push(tokenizer_.token_bytes(sampled.token)));
    if (choice.stop_matcher.stopped()) break;
  }
}

void GenerationJob::send_delta(ChoiceState& choice, const std::string& delta, size_t first_new_token) {
  choice.text += delta;
  if (!options_.stream) return;

  std::span<const SampledToken> tokens(choice.tokens.data() + first_new_token, choice.tokens.size() - first_new_token);
  if (options_.kind == ApiKind::Chat) {
    if (!choice.started) {
      choice.started = true;
      writer_->write_event(sse(chat_chunk(*this, choice, true, "", {}, "")));
    }
    if (!options_.has_tools) {
      send_chat_delta(choice, delta, {}, tokens);
      return;
    }

    // The parser holds back text that may start a call, so no call syntax reaches content.
    StreamDelta split = choice.tool_stream.feed(delta);
    send_chat_delta(choice, split.content, std::move(split.tool_calls), tokens);
    return;
  }

  if (!choice.started) {
    choice.started = true;
    if (options_.echo) {
      std::string prompt_text = echo_prompt_text(tokenizer_, choice.prompt);
      writer_->write_event(sse(completion_chunk(*this, choice, prompt_text, {}, "")));
    }
  }
  if (!delta.empty() || (!tokens.empty() && options_.logprobs >= 0)) {
    writer_->write_event(sse(completion_chunk(*this, choice, delta, tokens, "")));
  }
}

void GenerationJob::send_chat_delta(ChoiceState& choice, const std::string& content, std::vector<ToolCallDelta> calls,
                                    std::span<const SampledToken> tokens) {
  if (!content.empty() || (!tokens.empty() && options_.logprobs >= 0)) {
    writer_->write_event(sse(chat_chunk(*this, choice, false, content, tokens, "")));
  }
  if (calls.empty()) return;
  for (const ToolCallDelta& call : calls) {
    if (!call.id.empty()) ++choice.n_tool_calls_sent;
  }
  writer_->write_event(sse(chat_tool_call_chunk(*this, choice, calls)));
}

void GenerationJob::finish_choice(ChoiceState& choice, const std::string& reason) {
  choice.finished = true;
  choice.finish_reason = reason;
  if (!options_.stream || reason.empty()) return;
  if (options_.kind == ApiKind::Chat) {
    if (options_.has_tools) {
      // Text held back as a possible call start, and a call still open, go out before the end.
      StreamDelta rest = choice.tool_stream.finish();
      send_chat_delta(choice, rest.content, std::move(rest.tool_calls), {});
      // A call that max_tokens cut off still went out, with "{}" arguments
      // that need not match its schema. Such a choice keeps "length", as the
      // non-streaming response does, so clients do not run the truncated call.
      const bool cut_off = reason == "length" && parse_tool_calls(choice.text).tool_calls.empty();
      if (choice.n_tool_calls_sent > 0 && !cut_off) choice.finish_reason = "tool_calls";
    }
    writer_->write_event(sse(chat_chunk(*this, choice, false, "", {}, choice.finish_reason)));
  } else {
    writer_->write_event(sse(completion_chunk(*this, choice, "", {}, reason)));
  }
}

void GenerationJob::complete() {
  if (done_) return;
  done_ = true;

  int64_t n_generated = 0;
  for (const ChoiceState& choice : choices_) n_generated += int64_t(choice.tokens.size());
  int64_t n_prompt = usage_json(*this)["prompt_tokens"].get<int64_t>();
  int64_t n_cached = usage_json(*this)["prompt_tokens_details"]["cached_tokens"].get<int64_t>();
  double latency = seconds_since(arrival_);
  metrics_.add_tokens(n_prompt, n_generated);
  metrics_.e2e_request_latency.observe(latency);

  // 499 is nginx's status for a client that closed the request; it only appears in metrics and logs.
  int status = client_gone_ ? 499 : (error_ ? error_->status : 200);
  metrics_.count_request(status);
  spdlog::info("request {}: status {}, {} choices, {} prompt tokens ({} cached), {} generated tokens, {:.3f} s",
               options_.id, status, choices_.size(), n_prompt, n_cached, n_generated, latency);
  if (client_gone_) return;

  if (error_) {
    fail(*error_);
    return;
  }
  if (options_.best_of > options_.n) keep_best_choices();
  if (options_.stream) {
    if (options_.include_usage) writer_->write_event(sse(usage_chunk(*this)));
    writer_->write_event("data: [DONE]\n\n");
    writer_->end_stream();
    return;
  }
  nlohmann::json body = options_.kind == ApiKind::Chat ? chat_response(*this) : completion_response(*this);
  writer_->send(HttpResponse{200, "application/json", to_wire(body), {}});
}

void GenerationJob::keep_best_choices() {
  auto cumulative_logprob = [](const ChoiceState& choice) {
    double sum = 0.0;
    for (const SampledToken& token : choice.tokens) sum += double(token.logprob);
    return sum;
  };

  // The choices of one prompt are adjacent, in the order add_choice() saw them.
  std::vector<ChoiceState> best_choices;
  size_t group_begin = 0;
  while (group_begin < choices_.size()) {
    size_t group_end = group_begin;
    while (group_end < choices_.size() && choices_[group_end].prompt_index == choices_[group_begin].prompt_index) ++group_end;

    std::vector<std::pair<double, size_t>> ranked;
    for (size_t i = group_begin; i < group_end; ++i) ranked.emplace_back(cumulative_logprob(choices_[i]), i);
    // Ties keep the earlier candidate.
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t rank = 0; rank < ranked.size(); ++rank) {
      ChoiceState& candidate = choices_[ranked[rank].second];
      if (rank < size_t(options_.n)) {
        best_choices.push_back(std::move(candidate));
      } else {
        n_discarded_tokens_ += int64_t(candidate.tokens.size());
      }
    }
    group_begin = group_end;
  }
  for (size_t i = 0; i < best_choices.size(); ++i) best_choices[i].index = int32_t(i);
  choices_ = std::move(best_choices);
}

void GenerationJob::fail(const ApiError& error) {
  if (options_.stream) {
    // The status line is already out, so the error travels as a final event.
    writer_->write_event(sse(error_body(error)));
    writer_->write_event("data: [DONE]\n\n");
    writer_->end_stream();
    return;
  }
  writer_->send(HttpResponse{error.status, "application/json", to_wire(error_body(error)), {}});
}

}  // namespace brasa::server
