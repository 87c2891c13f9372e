#include "server/openai_service.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <random>
#include <string_view>

#include <spdlog/spdlog.h>

#include "server/generation_job.h"
#include "structured/request_constraints.h"
#include "structured/tool_prompt.h"

namespace brasa::server {

using nlohmann::json;

namespace {

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string strip_query(const std::string& target) { return target.substr(0, target.find('?')); }

HttpResponse json_response(int status, const json& body) { return HttpResponse{status, "application/json", to_wire(body), {}}; }

}  // namespace

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Every byte of the longer string is visited whatever the contents.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

OpenAiService::OpenAiService(ServiceConfig config, Engine& engine, const Tokenizer& tokenizer,
                             const ChatTemplate* chat_template)
    : config_(std::move(config)), engine_(engine), tokenizer_(tokenizer), chat_template_(chat_template) {
  id_salt_ = std::random_device{}();
  id_salt_ = (id_salt_ << 32) ^ std::random_device{}();
  vocabulary_ = VocabularyIndex::from_tokenizer(tokenizer_);
}

std::string OpenAiService::next_id(const char* prefix) {
  uint64_t counter = ++request_counter_;
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%016llx%08llx", static_cast<unsigned long long>(id_salt_ ^ (counter * 0x9E3779B97F4A7C15ull)),
                static_cast<unsigned long long>(counter & 0xffffffffull));
  return std::string(prefix) + buffer;
}

void OpenAiService::reply_error(const std::shared_ptr<ResponseWriter>& writer, const ApiError& error) {
  metrics_.count_request(error.status);
  HttpResponse response = json_response(error.status, error_body(error));
  if (error.status == 503) response.headers.emplace_back("Retry-After", "1");
  writer->send(std::move(response));
}

void OpenAiService::handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  std::string path = strip_query(request.target);
  try {
    bool is_api = path.rfind("/v1/", 0) == 0;
    if (is_api && !config_.api_key.empty()) {
      // The scheme name is case-insensitive (RFC 7235), the key is not.
      const std::string prefix = "bearer ";
      const std::string& header = request.authorization;
      bool has_bearer = header.size() >= prefix.size() &&
                        std::equal(prefix.begin(), prefix.end(), header.begin(),
                                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
      std::string key = has_bearer ? header.substr(prefix.size()) : std::string();
      if (!has_bearer || !constant_time_equal(key, config_.api_key)) {
        throw ApiException(ApiError{401, "Invalid or missing API key. Send it as 'Authorization: Bearer KEY'.",
                                    "invalid_request_error", "", "invalid_api_key"});
      }
    }

    // Each route with the method it accepts; another method on a known route is a 405.
    struct Route {
      const char* path;
      const char* method;
    };
    static const Route kRoutes[] = {{"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"},
                                    {"/v1/models", "GET"},           {"/v1/models/{model}", "GET"},
                                    {"/health", "GET"},               {"/metrics", "GET"}};
    // A model id may contain slashes (org/name), so everything after the prefix is the id.
    static const std::string kModelPrefix = "/v1/models/";
    const bool is_model_path = path.size() > kModelPrefix.size() && path.compare(0, kModelPrefix.size(), kModelPrefix) == 0;
    const std::string route_path = is_model_path ? "/v1/models/{model}" : path;
    const Route* route = nullptr;
    for (const Route& candidate : kRoutes) {
      if (route_path == candidate.path) route = &candidate;
    }
    if (!route) throw ApiException(ApiError{404, "Route " + path + " not found.", "invalid_request_error", "", "not_found"});
    // A HEAD request gets the GET response, and the HTTP layer leaves out its body (RFC 9110, 9.3.2).
    const bool is_get_route = std::string_view(route->method) == "GET";
    const bool method_allowed = request.method == route->method || (is_get_route && request.method == "HEAD");
    if (!method_allowed) {
      const std::string allowed = is_get_route ? "GET, HEAD" : route->method;
      ApiError error{405, "Method " + request.method + " is not allowed on " + path + "; use " + allowed + ".",
                     "invalid_request_error", "", "method_not_allowed"};
      metrics_.count_request(405);
      HttpResponse response = json_response(405, error_body(error));
      response.headers.emplace_back("Allow", allowed);
      writer->send(std::move(response));
      return;
    }

    if (path == "/health") {
      metrics_.count_request(200);
      writer->send(json_response(200, json{{"status", "ok"}}));
    } else if (path == "/metrics") {
      // Rendered before this scrape is counted, so a scrape does not count itself.
      std::string text = metrics_.render(engine_.stats());
      metrics_.count_request(200);
      writer->send(HttpResponse{200, "text/plain; version=0.0.4", std::move(text), {}});
    } else if (path == "/v1/models") {
      handle_models(writer);
    } else if (is_model_path) {
      handle_model(path.substr(kModelPrefix.size()), writer);
    } else {
      if (draining_) {
        throw ApiException(ApiError{503, "The server is shutting down.", "server_error", "", "shutting_down"});
      }
      if (path == "/v1/chat/completions") handle_chat(request, writer);
      else handle_completion(request, writer);
    }
  } catch (const ApiException& e) {
    if (e.error().status >= 500) spdlog::warn("request from {} to {}: {}", request.remote, path, e.error().message);
    else spdlog::debug("request from {} to {}: {} {}", request.remote, path, e.error().status, e.error().message);
    reply_error(writer, e.error());
  }
}

