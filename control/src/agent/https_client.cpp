// HttpsClient (see https_client.hpp).
#include "agent/https_client.hpp"

#include <sys/socket.h>

#include <cstdlib>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace airlock::control::agent {

namespace {

std::string authority(const ControlUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", ipv6 ? "[" : "", url.host, ipv6 ? "]" : "", url.port);
}

std::string proxy_authorization_line(const std::string& authorization) {
  return authorization.empty() ? std::string() : fmt::format("Proxy-Authorization: {}\r\n", authorization);
}

// The CONNECT exchange with the proxy; after it, the socket is a tunnel to `url`'s host and port.
void open_tunnel(Channel& channel, const ControlUrl& url, const std::string& authorization) {
  const std::string where = authority(url);
  const std::string head =
      fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\n{}\r\n", where, where, proxy_authorization_line(authorization));
  channel.write_all(head);
  http1::ResponseParser parser(http1::Limits{16384});
  parser.expect_response_to("CONNECT");
  std::vector<std::string_view> body;
  char buffer[4096];
  for (;;) {
    // The proxy sends nothing after its head until the tunnel is used, so no byte of TLS is read here.
    const std::size_t n = channel.read_some(buffer, sizeof buffer);
    if (n == 0) throw ConnectionFailed("the egress proxy closed the connection before answering CONNECT");
    const http1::Step step = parser.parse(std::string_view(buffer, n), body);
    if (step.state == http1::State::error) throw ConnectionFailed("the egress proxy's answer to CONNECT is not HTTP");
    if (step.state != http1::State::need_more) break;
  }
  if (parser.head().status != 200) {
    throw ConnectionFailed(fmt::format("the egress proxy refused the tunnel to {}: {} {}", where, parser.head().status,
                                       parser.head().reason));
  }
}

}  // namespace

std::optional<HttpsRequest> request_to(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::size_t target_at = url.find_first_of("/?#", scheme_end + 3);
  auto base = ControlUrl::parse(url.substr(0, target_at));
  if (!base) return std::nullopt;
  HttpsRequest request;
  request.url = std::move(*base);
  std::string target = target_at == std::string_view::npos ? "/" : std::string(url.substr(target_at));
  if (const std::size_t fragment = target.find('#'); fragment != std::string::npos) target.erase(fragment);
  if (target.empty() || target.front() != '/') target.insert(0, "/");
  request.target = std::move(target);
  return request;
}

HttpsClient::HttpsClient(std::optional<Proxy> proxy, std::chrono::milliseconds connect_timeout,
                         std::chrono::milliseconds read_timeout)
    : proxy_(std::move(proxy)), connect_timeout_(connect_timeout), read_timeout_(read_timeout) {}

std::optional<HttpsClient::Proxy> HttpsClient::parse_proxy(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (!text.starts_with(scheme)) return std::nullopt;
  std::string_view rest = text.substr(scheme.size());
  const std::size_t authority_end = rest.find('/');
  const std::size_t at = rest.substr(0, authority_end).rfind('@');
  Proxy proxy;
  if (at != std::string_view::npos) {
    // The proxy's own user and password (a session id and token: letters and digits, never escaped).
    const std::string_view userinfo = rest.substr(0, at);
    std::string encoded(4 * ((userinfo.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),  // NOLINT: OpenSSL takes bytes
                                  reinterpret_cast<const unsigned char*>(userinfo.data()), static_cast<int>(userinfo.size()));  // NOLINT
    encoded.resize(static_cast<std::size_t>(n));
    proxy.authorization = "Basic " + encoded;
    rest.remove_prefix(at + 1);
  }
  auto url = ControlUrl::parse(std::string(scheme) + std::string(rest));
  if (!url) return std::nullopt;
  proxy.url = std::move(*url);
  return proxy;
}

std::optional<HttpsClient::Proxy> HttpsClient::proxy_from_environment() {
  for (const char* name : {"HTTPS_PROXY", "https_proxy"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    if (auto proxy = parse_proxy(value)) return proxy;
  }
  return std::nullopt;
}

bool HttpsClient::track(int fd) {
  std::lock_guard lock(mutex_);
  if (cancelled_) return false;
  active_fd_ = fd;
  return true;
}

void HttpsClient::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (active_fd_ >= 0) ::shutdown(active_fd_, SHUT_RDWR);
}

void HttpsClient::reset() {
  std::lock_guard lock(mutex_);
  cancelled_ = false;
}

HttpAnswer HttpsClient::send(const HttpsRequest& request, std::string_view peer,
                             const std::function<bool(std::string_view)>* on_body, std::size_t max_body) {
  const ControlUrl& url = request.url;
  const ControlUrl& first_hop = proxy_ ? proxy_->url : url;
  OwnedFd fd = connect_tcp(first_hop.host, first_hop.port, 0, connect_timeout_);
  if (!track(fd.get())) throw RequestCancelled();
  struct Untrack {
    HttpsClient& client;
    ~Untrack() {
      std::lock_guard lock(client.mutex_);
      client.active_fd_ = -1;
    }
  } untrack{*this};
  try {
    Channel channel(fd.get(), std::string(peer));
    if (proxy_ && url.tls) open_tunnel(channel, url, proxy_->authorization);
    if (url.tls) channel.start_tls(url.host, std::nullopt);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(read_timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((read_timeout_.count() % 1000) * 1000);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    // Through the proxy, plain http goes in the absolute form; everything else in the origin form.
    const std::string path = url.path_prefix + request.target;
    const std::string target = proxy_ && !url.tls ? fmt::format("http://{}{}", authority(url), path) : path;
    std::string head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}", request.method, target,
                                   authority(url), proxy_ && !url.tls ? proxy_authorization_line(proxy_->authorization) : "");
    for (const auto& [name, value] : request.headers) head += fmt::format("{}: {}\r\n", name, value);
    if (!request.body.empty() || request.method == "POST") head += fmt::format("Content-Length: {}\r\n", request.body.size());
    head += "\r\n";
    head += request.body;
    return exchange(channel, request.method, head, on_body, max_body);
  } catch (const ConnectionFailed&) {
    std::lock_guard lock(mutex_);
    if (cancelled_) throw RequestCancelled();
    throw;
  }
}

}  // namespace airlock::control::agent
