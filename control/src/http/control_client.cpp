// ControlClient (see control_client.hpp).
#include "http/control_client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "airlock/certs/openssl.hpp"
#include "airlock/http1/parser.hpp"

namespace airlock::control {

namespace {

constexpr std::size_t kMaxResponseBytes = 64 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Connects to host:port (every address in turn), with send and receive timeouts on the socket.
int connect_to(const ControlUrl& url, std::uint32_t mark, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(url.port);
  if (int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw ControlUnreachable(fmt::format("cannot resolve {}: {}", url.host, gai_strerror(rc)));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  for (const addrinfo* at = found; at != nullptr; at = at->ai_next) {
    const int fd = ::socket(at->ai_family, at->ai_socktype | SOCK_CLOEXEC, at->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect()
    if (mark != 0) ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);  // best effort, as the proxy's
    if (::connect(fd, at->ai_addr, at->ai_addrlen) == 0) return fd;
    ::close(fd);
  }
  throw ControlUnreachable(fmt::format("cannot connect to {}:{}", url.host, url.port));
}

// Plain or TLS reads and writes over one connected socket.
class Channel {
 public:
  Channel(int fd, const ControlUrl& url, const std::optional<std::filesystem::path>& ca_file) : fd_(fd) {
    if (!url.tls) return;
    context_.reset(SSL_CTX_new(TLS_client_method()));
    if (!context_) throw ControlUnreachable("TLS: cannot create a context");
    SSL_CTX_set_min_proto_version(context_.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_set_default_verify_paths(context_.get()) != 1 ||
        (ca_file && SSL_CTX_load_verify_locations(context_.get(), ca_file->c_str(), nullptr) != 1)) {
      ERR_clear_error();
      throw ControlUnreachable(fmt::format("TLS: cannot load the trusted CAs{}",
                                           ca_file ? fmt::format(" ({})", ca_file->string()) : ""));
    }
    ssl_.reset(SSL_new(context_.get()));
    SSL_set_tlsext_host_name(ssl_.get(), url.host.c_str());
    SSL_set1_host(ssl_.get(), url.host.c_str());
    SSL_set_fd(ssl_.get(), fd_);
    if (SSL_connect(ssl_.get()) != 1) {
      const long verify = SSL_get_verify_result(ssl_.get());
      ERR_clear_error();
      throw ControlUnreachable(fmt::format("TLS with {} failed{}", url.host,
                                           verify != X509_V_OK ? fmt::format(": {}", X509_verify_cert_error_string(verify))
                                                               : std::string()));
    }
  }

  void write_all(std::string_view data) {
    while (!data.empty()) {
      long n = 0;
      if (ssl_) {
        std::size_t written = 0;
        n = SSL_write_ex(ssl_.get(), data.data(), data.size(), &written) == 1 ? static_cast<long>(written) : -1;
      } else {
        n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      }
      if (n <= 0) {
        ERR_clear_error();
        throw ControlUnreachable("the control plane closed the connection while the request was sent");
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Bytes read, 0 at the end of the stream. Throws on a timeout or an error.
  std::size_t read_some(char* into, std::size_t size) {
    if (ssl_) {
      std::size_t n = 0;
      if (SSL_read_ex(ssl_.get(), into, size, &n) == 1) return n;
      const int error = SSL_get_error(ssl_.get(), 0);
      ERR_clear_error();
      if (error == SSL_ERROR_ZERO_RETURN) return 0;
      throw ControlUnreachable("reading the control plane's answer failed (TLS, or the deadline passed)");
    }
    const ssize_t n = ::recv(fd_, into, size, 0);
    if (n < 0) throw ControlUnreachable("reading the control plane's answer failed (the deadline passed?)");
    return static_cast<std::size_t>(n);
  }

 private:
  int fd_;
  certs::SslCtxPtr context_;
  certs::SslPtr ssl_;
};

}  // namespace

std::optional<ControlUrl> ControlUrl::parse(std::string_view text) {
  ControlUrl url;
  if (text.starts_with("https://")) {
    url.tls = true;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    text.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const std::size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    url.path_prefix = std::string(text.substr(slash));
    while (!url.path_prefix.empty() && url.path_prefix.back() == '/') url.path_prefix.pop_back();
  }
  url.port = url.tls ? 443 : 80;
  // host, host:port, [v6] or [v6]:port
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1)) return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  if (!port.empty()) {
    unsigned number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc{} || end != port.data() + port.size() || number == 0 || number > 65535) return std::nullopt;
    url.port = static_cast<std::uint16_t>(number);
  }
  if (host.empty()) return std::nullopt;
  url.host = std::string(host);
  return url;
}

ControlClient::ControlClient(ControlUrl url, std::string bearer_token, std::optional<std::filesystem::path> ca_file,
                             std::uint32_t mark, std::chrono::milliseconds timeout)
    : url_(std::move(url)), token_(std::move(bearer_token)), ca_file_(std::move(ca_file)), mark_(mark), timeout_(timeout) {}

ControlResponse ControlClient::request(std::string_view method, std::string_view target, std::string_view body) {
  return exchange(method, target, body, nullptr);
}

ControlResponse ControlClient::stream(std::string_view method, std::string_view target,
                                      const std::function<bool(std::string_view)>& on_body) {
  return exchange(method, target, {}, &on_body);
}

ControlResponse ControlClient::exchange(std::string_view method, std::string_view target, std::string_view body,
                                        const std::function<bool(std::string_view)>* on_body) {
  const Fd fd(connect_to(url_, mark_, timeout_));
  Channel channel(fd.get(), url_, ca_file_);
  const bool ipv6 = url_.host.find(':') != std::string::npos;
  std::string head = fmt::format("{} {}{} HTTP/1.1\r\nHost: {}{}{}:{}\r\nAuthorization: Bearer {}\r\n"
                                 "Connection: close\r\nAccept: {}\r\n",
                                 method, url_.path_prefix, target, ipv6 ? "[" : "", url_.host, ipv6 ? "]" : "", url_.port,
                                 token_, on_body ? "text/event-stream" : "application/json");
  if (!body.empty() || method == "POST") {
    head += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
  }
  head += "\r\n";
  channel.write_all(head);
  channel.write_all(body);

  http1::ResponseParser parser(http1::Limits{65536});
  parser.expect_response_to(method);
  ControlResponse response;
  std::vector<char> buffer(16384);
  std::vector<std::string_view> pieces;
  for (;;) {
    const std::size_t n = channel.read_some(buffer.data(), buffer.size());
    if (n == 0) {
      if (parser.finish_on_eof()) break;
      throw ControlUnreachable("the control plane closed the connection before a complete answer");
    }
    std::string_view input(buffer.data(), n);
    bool done = false;
    while (!input.empty() && !done) {
      pieces.clear();
      const http1::Step step = parser.parse(input, pieces);
      input.remove_prefix(step.consumed);
      const bool streaming = on_body != nullptr && parser.head().status == 200;
      for (std::string_view piece : pieces) {
        if (!streaming) {
          response.body.append(piece);
        } else if (!(*on_body)(piece)) {
          response.status = parser.head().status;
          return response;
        }
      }
      if (response.body.size() > kMaxResponseBytes) throw ControlUnreachable("the control plane's answer is too large");
      if (step.state == http1::State::error) {
        throw ControlUnreachable(fmt::format("the control plane's answer is not HTTP ({})", parser.error()));
      }
      if (step.state == http1::State::message_done) done = true;
      if (step.state == http1::State::need_more) break;
    }
    if (done) break;
  }
  response.status = parser.head().status;
  return response;
}

}  // namespace airlock::control