json OpenAiService::model_object() const {
  return json{{"id", config_.served_model_name},
              {"object", "model"},
              {"created", unix_seconds()},
              {"owned_by", "brasa"},
              {"max_model_len", engine_.max_model_len()}};
}

void OpenAiService::handle_models(const std::shared_ptr<ResponseWriter>& writer) {
  metrics_.count_request(200);
  writer->send(json_response(200, json{{"object", "list"}, {"data", json::array({model_object()})}}));
}

void OpenAiService::handle_model(const std::string& id, const std::shared_ptr<ResponseWriter>& writer) {
  check_model(id);
  metrics_.count_request(200);
  writer->send(json_response(200, model_object()));
}

void OpenAiService::check_model(const std::string& model) const {
  if (model != config_.served_model_name) {
    throw ApiException(ApiError{404, "The model '" + model + "' does not exist; this server serves '" +
                                         config_.served_model_name + "'.",
                                "invalid_request_error", "model", "model_not_found"});
  }
}

void OpenAiService::check_logit_bias(const SamplingParams& sampling) const {
  for (const auto& [token, bias] : sampling.logit_bias) {
    if (token < 0 || token >= tokenizer_.vocab_size()) {
      throw invalid_field("logit_bias", "Token id " + std::to_string(token) + " in 'logit_bias' is outside the vocabulary of " +
                                            std::to_string(tokenizer_.vocab_size()) + " tokens.");
    }
  }
}

int32_t OpenAiService::check_lengths(const CommonRequest& request, size_t n_prompt_tokens, int32_t default_max_tokens,
                                     const char* prompt_field) const {
  int64_t max_len = engine_.max_model_len();
  if (n_prompt_tokens == 0) throw invalid_field(prompt_field, std::string("'") + prompt_field + "' is empty.");
  if (int64_t(n_prompt_tokens) >= max_len) {
    throw ApiException(ApiError{400, "The prompt has " + std::to_string(n_prompt_tokens) +
                                         " tokens, but this server's maximum context length is " + std::to_string(max_len) +
                                         " (the model's context length, capped by --max-model-len and by what"
                                         " --kv-cache-memory fits for one sequence).",
                                "invalid_request_error", prompt_field, "context_length_exceeded"});
  }
  int64_t room = max_len - int64_t(n_prompt_tokens);
  if (!request.max_tokens) return int32_t(default_max_tokens > 0 ? std::min<int64_t>(default_max_tokens, room) : room);
  if (*request.max_tokens > room) {
    throw ApiException(ApiError{400, "max_tokens is " + std::to_string(*request.max_tokens) + ", but the prompt has " +
                                         std::to_string(n_prompt_tokens) + " tokens and the maximum context length is " +
                                         std::to_string(max_len) + ", leaving " + std::to_string(room) + ".",
                                "invalid_request_error", "max_tokens", "context_length_exceeded"});
  }
  return *request.max_tokens;
}

