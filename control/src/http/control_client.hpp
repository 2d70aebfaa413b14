// ControlClient: a blocking HTTP/1.1 client of Airlock's REST API, for the sidecar's control connection
// and the admin CLI. One request at a time (one connection per request: neither needs keep-alive), over
// TCP for http:// and TLS for https:// URLs (system trust plus an optional CA file, the host name
// verified). Every request has a deadline for connecting and sending, and each read one of its own (the
// whole response, unless it is streamed: an event stream pings well within it). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace airlock::control {

struct ControlUrl {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string path_prefix;  // "" or "/prefix", without a trailing slash

  // "http://host[:port][/prefix]" or https; nullopt when malformed.
  static std::optional<ControlUrl> parse(std::string_view text);
};

struct ControlResponse {
  int status = 0;
  std::string body;
};

// The control plane could not be reached, or its answer was not HTTP: the message says which.
class ControlUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ControlClient {
 public:
  // `mark`: SO_MARK of its sockets (the proxy's upstream mark, so the sandbox's redirect rule lets them
  // through; 0: none).
  ControlClient(ControlUrl url, std::string bearer_token, std::optional<std::filesystem::path> ca_file,
                std::uint32_t mark, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // `target` starts with "/" and is appended to the URL's path prefix. Throws ControlUnreachable.
  ControlResponse request(std::string_view method, std::string_view target, std::string_view body = {});
  // The same, with the body handed to `on_body` piece by piece as it arrives instead of kept (an event
  // stream); `on_body` returns false to stop reading. The response's body stays empty.
  ControlResponse stream(std::string_view method, std::string_view target,
                         const std::function<bool(std::string_view)>& on_body);

  const ControlUrl& url() const noexcept { return url_; }

 private:
  ControlUrl url_;
  ControlResponse exchange(std::string_view method, std::string_view target, std::string_view body,
                           const std::function<bool(std::string_view)>* on_body);

  std::string token_;
  std::optional<std::filesystem::path> ca_file_;
  std::uint32_t mark_;
  std::chrono::milliseconds timeout_;
};

}  // namespace airlock::control
