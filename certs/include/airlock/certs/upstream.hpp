// TLS toward real upstreams (SECURITY.md S3): the client context the proxy connects with, the per-
// connection setup that pins verification to the host, and readable reasons when verification fails.
//
// Trust is the system's default paths plus any extra CA files (`--upstream-ca FILE`, for test origins
// and private CAs). Peer verification is always on; there is no switch to turn it off.
//
// Session resumption: the context keeps the sessions of verified connections, by host and port, in a
// bounded store owned by the context (freed with it). configure_upstream() offers the saved session on
// the next connection to the same host and port; TLS 1.3 sessions are offered once (RFC 8446 C.4), TLS
// 1.2 sessions until replaced. Only a session whose peer passed verification is kept.
//
// Thread safety: the context may be shared by every thread; the session store is locked internally.
// Every public call clears the thread's OpenSSL error queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "airlock/certs/host.hpp"
#include "airlock/certs/openssl.hpp"
#include "airlock/certs/result.hpp"

namespace airlock::certs {

using ClientContext = std::shared_ptr<SSL_CTX>;

struct UpstreamTlsOptions {
  std::vector<std::filesystem::path> extra_ca_files;  // PEM files of CA certificates, trusted in addition
  std::size_t session_cache_capacity = 1024;          // host:port pairs whose session is kept
};

// A client context: TLS 1.2 at least, peer verification on, the trust above, ALPN "http/1.1",
// client-side session cache, SSL_MODE_RELEASE_BUFFERS. Errc::io naming the file when an extra CA file
// cannot be read or holds no certificate; Errc::openssl if the system paths or the setup fail.
Result<ClientContext> make_upstream_context(const UpstreamTlsOptions& options = {});

// Prepares `ssl` (created from a context made by make_upstream_context, before the handshake) for a
// connection to host:port: SNI with the name (never for an IP literal, RFC 6066 §3), certificate name
// checking against the host (SSL_set1_host for a DNS name, the iPAddress SAN for an IP literal), and the
// saved session, if any. Errc::openssl if OpenSSL refuses a setting.
Status configure_upstream(SSL* ssl, const ValidatedHost& host, std::uint16_t port);

// The text for an X509_V_* verification result, e.g. "hostname mismatch (X509 error 62)".
std::string verify_error_reason(long verify_result);

// After a failed client handshake on `ssl`: why the peer's certificate was not accepted, or nullopt
// when certificate verification did not fail (the handshake failed for another reason).
std::optional<std::string> verify_failure_reason(const SSL* ssl);

}  // namespace airlock::certs