JobOptions OpenAiService::job_options(ApiKind kind, const char* id_prefix, const CommonRequest& request) {
  JobOptions options;
  options.kind = kind;
  options.id = next_id(id_prefix);
  options.model = config_.served_model_name;
  options.created = unix_seconds();
  options.stream = request.stream;
  options.include_usage = request.include_usage;
  options.stop = request.stop;
  options.logprobs = request.sampling.logprobs;
  options.prompt_logprobs = request.sampling.prompt_logprobs;
  return options;
}

std::vector<GenerationRequest> OpenAiService::make_sequences(const CommonRequest& request, int32_t max_tokens,
                                                             const std::vector<int32_t>& prompt, int n,
                                                             const TokenConstraint* constraint) const {
  std::vector<GenerationRequest> sequences;
  for (int i = 0; i < n; ++i) {
    GenerationRequest sequence;
    sequence.prompt = prompt;
    sequence.max_tokens = max_tokens;
    sequence.sampling = request.sampling;
    // A seeded request with n > 1 would otherwise give n identical choices.
    if (sequence.sampling.seed) sequence.sampling.seed = *sequence.sampling.seed + uint64_t(i);
    sequence.stop_token_ids = tokenizer_.eos_ids();
    sequence.ignore_eos = request.ignore_eos;
    if (constraint) sequence.constraint = constraint->clone_initial();
    sequences.push_back(std::move(sequence));
  }
  return sequences;
}

void OpenAiService::handle_chat(const HttpRequest& http_request, const std::shared_ptr<ResponseWriter>& writer) {
  ChatRequest request = parse_chat_request(http_request.body);
  check_model(request.model);
  check_logit_bias(request.sampling);
  if (!chat_template_) throw invalid_field("messages", "This model has no chat template; use /v1/completions.");

  // response_format and a forced tool choice become a constraint on every choice.
  StructuredOutputRequest structured;
  structured.response_format = request.response_format;
  structured.tools = request.tools;
  structured.tool_choice = request.tool_choice;
  // ChatRequest does not carry parallel_tool_calls, so it is read from the body,
  // which parse_chat_request has already accepted as a JSON object.
  json body = json::parse(http_request.body, nullptr, false);
  if (body.is_object() && body.contains("parallel_tool_calls")) structured.parallel_tool_calls = body["parallel_tool_calls"];
  StructuredOutputPlan plan = plan_structured_output(structured, vocabulary_);
  if (plan.error) throw invalid_field(plan.error->param, plan.error->message);

  // A template that reads `tools` renders them itself. For one that does not, the
  // tools go into the system message in the Llama 4 zero-shot convention, which
  // also rewrites earlier calls and tool results into forms such a template renders.
  ChatTemplateInputs inputs;
  inputs.messages = request.messages;
  bool has_tools = plan.tools.is_array() && !plan.tools.empty();
  if (has_tools && chat_template_->supports_tools()) {
    inputs.tools = plan.tools;
  } else if (has_tools) {
    inputs.messages = add_tool_system_prompt(request.messages, plan.tools);
  }
  // NOTE: with tool_choice "none" or no tools, earlier tool_calls and "tool" messages
  // reach such a template unconverted.
  inputs.add_generation_prompt = true;
  if (tokenizer_.bos_id() >= 0) inputs.bos_token = tokenizer_.token_bytes(tokenizer_.bos_id());
  if (!tokenizer_.eos_ids().empty()) inputs.eos_token = tokenizer_.token_bytes(tokenizer_.eos_ids().front());
  std::string prompt_text;
  try {
    prompt_text = chat_template_->render(inputs);
  } catch (const TemplateError& e) {
    throw invalid_field("messages", std::string("The chat template rejected the messages: ") + e.what());
  }
  // The template writes BOS and the role markers itself, so they are parsed as special tokens.
  std::vector<int32_t> prompt = tokenizer_.encode(prompt_text, false, true);
  int32_t max_tokens = check_lengths(request, prompt.size(), 0, "messages");

  JobOptions options = job_options(ApiKind::Chat, "chatcmpl-", request);
  options.has_tools = plan.expect_tool_calls;
  options.tool_call_policy = plan.tool_call_policy;

  auto job = std::make_shared<GenerationJob>(options, engine_, tokenizer_, metrics_, writer);
  for (int i = 0; i < request.n; ++i) job->add_choice(0, prompt);
  auto sequences = make_sequences(request, max_tokens, prompt, request.n, plan.constraint.get());
  if (auto error = job->start(std::move(sequences))) throw ApiException(*error);
}

