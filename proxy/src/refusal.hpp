// Refusals: every response the proxy generates itself, and every failure it audits, has one row in
// kRefusals (STYLE.md §3): its status, its RFC 9209 Proxy-Status error token, the audit decision, the
// stable reason word (in the body, the Proxy-Status details and the audit row), and a hint that says what
// to change. Rows are in Reason order; static_asserts in refusal.cpp check it.
//
// A hint may name {host}, {port}, {secret_name}, {session} and {detail}. Those are filled only with
// values Airlock validated or wrote itself (a validated host name, a secret_name, a parser or OpenSSL
// message) and never with request bytes, a placeholder or a secret value (S8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace airlock::proxy {

enum class Reason : std::uint8_t {
  bad_request,
  not_a_proxy_request,
  request_timeout,
  proxy_auth_required,
  unknown_source,
  not_redirected,
  bad_client_hello,
  session_closed,
  host_not_allowed,
  address_not_allowed,
  policy_not_found,
  policy_denied,
  request_body_too_large,
  session_connection_limit,
  session_rate_limit,
  proxy_connection_limit,
  source_connection_limit,
  proxy_offline,
  placeholder_violation,
  plaintext_substitution,
  compressed_body,
  upgrade_refused,
  host_mismatch,
  certificate_unavailable,
  client_tls_failed,
  client_untrusted_ca,
  client_closed,
  upstream_unresolvable,
  upstream_connect_failed,
  upstream_connect_timeout,
  upstream_cert_invalid,
  upstream_tls_failed,
  upstream_response_timeout,
  upstream_bad_response,
  upstream_closed,
  response_unscannable,
  partial_response,
  count,
};

struct RefusalRow {
  Reason reason;
  std::string_view word;          // the stable reason word
  unsigned status;                // 0: no HTTP response can be sent (audited only)
  std::string_view proxy_status;  // RFC 9209 error token
  std::string_view decision;      // audit decision: "denied" (policy) or "error" (failure)
  std::string_view hint;          // what to change; fmt format string over the named fields above
};

const RefusalRow& refusal_row(Reason reason) noexcept;
inline std::string_view reason_word(Reason reason) noexcept { return refusal_row(reason).word; }

// The values a hint may name. Empty ones are written as "?".
struct RefusalFacts {
  std::string_view host{};
  std::uint16_t port = 0;
  std::string_view secret_name{};
  std::string_view session{};
  std::string_view detail{};
};

// The plain-text body: "<word>: <hint>\n".
std::string refusal_body(Reason reason, const RefusalFacts& facts);

// A complete HTTP/1.1 response: status line, Content-Type text/plain, Content-Length, Proxy-Status
// (`airlock; error=<token>; details="<word>"`), X-Airlock-Refusal (`<word>`, for clients that drop
// Proxy-Status), Proxy-Authenticate for 407, Retry-After for 429 and 503, Connection: close, body.
// Precondition: refusal_row(reason).status != 0.
std::string render_refusal(Reason reason, const RefusalFacts& facts);

// The standard reason phrase of `status` (RFC 9110 §15; "Forbidden", ...), or "Unknown". Also what every
// forwarded response carries instead of the upstream's own phrase, which could hold a secret (S11).
std::string_view status_text(unsigned status) noexcept;

}  // namespace airlock::proxy
