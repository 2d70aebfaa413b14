// Blocking HTTP/1.1 exchanges (see blocking_channel.hpp).
#include "http/blocking_channel.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace airlock::control {

OwnedFd connect_tcp(const std::string& host, std::uint16_t port, std::uint32_t mark, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw ConnectionFailed(fmt::format("cannot resolve {}: {}", host, gai_strerror(rc)));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  for (const addrinfo* at = found; at != nullptr; at = at->ai_next) {
    OwnedFd fd(::socket(at->ai_family, at->ai_socktype | SOCK_CLOEXEC, at->ai_protocol));
    if (fd.get() < 0) continue;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect()
    if (mark != 0) ::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);  // best effort, as the proxy's
    if (::connect(fd.get(), at->ai_addr, at->ai_addrlen) == 0) return fd;
  }
  throw ConnectionFailed(fmt::format("cannot connect to {}:{}", host, port));
}

void Channel::start_tls(const std::string& host, const std::optional<std::filesystem::path>& ca_file) {
  context_.reset(SSL_CTX_new(TLS_client_method()));
  if (!context_) throw ConnectionFailed("TLS: cannot create a context");
  SSL_CTX_set_min_proto_version(context_.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_default_verify_paths(context_.get()) != 1 ||
      (ca_file && SSL_CTX_load_verify_locations(context_.get(), ca_file->c_str(), nullptr) != 1)) {
    ERR_clear_error();
    throw ConnectionFailed(
        fmt::format("TLS: cannot load the trusted CAs{}", ca_file ? fmt::format(" ({})", ca_file->string()) : ""));
  }
  ssl_.reset(SSL_new(context_.get()));
  SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
  SSL_set1_host(ssl_.get(), host.c_str());
  SSL_set_fd(ssl_.get(), fd_);
  if (SSL_connect(ssl_.get()) != 1) {
    const long verify = SSL_get_verify_result(ssl_.get());
    ERR_clear_error();
    throw ConnectionFailed(fmt::format("TLS with {} ({}) failed{}", host, peer_,
                                       verify != X509_V_OK ? fmt::format(": {}", X509_verify_cert_error_string(verify))
                                                           : std::string()));
  }
}

void Channel::write_all(std::string_view data) {
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
      throw ConnectionFailed(fmt::format("{} closed the connection while the request was sent", peer_));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::size_t Channel::read_some(char* into, std::size_t size) {
  if (ssl_) {
    std::size_t n = 0;
    if (SSL_read_ex(ssl_.get(), into, size, &n) == 1) return n;
    const int error = SSL_get_error(ssl_.get(), 0);
    ERR_clear_error();
    if (error == SSL_ERROR_ZERO_RETURN) return 0;
    throw ConnectionFailed(fmt::format("reading the answer of {} failed (TLS, or the deadline passed)", peer_));
  }
  const ssize_t n = ::recv(fd_, into, size, 0);
  if (n < 0) throw ConnectionFailed(fmt::format("reading the answer of {} failed (the deadline passed?)", peer_));
  return static_cast<std::size_t>(n);
}

HttpAnswer exchange(Channel& channel, std::string_view method, std::string_view request,
                    const std::function<bool(std::string_view)>* on_body, std::size_t max_body) {
  channel.write_all(request);
  http1::ResponseParser parser(http1::Limits{65536});
  parser.expect_response_to(method);
  HttpAnswer answer;
  std::vector<char> buffer(16384);
  std::vector<std::string_view> pieces;
  auto finish = [&] {
    answer.status = parser.head().status;
    answer.headers = parser.head().headers;
    return std::move(answer);
  };
  for (;;) {
    const std::size_t n = channel.read_some(buffer.data(), buffer.size());
    if (n == 0) {
      if (parser.finish_on_eof()) return finish();
      throw ConnectionFailed(fmt::format("{} closed the connection before a complete answer", channel.peer()));
    }
    std::string_view input(buffer.data(), n);
    while (!input.empty()) {
      pieces.clear();
      const http1::Step step = parser.parse(input, pieces);
      input.remove_prefix(step.consumed);
      const int status = parser.head().status;
      const bool streaming = on_body != nullptr && status >= 200 && status < 300;
      for (std::string_view piece : pieces) {
        if (!streaming) {
          answer.body.append(piece);
        } else if (!(*on_body)(piece)) {
          return finish();
        }
      }
      if (answer.body.size() > max_body) throw ConnectionFailed(fmt::format("the answer of {} is too large", channel.peer()));
      if (step.state == http1::State::error) {
        throw ConnectionFailed(fmt::format("the answer of {} is not HTTP ({})", channel.peer(), parser.error()));
      }
      if (step.state == http1::State::message_done) return finish();
      if (step.state == http1::State::need_more) break;
    }
  }
}

}  // namespace airlock::control