void OpenAiService::handle_completion(const HttpRequest& http_request, const std::shared_ptr<ResponseWriter>& writer) {
  CompletionRequest request = parse_completion_request(http_request.body);
  check_model(request.model);
  check_logit_bias(request.sampling);

  // Tokenize and check every prompt before any sequence is submitted.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int32_t> max_tokens;
  for (const CompletionPrompt& item : request.prompts) {
    std::vector<int32_t> prompt = item.is_token_ids ? item.token_ids : tokenizer_.encode(item.text, true, true);
    for (int32_t token : prompt) {
      if (token >= tokenizer_.vocab_size()) {
        throw invalid_field("prompt", "Token id " + std::to_string(token) + " in 'prompt' is outside the vocabulary of " +
                                          std::to_string(tokenizer_.vocab_size()) + " tokens.");
      }
    }
    max_tokens.push_back(check_lengths(request, prompt.size(), 16, "prompt"));
    prompts.push_back(std::move(prompt));
  }
  const int32_t n_candidates = request.best_of.value_or(request.n);
  if (prompts.size() * size_t(n_candidates) > size_t(kMaxChoices)) {
    const char* field = request.best_of ? "best_of" : "n";
    throw invalid_field(field, std::string("The number of prompts times '") + field + "' must be at most " +
                                   std::to_string(kMaxChoices) + ".");
  }

  JobOptions options = job_options(ApiKind::Completion, "cmpl-", request);
  options.echo = request.echo;
  options.n = request.n;
  if (n_candidates > request.n) options.best_of = n_candidates;

  auto job = std::make_shared<GenerationJob>(options, engine_, tokenizer_, metrics_, writer);
  std::vector<GenerationRequest> sequences;
  for (size_t p = 0; p < prompts.size(); ++p) {
    CommonRequest common = request;
    // max_tokens 0 only scores the prompt, and the engine needs prompt_logprobs for that.
    if (max_tokens[p] == 0 && common.sampling.prompt_logprobs < 0) common.sampling.prompt_logprobs = 0;
    // Ranking best_of candidates needs the logprob of every sampled token; the
    // response still shows logprobs only when the request asked for them.
    if (options.best_of > 0) common.sampling.logprobs = std::max(common.sampling.logprobs, 0);
    for (int i = 0; i < n_candidates; ++i) job->add_choice(int32_t(p), prompts[p]);
    for (auto& sequence : make_sequences(common, max_tokens[p], prompts[p], n_candidates)) sequences.push_back(std::move(sequence));
  }
  if (auto error = job->start(std::move(sequences))) throw ApiException(*error);
}

}  // namespace brasa::server
