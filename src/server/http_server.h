#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace brasa::server {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query
  std::string body;
  std::string authorization;  // the Authorization header, empty when absent
  std::string remote;         // peer address, for logs
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After, Allow)
};

// The reply side of one request. Every method may be called from any thread:
// each posts its work to the connection's strand. Calls after the client has
// gone are ignored.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // Sends a whole response; the request is then complete.
  virtual void send(HttpResponse response) = 0;

  // Starts a server-sent event stream (200, text/event-stream, chunked).
  virtual void begin_stream() = 0;
  // Sends raw event bytes, e.g. "data: {...}\n\n".
  virtual void write_event(std::string data) = 0;
  // Ends the stream; the request is then complete.
  virtual void end_stream() = 0;

  // Runs fn on the connection's strand, serialized with the I/O of this request.
  virtual void post(std::function<void()> fn) = 0;

  // Sets the handler run (on the strand) when the client disconnects before
  // the request is complete. Set it before posting work that may complete it.
  virtual void on_disconnect(std::function<void()> handler) = 0;
};

using RequestHandler = std::function<void(HttpRequest, std::shared_ptr<ResponseWriter>)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;                     // 0 picks a free port
  int n_io_threads = 2;
  uint64_t body_limit_bytes = 8ull << 20;   // larger bodies get 413
  uint32_t header_limit_bytes = 16 << 10;   // larger headers get 431
  std::chrono::seconds idle_timeout{60};    // keep-alive and slow-request read timeout
  // A client that leaves this much output unread is disconnected, so a stalled
  // reader cannot make the server buffer without bound.
  size_t max_pending_write_bytes = 16ull << 20;
  // Open connections at most. A connection past the cap gets a 503 and is
  // closed, so a flood of connections cannot use up the file descriptors.
  // start() lowers the cap when the process's descriptor limit cannot hold it.
  int64_t max_connections = 1024;
};

// HTTP/1.1 with keep-alive on Boost.Beast: a few I/O threads run every
// connection asynchronously, so idle and streaming connections cost a socket
// and buffers, not a thread.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the I/O threads. Throws brasa::Error when the
  // address cannot be bound.
  void start();
  uint16_t port() const;  // the bound port

  // Closes the listening socket; open connections keep working.
  void stop_accepting();
  // Closes every connection and joins the I/O threads.
  void stop();

  int64_t open_connections() const;
  // The connection cap in effect: options.max_connections, or less when the
  // descriptor limit is lower. Valid after start().
  int64_t max_connections() const;

  struct Impl;  // defined in http_server.cpp, where connections reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace brasa::server
