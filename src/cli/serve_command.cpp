#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/backend_options.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "kernels/backend.h"
#include "models/model.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "templates/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace brasa::cli {

namespace {

struct ServeOptions {
  std::string model = "build/models/llama4-scout-tiny";  // what scripts/serve.sh generates
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;
  std::string served_model_name;
  int32_t max_num_seqs = 64;
  int32_t max_model_len = 0;
  std::string kv_cache_memory = "256M";
  std::string kv_cache_dtype = "f32";
  std::string kernels;  // empty: the fastest kernel set
  LoadOptions load;
  int threads = 0;
  int io_threads = 2;
  int32_t max_waiting = 256;
  double shutdown_grace_s = 30.0;
  uint64_t max_body_bytes = 8ull << 20;
  int64_t max_connections = 1024;
  std::string log_level = "info";
};

// Parses a byte count with an optional K, M or G suffix (powers of 1024).
int64_t parse_bytes(const std::string& text) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string suffix = text.substr(used);
  int64_t scale = 1;
  if (suffix == "K" || suffix == "KiB") scale = 1ll << 10;
  else if (suffix == "M" || suffix == "MiB") scale = 1ll << 20;
  else if (suffix == "G" || suffix == "GiB") scale = 1ll << 30;
  else if (!suffix.empty()) used = 0;
  if (used == 0 || value <= 0) {
    throw Error("--kv-cache-memory: invalid byte count '" + text + "' (expected e.g. 268435456, 256M or 2G)");
  }
  return value * scale;
}

// Blocks SIGINT and SIGTERM in this thread and every thread started after it,
// so the main thread alone receives them through sigwait().
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

bool wait_for_signal(const sigset_t& signals, double timeout_s) {
  timespec timeout{static_cast<time_t>(timeout_s), static_cast<long>((timeout_s - double(int64_t(timeout_s))) * 1e9)};
  return sigtimedwait(&signals, nullptr, &timeout) > 0;
}

