// Test support for the proxy (included by *_test.cpp, never by the library): a real origin server
// (HTTPS or plain HTTP, blocking OpenSSL, one thread per connection) that records what it received and
// echoes it back; a blocking client that speaks to the proxy (CONNECT, TLS with Airlock's CA, requests);
// an AuditSink that collects records; and a fixture that runs a Proxy in-process on 127.0.0.1:0.
//
// The origin's routes:
//   /echo...            200, Content-Length; body = the request head as received (serialized) + its body;
//                       header X-Echo-Auth repeats the Authorization value received
//   /chunked-echo...    the same body, sent chunked in 7-byte chunks (values split across chunks)
//   /count              reads the body, answers "received <n>"
//   /fixed?bytes=N      N bytes of 'x', Content-Length
//   /download?bytes=N   N bytes of 'x', chunked
//   /ws                 WebSocket handshake (101), then echoes every byte it receives
//   /close              closes the connection without answering
//   /stall              reads the request, then never answers (until the connection closes)
//   /then-close         answers like /echo (keep-alive), then closes the connection (a server idle timeout)
//   /trailer-echo       chunked "ok" with a trailer X-Echo-Auth repeating the Authorization value
// Options::handler, when set, sees every complete request first and may answer it itself.
#pragma once

#include "airlock/testing/temp_dir.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "airlock/certs/leaf_cache.hpp"
#include "airlock/certs/openssl.hpp"
#include "airlock/certs/root_ca.hpp"
#include "airlock/http1/parser.hpp"
#include "airlock/proxy/proxy.hpp"

namespace airlock::proxy::test {

// ---- small things ----

// The test's own clients and origin write to sockets the proxy may have closed (that is the point of
// several tests): EPIPE, not a signal, in this test binary.
inline const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

using TempDir = airlock::testing::TempDir;

inline void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline std::string b64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// VmRSS / VmHWM of this process, in KiB.
inline long proc_status_kib(std::string_view key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}
// Resets VmHWM to the current RSS (Linux: "5" to clear_refs).
inline bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out);
}

inline void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline int connect_tcp(std::uint16_t port, const char* address = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, address, &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_timeouts(fd, 20);
  return fd;
}

// ---- a blocking stream: plain fd or TLS over it ----

class Stream {
 public:
  Stream() = default;
  explicit Stream(int fd) : fd_(fd) {}
  Stream(Stream&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), ctx_(std::move(other.ctx_)), ssl_(std::move(other.ssl_)) {}
  Stream& operator=(Stream&& other) noexcept {
    close();
    fd_ = std::exchange(other.fd_, -1);
    ctx_ = std::move(other.ctx_);
    ssl_ = std::move(other.ssl_);
    return *this;
  }
  ~Stream() { close(); }

  int fd() const { return fd_; }
  SSL* ssl() const { return ssl_.get(); }

  // Client TLS trusting `ca_pem` (and verifying `verify_name`, when given), sending `sni` (empty: none).
  bool start_tls(const std::string& ca_pem, const std::string& sni, const std::string& verify_name,
                 bool verify = true) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    certs::BioPtr bio{BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()))};
    certs::X509Ptr ca{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_.get()), ca.get());
    SSL_CTX_set_verify(ctx_.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx_.get(), alpn, sizeof alpn);
    ssl_.reset(SSL_new(ctx_.get()));
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
    if (!verify_name.empty()) {
      if (verify_name.find_first_not_of("0123456789.") == std::string::npos) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), verify_name.c_str());
      } else {
        SSL_set1_host(ssl_.get(), verify_name.c_str());
      }
    }
    SSL_set_fd(ssl_.get(), fd_);
    const bool ok = SSL_connect(ssl_.get()) == 1;
    ERR_clear_error();
    return ok;
  }

  bool send(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      if (ssl_) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl_.get(), data.data() + done, data.size() - done, &n) != 1) return false;
        done += n;
      } else {
        const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
      }
    }
    return true;
  }

  // Bytes read, or 0 at EOF / error.
  std::size_t recv(char* into, std::size_t size) {
    if (ssl_) {
      std::size_t n = 0;
      if (SSL_read_ex(ssl_.get(), into, size, &n) != 1) {
        ERR_clear_error();
        return 0;
      }
      return n;
    }
    const ssize_t n = ::recv(fd_, into, size, 0);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  void close() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  certs::SslCtxPtr ctx_;
  certs::SslPtr ssl_;
};

