// The refusal table and the responses built from it (see refusal.hpp).
#include "refusal.hpp"

#include <array>

#include <fmt/args.h>
#include <fmt/format.h>

#include "airlock/proxy/proxy.hpp"

namespace airlock::proxy {

namespace {

constexpr std::array<RefusalRow, static_cast<std::size_t>(Reason::count)> kRefusals{{
    {Reason::bad_request, "bad_request", 400, "http_request_error", "denied",
     "the request is not valid HTTP/1.1 ({detail}); send one well-formed request per message"},
    {Reason::not_a_proxy_request, "not_a_proxy_request", 400, "http_request_error", "denied",
     "this is Airlock's egress proxy: send CONNECT host:port (HTTPS_PROXY) or an absolute http:// URL "
     "(HTTP_PROXY), with the proxy URL from GET /v1/sessions/<id>/sandbox_env"},
    {Reason::request_timeout, "request_timeout", 408, "http_request_error", "denied",
     "the request head did not arrive in time; send the whole head at once"},
    {Reason::proxy_auth_required, "proxy_auth_required", 407, "http_request_denied", "denied",
     "send Proxy-Authorization: Basic with the session id as user and the session's proxy token as password; "
     "use HTTPS_PROXY and HTTP_PROXY from GET /v1/sessions/<id>/sandbox_env"},
    {Reason::unknown_source, "unknown_source", 403, "http_request_denied", "denied",
     "connections from {detail} to Airlock's transparent listener belong to no active session; map that address "
     "to its session in proxy.transparent_sessions, or run `airlock proxy --session` beside the sandbox"},
    {Reason::not_redirected, "not_redirected", 400, "http_request_error", "denied",
     "this is a transparent listener: it serves connections that iptables/nftables REDIRECT or TPROXY sent to "
     "it, not connections made to it; send proxy requests to the proxy listener (HTTPS_PROXY)"},
    {Reason::bad_client_hello, "bad_client_hello", 0, "tls_protocol_error", "denied",
     "the TLS ClientHello sent to the transparent listener could not be read ({detail})"},
    {Reason::session_closed, "session_closed", 403, "http_request_denied", "denied",
     "session {session} is no longer active (archived or deleted); start a new session"},
    {Reason::host_not_allowed, "host_not_allowed", 403, "http_request_denied", "denied",
     "{host} is not in this session's environment allowed_hosts; add it to the environment's "
     "config.networking.allowed_hosts to reach it"},
    {Reason::address_not_allowed, "address_not_allowed", 403, "destination_ip_prohibited", "denied", "{detail}"},
    {Reason::policy_not_found, "policy_not_found", 403, "http_request_denied", "denied",
     "the environment of session {session} names the network policy {detail:?}, which the policy file does not "
     "define; add it to the file (proxy.policy_file) and reload, or change the environment's metadata airlock.policy"},
    {Reason::policy_denied, "policy_denied", 403, "http_request_denied", "denied",
     "{detail}; change the policy file (proxy.policy_file) and reload to allow it"},
    {Reason::request_body_too_large, "request_body_too_large", 413, "http_request_denied", "denied", "{detail}"},
    {Reason::session_connection_limit, "session_connection_limit", 429, "http_request_denied", "denied",
     "session {session} already holds {detail} open connections to the proxy, its limit; close some or reuse them "
     "(keep-alive), or raise proxy.max_connections_per_session"},
    {Reason::session_rate_limit, "session_rate_limit", 429, "http_request_denied", "denied",
     "session {session} is over its limit of {detail} requests per second; retry after Retry-After seconds, or "
     "raise proxy.max_requests_per_second_per_session"},
    {Reason::proxy_connection_limit, "proxy_connection_limit", 503, "connection_limit_reached", "error",
     "Airlock's proxy already holds {detail} open connections, its limit; retry later, or raise proxy.max_connections"},
    {Reason::source_connection_limit, "source_connection_limit", 429, "connection_limit_reached", "error",
     "{host} already holds {detail} open connections to Airlock's proxy, the limit for one address; close some "
     "or reuse them (keep-alive), or raise proxy.max_connections_per_source"},
    {Reason::proxy_offline, "proxy_offline", 503, "proxy_internal_error", "error",
     "this proxy refuses everything until it reaches its control plane again ({detail}); retry later"},
    {Reason::placeholder_violation, "placeholder_violation", 403, "http_request_denied", "denied",
     "the placeholder of {secret_name} may not be sent to {host}; add {host} to that credential's "
     "networking.allowed_hosts, or remove the placeholder from the request"},
    {Reason::plaintext_substitution, "plaintext_substitution", 403, "http_request_denied", "denied",
     "secrets are substituted only over TLS and this request to {host} is plain http://; use https://{host}"},
    {Reason::compressed_body, "compressed_body", 415, "http_request_denied", "denied",
     "the request body is compressed (Content-Encoding) and carries the placeholder of {secret_name}; "
     "send the body uncompressed so the placeholder can be replaced"},
    {Reason::upgrade_refused, "upgrade_refused", 403, "http_request_denied", "denied",
     "{host} receives the credential {secret_name}, and the frames after a protocol upgrade (WebSocket) "
     "cannot be scanned for it, so upgrades to {host} are refused; use plain HTTP requests"},
    {Reason::host_mismatch, "host_mismatch", 421, "http_request_denied", "denied",
     "the TLS server name and the Host header must equal the CONNECT target {host}; open a new CONNECT "
     "for another host"},
    {Reason::certificate_unavailable, "certificate_unavailable", 0, "proxy_internal_error", "error",
     "Airlock could not make a certificate for {host} ({detail}); try again"},
    {Reason::client_tls_failed, "client_tls_failed", 0, "tls_protocol_error", "error",
     "the TLS handshake with the sandbox for {host} failed; the sandbox must trust Airlock's CA "
     "(SSL_CERT_FILE from sandbox_env)"},
    {Reason::client_untrusted_ca, "client_untrusted_ca", 0, "tls_certificate_error", "error",
     "the sandbox rejected Airlock's certificate for {host}: it does not trust Airlock's CA. Give it the bundle "
     "(ca_bundle_pem, SSL_CERT_FILE from sandbox_env); tools with a CA setting of their own need it there too "
     "(NODE_EXTRA_CA_CERTS, NPM_CONFIG_CAFILE, PIP_CERT, ...: see docs/proxy.md)"},
    {Reason::client_closed, "client_closed", 0, "http_request_error", "error",
     "the sandbox closed the connection before the request to {host} was complete"},
    {Reason::upstream_unresolvable, "upstream_unresolvable", 502, "dns_error", "error",
     "{host} could not be resolved ({detail}); check the host name"},
    {Reason::upstream_connect_failed, "upstream_connect_failed", 502, "destination_unavailable", "error",
     "could not connect to {host} port {port} ({detail}); check that it is up and listening"},
    {Reason::upstream_connect_timeout, "upstream_connect_timeout", 504, "connection_timeout", "error",
     "{host} port {port} did not accept a connection in time"},
    {Reason::upstream_cert_invalid, "upstream_cert_invalid", 502, "tls_certificate_error", "error",
     "the certificate of {host} failed verification ({detail}) and Airlock never continues unverified; if "
     "the host uses a private CA, give that CA to Airlock with --upstream-ca"},
    {Reason::upstream_tls_failed, "upstream_tls_failed", 502, "tls_protocol_error", "error",
     "the TLS handshake with {host} port {port} failed; the host must speak TLS 1.2 or later"},
    {Reason::upstream_response_timeout, "upstream_response_timeout", 504, "http_response_timeout", "error",
     "{host} did not send a response in time"},
    {Reason::upstream_bad_response, "upstream_bad_response", 502, "http_protocol_error", "error",
     "{host} sent a response Airlock could not parse ({detail})"},
    {Reason::upstream_closed, "upstream_closed", 502, "http_response_incomplete", "error",
     "{host} closed the connection before a complete response"},
    {Reason::response_unscannable, "response_unscannable", 502, "http_response_content_coding", "error",
     "{host} receives credentials and its response could not be scanned for them ({detail}); Airlock asks it "
     "for Accept-Encoding: identity and decodes gzip, deflate and br, and refuses anything else"},
    {Reason::partial_response, "partial_response", 502, "http_protocol_error", "error",
     "{host} receives credentials and answered with a partial response (206), which cannot be scanned for "
     "them; Airlock does not forward Range requests to it, so ask for the whole resource"},
}};

constexpr bool rows_in_order() {
  for (std::size_t i = 0; i < kRefusals.size(); ++i) {
    if (static_cast<std::size_t>(kRefusals[i].reason) != i || kRefusals[i].word.empty() ||
        kRefusals[i].hint.empty()) {
      return false;
    }
  }
  return true;
}
static_assert(rows_in_order(), "kRefusals: one row per Reason, in enum order");

std::string_view or_unknown(std::string_view value) { return value.empty() ? std::string_view("?") : value; }

}  // namespace

const RefusalRow& refusal_row(Reason reason) noexcept { return kRefusals[static_cast<std::size_t>(reason)]; }

std::string_view refusal_decision(std::string_view reason) noexcept {
  for (const RefusalRow& row : kRefusals) {
    if (row.word == reason) return row.decision;
  }
  return {};
}

std::string refusal_body(Reason reason, const RefusalFacts& facts) {
  const RefusalRow& row = refusal_row(reason);
  fmt::dynamic_format_arg_store<fmt::format_context> args;
  args.push_back(fmt::arg("host", or_unknown(facts.host)));
  args.push_back(fmt::arg("port", facts.port));
  args.push_back(fmt::arg("secret_name", or_unknown(facts.secret_name)));
  args.push_back(fmt::arg("session", or_unknown(facts.session)));
  args.push_back(fmt::arg("detail", or_unknown(facts.detail)));
  std::string body(row.word);
  body += ": ";
  body += fmt::vformat(row.hint, args);
  body += '\n';
  return body;
}

std::string render_refusal(Reason reason, const RefusalFacts& facts) {
  const RefusalRow& row = refusal_row(reason);
  const std::string body = refusal_body(reason, facts);
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
      "Proxy-Status: airlock; error={}; details=\"{}\"\r\nX-Airlock-Refusal: {}\r\n",
      row.status, status_text(row.status), body.size(), row.proxy_status, row.word, row.word);
  if (row.status == 407) out += "Proxy-Authenticate: Basic realm=\"airlock\"\r\n";
  if (row.status == 429 || row.status == 503) out += "Retry-After: 1\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

std::string_view status_text(unsigned status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
  }
}

}  // namespace airlock::proxy
