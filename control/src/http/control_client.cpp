// ControlClient (see control_client.hpp).
#include "http/control_client.hpp"

#include <charconv>

#include <fmt/format.h>

#include "http/blocking_channel.hpp"

namespace airlock::control {

namespace {

constexpr std::size_t kMaxResponseBytes = 64 << 20;
constexpr std::string_view kPeer = "the control plane";

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
  try {
    const OwnedFd fd = connect_tcp(url_.host, url_.port, mark_, timeout_);
    Channel channel(fd.get(), std::string(kPeer));
    if (url_.tls) channel.start_tls(url_.host, ca_file_);
    const bool ipv6 = url_.host.find(':') != std::string::npos;
    std::string request = fmt::format("{} {}{} HTTP/1.1\r\nHost: {}{}{}:{}\r\nAuthorization: Bearer {}\r\n"
                                      "Connection: close\r\nAccept: {}\r\n",
                                      method, url_.path_prefix, target, ipv6 ? "[" : "", url_.host, ipv6 ? "]" : "",
                                      url_.port, token_, on_body ? "text/event-stream" : "application/json");
    if (!body.empty() || method == "POST") {
      request += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
    }
    request += "\r\n";
    request += body;
    HttpAnswer answer = control::exchange(channel, method, request, on_body, kMaxResponseBytes);
    return {answer.status, std::move(answer.body)};
  } catch (const ConnectionFailed& e) {
    throw ControlUnreachable(e.what());
  }
}

}  // namespace airlock::control