struct Response {
  int status = 0;
  http1::Headers headers;
  std::string body;
  bool keep_alive = false;
  bool complete = false;
  std::string head_text;  // the serialized head as received (for exact checks)
  http1::Headers trailers;

  const std::string* header(std::string_view name) const { return headers.find(name); }
};

// Reads one response (with a body unless the request was HEAD). `leftover` carries bytes between calls.
inline Response read_response(Stream& stream, std::string& leftover, std::string_view method = "GET",
                              std::size_t max_body = std::size_t(1) << 30) {
  Response response;
  http1::ResponseParser parser;
  parser.expect_response_to(method);
  std::vector<std::string_view> pieces;
  std::string data = std::move(leftover);
  leftover.clear();
  std::size_t offset = 0;
  char buffer[65536];
  for (;;) {
    const auto step = parser.parse(std::string_view(data).substr(offset), pieces);
    offset += step.consumed;
    for (auto piece : pieces) {
      if (response.body.size() < max_body) response.body.append(piece.substr(0, max_body - response.body.size()));
    }
    pieces.clear();
    if (step.state == http1::State::head_done) {
      if (parser.head().status < 200 && parser.head().status != 101) continue;  // interim: read on
      response.status = parser.head().status;
      response.headers = parser.head().headers;
      response.head_text = http1::serialize(parser.head());
      if (response.status == 101) {
        response.complete = true;
        leftover = data.substr(offset);
        return response;
      }
      continue;
    }
    if (step.state == http1::State::message_done) {
      if (response.status == 0) continue;  // end of an interim response
      response.keep_alive = parser.head().keep_alive;
      response.trailers = parser.trailers();
      response.complete = true;
      leftover = data.substr(offset);
      return response;
    }
    if (step.state == http1::State::error) return response;
    if (offset == data.size()) {
      data.clear();
      offset = 0;
    }
    const std::size_t n = stream.recv(buffer, sizeof buffer);
    if (n == 0) {
      if (parser.finish_on_eof() && response.status != 0) {
        response.complete = true;
        response.keep_alive = false;
      }
      return response;
    }
    data.append(buffer, n);
  }
}

// Reads everything until EOF (or error).
inline std::string read_all(Stream& stream) {
  std::string out;
  char buffer[16384];
  while (std::size_t n = stream.recv(buffer, sizeof buffer)) out.append(buffer, n);
  return out;
}

// ---- the origin ----

struct Captured {
  http1::RequestHead head;
  std::string body;          // the first 1 MiB
  std::uint64_t body_size = 0;
  bool tls = false;
  std::string sni;
};

class Origin {
 public:
  struct Options {
    bool tls = true;
    std::string fixed_name;  // present a leaf for this name whatever the SNI (a wrong-name upstream)
    bool record = true;      // keep every request for requests() / last() (benchmarks turn it off)
    // Answers a request itself: returns nullopt to leave it to the routes above, else whether the
    // connection stays open. `write` sends raw bytes (false once the peer is gone). Runs on the
    // connection's own thread, so it may sleep between writes.
    using Write = std::function<bool(std::string_view)>;
    std::function<std::optional<bool>(const Captured& request, const Write& write)> handler;
  };

