#include "server/http_server.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <optional>

#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "server/api_error.h"

namespace brasa::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// While a request is handled, the connection keeps reading so it notices a
// client that goes away. Bytes of a pipelined next request are kept up to this size.
constexpr size_t kMaxReadAheadBytes = 64 << 10;

// Connections past the cap that are still being sent their 503. Beyond this
// many, further ones are closed without a reply, so rejecting costs bounded descriptors.
constexpr int64_t kMaxRejectedInFlight = 64;

// Descriptors kept free for everything but connections: the listening socket,
// epoll, log files and the checkpoint files that loading opens.
constexpr int64_t kReservedDescriptors = 64;

// How long a rejected connection may take to read its 503.
constexpr std::chrono::seconds kRejectTimeout{2};

std::string status_line(int status) {
  std::string reason(http::obsolete_reason(http::int_to_status(unsigned(status))));
  if (reason.empty() || reason == "<unknown-status>") reason = "Unknown";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  RequestHandler handler;
  std::atomic<int64_t> n_connections{0};
  std::atomic<int64_t> n_rejected_in_flight{0};
  int64_t max_connections = 0;  // the cap in effect, set by start()
  std::chrono::steady_clock::time_point last_reject_warning{};
  uint64_t n_rejected_since_warning = 0;
  std::vector<std::thread> threads;
  asio::io_context io;
  tcp::acceptor acceptor{asio::make_strand(io)};
  uint16_t bound_port = 0;
  asio::steady_timer accept_retry{io};
  std::chrono::steady_clock::time_point last_accept_warning{};

  void accept();
  void reject(tcp::socket socket);
  void fit_connection_cap();
};

namespace {

class Session;

// The ResponseWriter of one request. It forwards to the session only while
// that request is the current one, so a late call cannot touch the next request.
class RequestWriter : public ResponseWriter {
 public:
  RequestWriter(std::shared_ptr<Session> session, uint64_t serial) : session_(std::move(session)), serial_(serial) {}
  void send(HttpResponse response) override;
  void begin_stream() override;
  void write_event(std::string data) override;
  void end_stream() override;
  void post(std::function<void()> fn) override;
  void on_disconnect(std::function<void()> handler) override;

 private:
  std::shared_ptr<Session> session_;
  uint64_t serial_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    ++server_.n_connections;
    beast::error_code ec;
    // Stream chunks are small, and Nagle's algorithm would delay each one until the client's delayed ACK.
    stream_.socket().set_option(tcp::no_delay(true), ec);
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
  ~Session() { --server_.n_connections; }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  // The methods below run on the strand.

  bool is_current(uint64_t serial) const { return !closed_ && handling_ && serial == serial_; }

  void send(uint64_t serial, HttpResponse response) {
    if (!is_current(serial) || response_started_) return;
    response_started_ = true;
    request_done_ = true;
    std::string out = status_line(response.status);
    out += "Content-Type: " + response.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
    out += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    // A response to HEAD has the headers of the GET response, Content-Length included, and no body.
    if (!head_request_) out += response.body;
    enqueue(std::move(out));
  }

  void begin_stream(uint64_t serial) {
    if (!is_current(serial) || response_started_) return;
    response_started_ = true;
    streaming_ = true;
    std::string out = status_line(200);
    out += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
    out += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    enqueue(std::move(out));
  }

  void write_event(uint64_t serial, std::string data) {
    if (!is_current(serial) || !streaming_ || request_done_ || data.empty()) return;
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    enqueue(size + data + "\r\n");
  }

  void end_stream(uint64_t serial) {
    if (!is_current(serial) || !streaming_ || request_done_) return;
    request_done_ = true;
    enqueue("0\r\n\r\n");
  }

  void set_disconnect_handler(uint64_t serial, std::function<void()> handler) {
    if (serial == serial_ && handling_) disconnect_handler_ = std::move(handler);
  }

