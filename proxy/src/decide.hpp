// decide(): which credentials a request may carry to its upstream, and whether it is refused. Pure: no
// I/O, no clock; it reads the request head, the verified upstream and the session's credentials.
//
// Rules (SECURITY.md S1, S5, S9; API.md §9 injection_location):
//   - the environment's network policy: a limited environment reaches only its allowed_hosts
//     (host_not_allowed);
//   - an environment_variable credential applies to a host when it is unrestricted or one of its
//     allowed_hosts matches. Its placeholder is substituted in header values (in_header; also inside
//     Authorization: Basic), in the request target (in_url) and in the body (in_body, streaming);
//   - a placeholder seen in a header or the target of a request to a host its credential does not allow is
//     a violation (placeholder_violation), unless violations pass through; in the body it is watched for
//     while streaming, with the same outcome;
//   - no substitution into plain http:// unless allowed (plaintext_substitution);
//   - a compressed body (Content-Encoding other than identity) cannot be rewritten: a placeholder seen in
//     it refuses the request (compressed_body);
//   - static_bearer: a request to the credential's mcp_server_url (scheme, host, port, path prefix) gets
//     Authorization: Bearer <token>, whatever the client sent. The longest matching prefix wins;
//   - reflect: every credential that may be sent to this host (environment_variable: its networking;
//     static_bearer: its URL's host and port), whether or not this request carries it. Their secrets are
//     what the response is redacted for, and only such hosts' responses are scanned (S7, S10, S11);
//   - an Upgrade (WebSocket) toward such a host is refused: frames after a 101 cannot be scanned, so a
//     secret stored there could be read back through them (upgrade_refused).
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "airlock/certs/host.hpp"
#include "airlock/http1/parser.hpp"
#include "airlock/proxy/snapshot.hpp"
#include "refusal.hpp"

namespace airlock::proxy {

// The upstream Airlock itself resolved, connected to and (for TLS) verified: the only host decisions are
// made about (S2, S3). Built by intercept after the connection is up; tests use for_test().
class VerifiedUpstream {
 public:
  const certs::ValidatedHost& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  bool tls() const noexcept { return tls_; }

  static VerifiedUpstream for_test(certs::ValidatedHost host, std::uint16_t port, bool tls) {
    return VerifiedUpstream(std::move(host), port, tls);
  }

 private:
  friend struct UpstreamVerifier;  // intercept.cpp
  VerifiedUpstream(certs::ValidatedHost host, std::uint16_t port, bool tls)
      : host_(std::move(host)), port_(port), tls_(tls) {}

  certs::ValidatedHost host_;
  std::uint16_t port_;
  bool tls_;
};

// A placeholder that must not appear in the body: seeing it refuses the request with `reason`.
struct BodyWatch {
  const CredentialRule* credential;
  Reason reason;
};

// Allowed: what to substitute where.
struct Plan {
  std::vector<const CredentialRule*> header;  // substitute in header values
  std::vector<const CredentialRule*> url;     // substitute in the request target
  std::vector<const CredentialRule*> body;    // substitute in the body
  std::vector<BodyWatch> watch;               // refuse if seen in the body
  const CredentialRule* bearer = nullptr;     // static_bearer whose token becomes the Authorization header
  std::vector<const CredentialRule*> reflect; // credentials that may be sent to this host: redact their secrets
};

struct Refuse {
  Reason reason;
  const CredentialRule* credential = nullptr;  // the credential a placeholder refusal is about
};

using Decision = std::variant<Refuse, Plan>;

struct DecideOptions {
  bool violation_passthrough = false;
  bool allow_plaintext_substitution = false;
};

// The environment policy alone (also checked at CONNECT, before anything is connected).
bool environment_allows(const SessionEntry& session, const certs::ValidatedHost& host) noexcept;

// Whether `credential` may be substituted on `host` (its networking).
bool credential_allows(const CredentialRule& credential, const certs::ValidatedHost& host) noexcept;

// Whether the request has a body, and whether that body is compressed.
bool has_body(const http1::RequestHead& head) noexcept;
bool is_compressed(const http1::Headers& headers) noexcept;

Decision decide(const http1::RequestHead& head, const VerifiedUpstream& upstream, const SessionEntry& session,
                const DecideOptions& options);

}  // namespace airlock::proxy