  Origin(const certs::RootCa& ca, Options options) : options_(std::move(options)) {
    if (options_.tls) {
      auto cache = certs::LeafCache::create(std::shared_ptr<const certs::RootCa>(&ca, [](const certs::RootCa*) {}));
      if (!cache) throw std::runtime_error("origin leaf cache");
      leaves_ = std::move(*cache);
      auto base = leaves_->server_context(options_.fixed_name.empty() ? "127.0.0.1" : options_.fixed_name);
      if (!base) throw std::runtime_error("origin context");
      // The cache is this origin's own, so the callback may go on its context: it switches to the leaf
      // for the SNI the client sent.
      base_ = *base;
      SSL_CTX_set_tlsext_servername_callback(base_.get(), &Origin::on_servername);
      SSL_CTX_set_tlsext_servername_arg(base_.get(), this);
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 512) != 0) {
      throw std::runtime_error("origin listen");
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~Origin() { stop(); }
  Origin(const Origin&) = delete;
  Origin& operator=(const Origin&) = delete;

  void stop() {
    if (stopping_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    while (live_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return connections_.load(); }
  std::vector<Captured> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::optional<Captured> last() const {
    std::lock_guard lock(mutex_);
    if (requests_.empty()) return std::nullopt;
    return requests_.back();
  }

 private:
  static int on_servername(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<Origin*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name != nullptr && self->options_.fixed_name.empty()) {
      auto context = self->leaves_->server_context(std::string_view(name));
      if (context) SSL_set_SSL_CTX(ssl, context->get());
    }
    return SSL_TLSEXT_ERR_OK;
  }

  void accept_loop() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      if (stopping_) {
        ::close(fd);
        return;
      }
      connections_.fetch_add(1);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      set_timeouts(fd, 30);
      std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      live_.fetch_add(1);
      // Detached (a benchmark opens thousands of connections); stop() waits for live_ to reach 0.
      std::thread([this, fd] {
        serve(fd);
        live_.fetch_sub(1);
      }).detach();
    }
  }