 private:
  void read_request() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(server_.options.body_limit_bytes);
    parser_->header_limit(server_.options.header_limit_bytes);
    stream_.expires_after(server_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (closed_) return;
    if (ec == http::error::body_limit) {
      reject_and_close(413, "The request body exceeds the limit of " +
                                std::to_string(server_.options.body_limit_bytes) + " bytes.");
      return;
    }
    if (ec == http::error::header_limit) {
      reject_and_close(431, "The request headers exceed the limit of " +
                                std::to_string(server_.options.header_limit_bytes) + " bytes.");
      return;
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      close();
      return;
    }
    if (ec) {
      // A request that is not valid HTTP leaves the stream out of sync, so close after replying.
      reject_and_close(400, "Malformed HTTP request: " + ec.message() + ".");
      return;
    }

    stream_.expires_never();
    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    head_request_ = message.method() == http::verb::head;
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.body = std::move(message.body());
    if (auto it = message.find(http::field::authorization); it != message.end()) request.authorization = std::string(it->value());
    request.remote = remote_;
    parser_.reset();

    ++serial_;
    handling_ = true;
    response_started_ = false;
    streaming_ = false;
    request_done_ = false;
    disconnect_handler_ = nullptr;
    watch_for_disconnect();

    auto writer = std::make_shared<RequestWriter>(shared_from_this(), serial_);
    try {
      server_.handler(std::move(request), writer);
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed for {}: {}", remote_, e.what());
      send(serial_, HttpResponse{500, "application/json",
                                 R"({"error":{"message":"Internal server error.","type":"server_error","param":null,"code":null}})",
                                 {}});
    }
  }

  // Replies to a request that could not be parsed; the connection then closes.
  void reject_and_close(int status, const std::string& message) {
    std::string body = to_wire(error_body(ApiError{status, message, "invalid_request_error", "", ""}));
    std::string out = status_line(status);
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    out += body;
    handling_ = true;
    keep_alive_ = false;
    request_done_ = true;
    ++serial_;
    stream_.expires_after(std::chrono::seconds(10));
    enqueue(std::move(out));
  }

  // Reads while a request is handled: a read error means the client is gone.
  void watch_for_disconnect() {
    if (watching_ || closed_ || buffer_.size() >= kMaxReadAheadBytes) return;
    watching_ = true;
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->on_watch(ec, n);
    });
  }

  void on_watch(beast::error_code ec, size_t n) {
    watching_ = false;
    if (!ec) buffer_.commit(n);
    if (closed_) return;
    if (!handling_) {
      read_request();  // the request finished while this read was pending
      return;
    }
    if (!ec) {
      watch_for_disconnect();
    } else if (ec != asio::error::operation_aborted) {
      client_gone();
    }
  }

  void enqueue(std::string data) {
    if (closed_) return;
    // Only output queued before this piece counts against the limit: a reader
    // that is keeping up may still receive one response larger than the limit.
    const size_t unread_before = pending_bytes_;
    pending_bytes_ += data.size();
    write_queue_.push_back(std::move(data));
    if (unread_before > server_.options.max_pending_write_bytes) {
      spdlog::warn("http: closing {}: {} bytes of output are unread", remote_, pending_bytes_);
      client_gone();
      return;
    }
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    asio::async_write(stream_, asio::buffer(write_queue_.front()),
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      client_gone();
      return;
    }
    pending_bytes_ -= write_queue_.front().size();
    write_queue_.pop_front();
    if (!write_queue_.empty()) {
      write_next();
    } else if (request_done_) {
      finish_request();
    }
  }

  // The whole response is written: read the next request, or close.
  void finish_request() {
    handling_ = false;
    disconnect_handler_ = nullptr;
    if (!keep_alive_) {
      close();
      return;
    }
    if (watching_) {
      stream_.socket().cancel();  // on_watch then starts the next read
    } else {
      read_request();
    }
  }

  void client_gone() {
    if (closed_) return;
    auto handler = std::move(disconnect_handler_);
    disconnect_handler_ = nullptr;
    bool was_handling = handling_ && !request_done_;
    close();
    if (was_handling && handler) handler();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    handling_ = false;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  HttpServer::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_ = "unknown";

  std::deque<std::string> write_queue_;
  size_t pending_bytes_ = 0;
  bool writing_ = false;
  bool watching_ = false;
  bool closed_ = false;

  // State of the current request.
  uint64_t serial_ = 0;
  bool handling_ = false;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool response_started_ = false;
  bool streaming_ = false;
  bool request_done_ = false;
  std::function<void()> disconnect_handler_;
};

void RequestWriter::send(HttpResponse response) {
  asio::dispatch(session_->executor(), [session = session_, serial = serial_, response = std::move(response)]() mutable {
    session->send(serial, std::move(response));
  });
}

void RequestWriter::begin_stream() {
  asio::dispatch(session_->executor(), [session = session_, serial = serial_] { session->begin_stream(serial); });
}

void RequestWriter::write_event(std::string data) {
  asio::dispatch(session_->executor(), [session = session_, serial = serial_, data = std::move(data)]() mutable {
    session->write_event(serial, std::move(data));
  });
}

void RequestWriter::end_stream() {
  asio::dispatch(session_->executor(), [session = session_, serial = serial_] { session->end_stream(serial); });
}