void run_serve(const ServeOptions& options) {
  init_logging(options.log_level);
  sigset_t stop_signals = block_stop_signals();

  std::string api_key = options.api_key;
  if (api_key.empty()) {
    if (const char* from_env = std::getenv("BRASA_API_KEY")) api_key = from_env;
  }
  if (options.port < 0 || options.port > 65535) throw Error("--port must be between 0 and 65535, got " + std::to_string(options.port));
  EngineConfig engine_config;
  engine_config.max_num_seqs = options.max_num_seqs;
  engine_config.max_model_len = options.max_model_len;
  engine_config.kv_cache_bytes = parse_bytes(options.kv_cache_memory);
  engine_config.kv_cache_dtype = parse_kv_cache_dtype(options.kv_cache_dtype);
  engine_config.max_waiting = options.max_waiting;
  if (options.max_num_seqs < 1) throw Error("--max-num-seqs must be at least 1");
  if (options.max_model_len < 0) throw Error("--max-model-len must not be negative");
  // Every new sequence passes through the waiting queue, so a queue of 0 would reject every request with 503.
  if (options.max_waiting < 1) throw Error("--max-waiting must be at least 1, got " + std::to_string(options.max_waiting));
  if (options.max_body_bytes < 1) throw Error("--max-body-bytes must be at least 1, got 0");
  if (options.max_connections < 1) {
    throw Error("--max-connections must be at least 1, got " + std::to_string(options.max_connections));
  }

  spdlog::info("serve: model {}, listening on {}:{}, api key {}, max-num-seqs {}, max-model-len {}, kv-cache-memory {} MiB, "
               "threads {}, io-threads {}, max-waiting {}",
               options.model, options.host, options.port, api_key.empty() ? "not set" : "set", options.max_num_seqs,
               options.max_model_len == 0 ? std::string("model default") : std::to_string(options.max_model_len),
               engine_config.kv_cache_bytes >> 20, options.threads == 0 ? std::string("all cores") : std::to_string(options.threads),
               options.io_threads, options.max_waiting);

  // 1. Load the tokenizer, chat template and weights.
  auto load_start = std::chrono::steady_clock::now();
  spdlog::info("serve: loading tokenizer from {}", options.model);
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(options.model);
  std::unique_ptr<ChatTemplate> chat_template;
  try {
    chat_template = load_chat_template(options.model);
    spdlog::info("serve: chat template {}", chat_template->source().rfind("builtin:", 0) == 0 ? chat_template->source()
                                                                                                : "from the checkpoint");
  } catch (const std::exception& e) {
    spdlog::warn("serve: no usable chat template, /v1/chat/completions will reject requests: {}", e.what());
  }
  ThreadPool::set_global_threads(options.threads);
  std::unique_ptr<Backend> backend = make_backend(ThreadPool::global(), options.kernels);
  spdlog::info("serve: loading weights from {}", options.model);
  std::unique_ptr<Model> model = load_model(options.model, *backend, options.load);
  const ModelInfo& info = model->info();
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  spdlog::info("serve: loaded {} ({}, {:.1f} M parameters, {:.1f} M active, context {}) in {:.1f} s", info.name,
               info.architecture, double(info.n_params) / 1e6, double(info.n_active_params) / 1e6, info.max_context, load_s);

  // 2. Start the engine and the HTTP server.
  std::unique_ptr<Engine> engine;
  try {
    engine = make_engine(*model, engine_config);
  } catch (const std::bad_alloc&) {
    // NOTE: only sizes the allocator rejects at once land here. With Linux
    // overcommit a size just above free memory can pass and fail later.
    throw Error("cannot allocate the KV cache: --kv-cache-memory " + options.kv_cache_memory + " (" +
                std::to_string(engine_config.kv_cache_bytes) + " bytes) is more than this machine can provide; lower it");
  }
  engine->start();
  server::ServiceConfig service_config;
  service_config.served_model_name = options.served_model_name.empty() ? info.name : options.served_model_name;
  service_config.api_key = api_key;
  server::OpenAiService service(service_config, *engine, *tokenizer, chat_template.get());
  server::HttpServerOptions http_options;
  http_options.host = options.host;
  http_options.port = uint16_t(options.port);
  http_options.n_io_threads = options.io_threads;
  http_options.body_limit_bytes = options.max_body_bytes;
  http_options.max_connections = options.max_connections;
  auto http_server = std::make_unique<server::HttpServer>(
      http_options, [&service](server::HttpRequest request, std::shared_ptr<server::ResponseWriter> writer) {
        service.handle(std::move(request), std::move(writer));
      });
  http_server->start();
  spdlog::info("serve: model '{}' ready on http://{}:{} (max-model-len {}, max-connections {})",
               service_config.served_model_name, options.host, http_server->port(), engine->max_model_len(),
               http_server->max_connections());

  // 3. Wait for SIGINT or SIGTERM, then drain: running requests get the grace
  // period to finish, and a second signal cuts it short.
  while (!wait_for_signal(stop_signals, 3600.0)) {
  }
  spdlog::info("serve: stopping: no new requests, {:.0f} s for running ones to finish", options.shutdown_grace_s);
  service.set_draining(true);
  http_server->stop_accepting();
  auto drain_start = std::chrono::steady_clock::now();
  while (true) {
    EngineStats stats = engine->stats();
    if (stats.n_running + stats.n_waiting == 0) break;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
    if (elapsed >= options.shutdown_grace_s) {
      spdlog::warn("serve: grace period over, cancelling {} running and {} waiting sequences", stats.n_running, stats.n_waiting);
      break;
    }
    if (wait_for_signal(stop_signals, 0.05)) {
      spdlog::warn("serve: second stop signal, cancelling running requests");
      break;
    }
  }

  // Stopping the engine cancels what is left; streams get a final error event.
  engine->stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // lets the I/O threads write those events
  http_server->stop();
  // The engine's callbacks hold connections, so it goes before the server's I/O context.
  engine.reset();
  http_server.reset();
  spdlog::info("serve: stopped");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand("serve", "Serve a model over the OpenAI HTTP API");
  command->add_option("--model", options->model, "Checkpoint directory or .gguf file")->capture_default_str();
  command->add_option("--host", options->host, "Address to listen on")->capture_default_str();
  command->add_option("--port", options->port, "TCP port to listen on (0 picks a free one)")->capture_default_str();
  command->add_option("--api-key", options->api_key,
                      "Require 'Authorization: Bearer KEY' on /v1 routes (default: the BRASA_API_KEY environment variable)");
  command->add_option("--served-model-name", options->served_model_name,
                      "Model id clients send and /v1/models lists (default: the checkpoint's name)");
  command->add_option("--max-num-seqs", options->max_num_seqs, "Maximum number of sequences running at once")->capture_default_str();
  command->add_option("--max-model-len", options->max_model_len, "Context length in tokens (0: the model's)")->capture_default_str();
  command->add_option("--kv-cache-memory", options->kv_cache_memory, "KV cache size in bytes; K, M and G suffixes allowed")
      ->capture_default_str();
  add_backend_options(*command, options->kernels, options->kv_cache_dtype);
  add_load_options(*command, options->load);
  command->add_option("--threads", options->threads, "Compute threads (0: one per physical core)")->capture_default_str();
  command->add_option("--io-threads", options->io_threads, "HTTP I/O threads")->capture_default_str();
  command->add_option("--max-waiting", options->max_waiting, "Queued sequences beyond which requests get 503")->capture_default_str();
  command->add_option("--shutdown-grace", options->shutdown_grace_s, "Seconds running requests get to finish on SIGTERM")
      ->capture_default_str();
  command->add_option("--max-body-bytes", options->max_body_bytes, "Largest request body accepted; larger ones get 413")
      ->capture_default_str();
  command->add_option("--max-connections", options->max_connections,
                      "Open HTTP connections at most; further ones get 503 and are closed")
      ->capture_default_str();
  // spdlog 1.10 reads an unknown level name as "off", so a typo would silence every log line.
  command->add_option("--log-level", options->log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  command->callback([options] { run_serve(*options); });
}

}  // namespace brasa::cli