  void serve(int fd) {
    Stream stream(fd);
    Captured capture_template;
    if (options_.tls) {
      certs::SslPtr ssl{SSL_new(base_.get())};
      SSL_set_fd(ssl.get(), fd);
      if (SSL_accept(ssl.get()) != 1) {
        ERR_clear_error();
        forget(fd);
        return;
      }
      capture_template.tls = true;
      if (const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name)) capture_template.sni = sni;
      handle(stream, ssl.get(), capture_template);
      SSL_shutdown(ssl.get());
      ERR_clear_error();
    } else {
      handle(stream, nullptr, capture_template);
    }
    forget(fd);
  }

  void forget(int fd) {
    std::lock_guard lock(mutex_);
    std::erase(open_fds_, fd);
  }

  static bool write_all(int fd, SSL* ssl, std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      if (ssl != nullptr) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl, data.data() + done, data.size() - done, &n) != 1) return false;
        done += n;
      } else {
        const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
      }
    }
    return true;
  }

  static std::size_t read_some(int fd, SSL* ssl, char* into, std::size_t size) {
    if (ssl != nullptr) {
      std::size_t n = 0;
      if (SSL_read_ex(ssl, into, size, &n) != 1) {
        ERR_clear_error();
        return 0;
      }
      return n;
    }
    const ssize_t n = ::recv(fd, into, size, 0);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  void handle(Stream& stream, SSL* ssl, const Captured& capture_template) {
    const int fd = stream.fd();
    http1::RequestParser parser;
    std::vector<std::string_view> pieces;
    std::string data;
    std::size_t offset = 0;
    std::vector<char> buffer(65536);
    Captured current = capture_template;
    for (;;) {
      const auto step = parser.parse(std::string_view(data).substr(offset), pieces);
      offset += step.consumed;
      for (auto piece : pieces) {
        current.body_size += piece.size();
        if (current.body.size() < (1u << 20)) current.body.append(piece.substr(0, (1u << 20) - current.body.size()));
      }
      pieces.clear();
      if (step.state == http1::State::error) {
        write_all(fd, ssl, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
      }
      if (step.state == http1::State::head_done) {
        current.head = parser.head();
        if (path_of(current.head.target) == "/close") return;
        if (path_of(current.head.target) == "/ws") {
          websocket(fd, ssl, current, data.substr(offset));
          return;
        }
        continue;
      }
      if (step.state == http1::State::message_done) {
        if (options_.record) {
          std::lock_guard lock(mutex_);
          requests_.push_back(current);
        }
        if (!respond(fd, ssl, current)) return;
        if (!current.head.keep_alive || path_of(current.head.target) == "/then-close") return;
        current = capture_template;
        continue;
      }
      if (offset == data.size()) {
        data.clear();
        offset = 0;
      }
      const std::size_t n = read_some(fd, ssl, buffer.data(), buffer.size());
      if (n == 0) return;
      data.append(buffer.data(), n);
    }
  }

  static std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

  bool respond(int fd, SSL* ssl, const Captured& request) {
    if (options_.handler) {
      const Options::Write write = [fd, ssl](std::string_view bytes) { return write_all(fd, ssl, bytes); };
      if (const std::optional<bool> handled = options_.handler(request, write)) return *handled;
    }
    const std::string_view target = request.head.target;
    const std::string_view path = path_of(target);
    const std::string* auth = request.head.headers.find("Authorization");
    const std::string echo_auth = auth != nullptr ? fmt::format("X-Echo-Auth: {}\r\n", *auth) : std::string();
    const std::string connection = request.head.keep_alive ? "" : "Connection: close\r\n";
    if (path == "/stall") {
      char byte = 0;
      while (read_some(fd, ssl, &byte, 1) > 0) {
      }
      return false;
    }
    if (path == "/fixed") {
      const std::uint64_t bytes = std::strtoull(std::string(target.substr(target.find('=') + 1)).c_str(), nullptr, 10);
      return write_all(fd, ssl, fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{}", bytes, connection,
                                            std::string(bytes, 'x')));
    }
    if (path == "/count") {
      const std::string body = fmt::format("received {}", request.body_size);
      return write_all(fd, ssl, fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{}", body.size(), connection, body));
    }
    if (path == "/download") {
      std::uint64_t bytes = std::strtoull(std::string(target.substr(target.find('=') + 1)).c_str(), nullptr, 10);
      if (!write_all(fd, ssl, fmt::format("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{}\r\n", connection))) return false;
      const std::string chunk(65536, 'x');
      while (bytes > 0) {
        const std::size_t n = std::min<std::uint64_t>(bytes, chunk.size());
        if (!write_all(fd, ssl, fmt::format("{:x}\r\n", n)) || !write_all(fd, ssl, std::string_view(chunk).substr(0, n)) ||
            !write_all(fd, ssl, "\r\n")) {
          return false;
        }
        bytes -= n;
      }
      return write_all(fd, ssl, "0\r\n\r\n");
    }
    if (path == "/trailer-echo") {
      return write_all(fd, ssl, fmt::format("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Echo-Auth\r\n{}\r\n"
                                            "2\r\nok\r\n0\r\nX-Echo-Auth: {}\r\n\r\n",
                                            connection, auth != nullptr ? *auth : std::string("-")));
    }
    const std::string body = http1::serialize(request.head) + request.body;
    if (path.rfind("/chunked-echo", 0) == 0) {
      std::string out = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{}Transfer-Encoding: chunked\r\n{}\r\n",
                                    echo_auth, connection);
      for (std::size_t i = 0; i < body.size(); i += 7) {
        const auto piece = std::string_view(body).substr(i, 7);
        out += fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
      }
      out += "0\r\n\r\n";
      return write_all(fd, ssl, out);
    }
    return write_all(fd, ssl, fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{}Content-Length: {}\r\n{}\r\n{}",
                                          echo_auth, body.size(), connection, body));
  }

  void websocket(int fd, SSL* ssl, const Captured& request, std::string pending) {
    const std::string* key = request.head.headers.find("Sec-WebSocket-Key");
    if (key == nullptr) return;
    const std::string material = *key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[20];
    unsigned int length = 0;
    EVP_Digest(material.data(), material.size(), digest, &length, EVP_sha1(), nullptr);
    const std::string accept = b64(std::string_view(reinterpret_cast<const char*>(digest), length));
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    if (!write_all(fd, ssl,
                   fmt::format("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: {}\r\n\r\n",
                               accept))) {
      return;
    }
    if (!pending.empty() && !write_all(fd, ssl, pending)) return;
    char buffer[16384];
    while (std::size_t n = read_some(fd, ssl, buffer, sizeof buffer)) {
      if (!write_all(fd, ssl, std::string_view(buffer, n))) return;
    }
  }

  Options options_;
  std::unique_ptr<certs::LeafCache> leaves_;
  std::shared_ptr<SSL_CTX> base_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  mutable std::mutex mutex_;
  std::vector<int> open_fds_;
  std::atomic<int> live_{0};
  std::vector<Captured> requests_;
};