void RequestWriter::post(std::function<void()> fn) { asio::post(session_->executor(), std::move(fn)); }

void RequestWriter::on_disconnect(std::function<void()> handler) {
  asio::dispatch(session_->executor(), [session = session_, serial = serial_, handler = std::move(handler)]() mutable {
    session->set_disconnect_handler(serial, std::move(handler));
  });
}

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors (EMFILE) the accept fails at once again: wait
      // before retrying, and log at most one warning every 10 seconds.
      auto now = std::chrono::steady_clock::now();
      if (now - last_accept_warning > std::chrono::seconds(10)) {
        spdlog::warn("http: accept failed: {}; retrying in 100 ms", ec.message());
        last_accept_warning = now;
      }
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) accept();
      });
      return;
    }
    if (n_connections.load() >= max_connections) {
      reject(std::move(socket));
    } else {
      std::make_shared<Session>(*this, std::move(socket))->run();
    }
    accept();
  });
}

namespace {

// A connection accepted past the cap: it is sent a 503 and closed. Its request
// is read and dropped until the client closes or kRejectTimeout passes, because
// closing a socket with unread input sends a reset that can destroy the 503 in
// flight to the client.
class Rejection : public std::enable_shared_from_this<Rejection> {
 public:
  Rejection(HttpServer::Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    ++server_.n_rejected_in_flight;
  }
  ~Rejection() { --server_.n_rejected_in_flight; }

  void run(int64_t max_connections) {
    std::string body = to_wire(error_body(ApiError{
        503, "The server is at its limit of " + std::to_string(max_connections) + " open connections. Retry later.",
        "server_error", "", "too_many_connections"}));
    reply_ = status_line(503);
    reply_ += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
    stream_.expires_after(kRejectTimeout);
    asio::async_write(stream_, asio::buffer(reply_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

 private:
  void drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->drain();
    });
  }

  HttpServer::Impl& server_;
  beast::tcp_stream stream_;
  std::string reply_;
  char scratch_[4096];
};

}  // namespace

void HttpServer::Impl::reject(tcp::socket socket) {
  // Log the first rejection and then at most one summary every 10 seconds.
  auto now = std::chrono::steady_clock::now();
  ++n_rejected_since_warning;
  if (now - last_reject_warning > std::chrono::seconds(10)) {
    spdlog::warn("http: {} connections rejected with 503: {} open connections reach the cap of {}",
                 n_rejected_since_warning, n_connections.load(), max_connections);
    last_reject_warning = now;
    n_rejected_since_warning = 0;
  }

  if (n_rejected_in_flight.load() >= kMaxRejectedInFlight) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  std::make_shared<Rejection>(*this, std::move(socket))->run(max_connections);
}

void HttpServer::Impl::fit_connection_cap() {
  max_connections = std::max<int64_t>(1, options.max_connections);
  const int64_t needed = max_connections + kMaxRejectedInFlight + kReservedDescriptors;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;

  // Raise the soft descriptor limit toward the hard one when the cap needs it.
  if (limit.rlim_cur != RLIM_INFINITY && rlim_t(needed) > limit.rlim_cur) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? rlim_t(needed) : std::min(rlim_t(needed), limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY || rlim_t(needed) <= limit.rlim_cur) return;

  const int64_t fitting = int64_t(limit.rlim_cur) - kMaxRejectedInFlight - kReservedDescriptors;
  if (fitting < 1) {
    throw Error("the open-file limit of " + std::to_string(limit.rlim_cur) +
                " descriptors is too low to serve HTTP; raise it with ulimit -n");
  }
  spdlog::warn("http: the open-file limit of {} descriptors holds {} connections, not the {} requested; "
               "raise it with ulimit -n",
               int64_t(limit.rlim_cur), fitting, max_connections);
  max_connections = fitting;
}

HttpServer::HttpServer(HttpServerOptions options, RequestHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) throw Error("invalid --host '" + impl_->options.host + "': " + ec.message());
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error("cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) + ": " + ec.message());
  }
  impl_->bound_port = acceptor.local_endpoint().port();
  impl_->fit_connection_cap();
  impl_->accept();
  int n_threads = std::max(1, impl_->options.n_io_threads);
  for (int i = 0; i < n_threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop_accepting() {
  asio::dispatch(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
}

void HttpServer::stop() {
  stop_accepting();
  impl_->io.stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
  impl_->threads.clear();
}

int64_t HttpServer::open_connections() const { return impl_->n_connections.load(); }

int64_t HttpServer::max_connections() const { return impl_->max_connections; }

}  // namespace brasa::server
