// One blocking HTTP/1.1 exchange over TCP or TLS, with deadlines on the socket: what ControlClient (the
// sidecar's control connection, the admin CLI) and the agent harness's HTTPS client are built on.
//
// The socket's send and receive timeouts bound connecting, each write and each read. TLS verifies the
// peer's certificate for the host name against the system's trust (which honours SSL_CERT_FILE) plus an
// optional CA file. Every failure is a ConnectionFailed whose message names the host or the peer ("the
// control plane", "the model API") and never holds request bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "airlock/certs/openssl.hpp"
#include "airlock/http1/parser.hpp"
#include "runtime/owned_fd.hpp"

namespace airlock::control {

class ConnectionFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Connects to host:port (every address in turn). `mark`: SO_MARK of the socket (0: none).
OwnedFd connect_tcp(const std::string& host, std::uint16_t port, std::uint32_t mark, std::chrono::milliseconds timeout);

// Plain or TLS reads and writes over one connected socket (not owned).
class Channel {
 public:
  Channel(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}

  // From here on, TLS with `host` (SNI and the name verified).
  void start_tls(const std::string& host, const std::optional<std::filesystem::path>& ca_file);
  void write_all(std::string_view data);
  // Bytes read, 0 at the end of the stream. Throws on a timeout or an error.
  std::size_t read_some(char* into, std::size_t size);
  const std::string& peer() const noexcept { return peer_; }

 private:
  int fd_;
  std::string peer_;
  certs::SslCtxPtr context_;
  certs::SslPtr ssl_;
};

struct HttpAnswer {
  int status = 0;
  http1::Headers headers;
  std::string body;
};

// Writes `request` (a whole request: head and body) and reads the answer to it. With `on_body` and a 2xx
// status, the body goes to `on_body` piece by piece as it arrives (false stops reading) instead of into
// `body`. A body past `max_body` bytes is a ConnectionFailed.
HttpAnswer exchange(Channel& channel, std::string_view method, std::string_view request,
                    const std::function<bool(std::string_view)>* on_body, std::size_t max_body);

}  // namespace airlock::control