// ---- audit ----

class CollectingSink final : public AuditSink {
 public:
  void record(EgressRecord record) noexcept override {
    std::lock_guard lock(mutex_);
    records_.push_back(std::move(record));
  }
  std::vector<EgressRecord> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::optional<EgressRecord> last() const {
    std::lock_guard lock(mutex_);
    if (records_.empty()) return std::nullopt;
    return records_.back();
  }
  // Audit happens right after the response is written: give the worker a moment to get there.
  std::optional<EgressRecord> wait_for(std::size_t count) const {
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (records_.size() >= count) return records_[count - 1];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
  }
  // The first record with this reason, waiting for it a while (records of earlier exchanges may still be
  // arriving after a clear(): audit follows the response).
  std::optional<EgressRecord> wait_for_reason(std::string_view reason) const {
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard lock(mutex_);
        for (const EgressRecord& record : records_) {
          if (record.reason == reason) return record;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    records_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<EgressRecord> records_;
};

// ---- snapshot building ----

inline std::shared_ptr<const CredentialRule> env_credential(std::string id, std::string secret_name,
                                                            std::string placeholder, std::string_view value,
                                                            std::vector<std::string> hosts, bool header = true,
                                                            bool body = true, bool url = false) {
  auto rule = std::make_shared<CredentialRule>();
  rule->kind = CredentialRule::Kind::environment_variable;
  rule->credential_id = std::move(id);
  rule->secret_name = std::move(secret_name);
  rule->placeholder = std::move(placeholder);
  rule->unrestricted = hosts.empty();
  rule->allowed_hosts = std::move(hosts);
  rule->in_header = header;
  rule->in_body = body;
  rule->in_url = url;
  rule->value = certs::SecretBytes(
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(value.data()), value.size()));
  return rule;
}

inline std::shared_ptr<const CredentialRule> bearer_credential(
    std::string id, std::string url, std::string_view token,
    CredentialRule::BearerHeader header = CredentialRule::BearerHeader::authorization) {
  auto rule = std::make_shared<CredentialRule>();
  rule->kind = CredentialRule::Kind::static_bearer;
  rule->credential_id = std::move(id);
  rule->mcp_server_url = std::move(url);
  rule->bearer_header = header;
  rule->value = certs::SecretBytes(
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(token.data()), token.size()));
  return rule;
}

inline SessionEntry session_entry(std::string id, std::string token,
                                  std::vector<std::shared_ptr<const CredentialRule>> credentials,
                                  std::vector<std::string> environment_hosts = {}) {
  SessionEntry entry;
  entry.session_id = std::move(id);
  entry.proxy_token = std::move(token);
  entry.credentials = std::move(credentials);
  entry.network_limited = !environment_hosts.empty();
  entry.allowed_hosts = std::move(environment_hosts);
  return entry;
}

