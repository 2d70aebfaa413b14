// The agent harness's HTTP client: requests to the model API and web_fetch, from inside the sandbox,
// through the egress proxy (HTTPS_PROXY: CONNECT for https, the absolute form for http), one connection
// per request. TLS is verified against the sandbox's trust (SSL_CERT_FILE holds Airlock's CA).
//
// cancel() may be called from another thread (a user.interrupt): it shuts the socket of the request in
// flight down, so the blocked read returns, and fails every request after it until reset().
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/blocking_channel.hpp"
#include "http/control_client.hpp"

namespace airlock::control::agent {

class RequestCancelled : public ConnectionFailed {
 public:
  RequestCancelled() : ConnectionFailed("the request was interrupted") {}
};

struct HttpsRequest {
  std::string method = "GET";
  ControlUrl url;        // scheme, host, port, path prefix
  std::string target;    // path and query after the prefix, starting with '/'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A GET of an absolute http(s) URL: its scheme, host and port, and its target (path and query, "/" when
// it has none, without the fragment). nullopt when it is not such a URL.
std::optional<HttpsRequest> request_to(std::string_view url);

class HttpsClient {
 public:
  // The egress proxy, and the Proxy-Authorization its URL's user and password make (the session's id and
  // proxy token, which identify the session to the proxy).
  struct Proxy {
    ControlUrl url;
    std::string authorization;  // "Basic ...", or empty
  };

  // `proxy`: nullopt connects directly. `read_timeout` bounds each read: a streamed answer must send
  // something (the model API pings) at least that often.
  HttpsClient(std::optional<Proxy> proxy, std::chrono::milliseconds connect_timeout, std::chrono::milliseconds read_timeout);

  // `peer` names the other end in errors ("the model API"). With `on_body`, a 2xx body is streamed to it.
  // Throws ConnectionFailed, or RequestCancelled after cancel().
  HttpAnswer send(const HttpsRequest& request, std::string_view peer,
                  const std::function<bool(std::string_view)>* on_body = nullptr, std::size_t max_body = 8 << 20);

  void cancel();
  void reset();

  // The proxy from the environment (HTTPS_PROXY, then https_proxy), when it is an http:// URL.
  static std::optional<Proxy> proxy_from_environment();
  // "http://user:password@host:port" as a Proxy; nullopt when it is not an http:// URL.
  static std::optional<Proxy> parse_proxy(std::string_view url);

 private:
  // Registers the socket of the request in flight, so cancel() can reach it; false when cancelled already.
  bool track(int fd);

  std::optional<Proxy> proxy_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds read_timeout_;
  std::mutex mutex_;
  int active_fd_ = -1;
  bool cancelled_ = false;
};

}  // namespace airlock::control::agent