inline std::shared_ptr<const CredentialSnapshot> snapshot_of(std::vector<SessionEntry> sessions) {
  auto snapshot = std::make_shared<CredentialSnapshot>();
  for (auto& entry : sessions) {
    std::string id = entry.session_id;
    snapshot->sessions.emplace(std::move(id), std::move(entry));
  }
  return snapshot;
}

// ---- the fixture: origin CA + origin + Airlock CA + proxy ----

inline constexpr std::string_view kSession = "sesn_test01";
inline constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline constexpr std::string_view kPlaceholder = "airlock_ph_METRICS.API-TOKEN~0123456789abcdefABCDEF";
inline constexpr std::string_view kSecret = "sk-live-REAL-SECRET-VALUE-42";

inline std::string proxy_auth(std::string_view session = kSession, std::string_view token = kToken) {
  return "Basic " + b64(std::string(session) + ":" + std::string(token));
}

struct Fixture {
  explicit Fixture(Origin::Options origin_options = {})
      : airlock_ca(std::make_shared<const certs::RootCa>(std::move(*certs::RootCa::generate()))),
        origin_ca(std::move(*certs::RootCa::generate())),
        origin(origin_ca, origin_options) {
    origin_ca_file = dir.path() / "origin-ca.pem";
    airlock_ca_file = dir.path() / "airlock-ca.pem";
    write_file(origin_ca_file, origin_ca.certificate_pem());
    write_file(airlock_ca_file, airlock_ca->certificate_pem());
  }

  ProxyOptions options() const {
    ProxyOptions o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.threads = 2;
    o.upstream_ca = {origin_ca_file};
    o.resolve = {{"localhost", "127.0.0.1"},
                 {"api.example.test", "127.0.0.1"},
                 {"example.test", "127.0.0.1"},
                 {"a.b.example.test", "127.0.0.1"},
                 {"evil.test", "127.0.0.1"},
                 {"mcp.example.test", "127.0.0.1"},
                 {"passthrough.test", "127.0.0.1"}};
    // The test origins listen on loopback, which the address checks refuse unless it is allowed (N1).
    o.allow_private = {policies::Cidr::parse("127.0.0.0/8").value()};
    return o;
  }

  void start(ProxyOptions o) {
    proxy = std::make_unique<Proxy>(std::move(o), airlock_ca, slot, sink);
    proxy->start();
  }
  void start() { start(options()); }

  std::uint16_t proxy_port() const { return proxy->local_endpoint().port(); }

  // CONNECT host:port through the proxy, then TLS (verifying Airlock's leaf for `host`).
  Stream tunnel(std::string_view host, std::uint16_t port, std::string& head_out,
                std::string auth = proxy_auth(), std::optional<std::string> sni = std::nullopt) {
    Stream stream(connect_tcp(proxy_port()));
    std::string request = fmt::format("CONNECT {}:{} HTTP/1.1\r\nHost: {}:{}\r\n", host, port, host, port);
    if (!auth.empty()) request += "Proxy-Authorization: " + auth + "\r\n";
    request += "\r\n";
    stream.send(request);
    std::string leftover;
    Response response = read_response(stream, leftover, "CONNECT");
    head_out = response.head_text + response.body;
    if (response.status != 200) return stream;
    const bool ip = std::string(host).find_first_not_of("0123456789.") == std::string::npos;
    const std::string name = sni.value_or(ip ? std::string() : std::string(host));
    if (!stream.start_tls(airlock_ca->certificate_pem(), name, std::string(host))) head_out = "TLS FAILED";
    return stream;
  }

  TempDir dir;
  std::shared_ptr<const certs::RootCa> airlock_ca;
  certs::RootCa origin_ca;
  std::filesystem::path origin_ca_file;
  std::filesystem::path airlock_ca_file;
  Origin origin;
  SnapshotSlot slot;
  CollectingSink sink;
  std::unique_ptr<Proxy> proxy;
};

// Runs a command, returning its stdout (stderr to /dev/null) and exit status.
inline std::pair<int, std::string> run_command(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return {-1, out};
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace airlock::proxy::test
