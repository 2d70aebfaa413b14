// intercept: the two TLS ends of an intercepted connection.
//
// Upstream (S3): resolve the host once (ProxyOptions::resolve first, else getaddrinfo through Asio), check
// every address with Shared::address_rules and refuse the connection if any is refused (N1), try the
// addresses in order until one connects, never re-resolve for this connection (N2); then TLS with the upstream context
// (system trust + --upstream-ca), SNI for names only, the certificate checked against the name or the
// iPAddress SAN. Any failure is a Reason for the client's 502/504; there is no unverified path. Only
// after all of that does a VerifiedUpstream exist. A connection from the pool was verified when opened.
//
// Client side (S2, K2): a leaf for the CONNECT host from the LeafCache, the handshake with the sandbox,
// and the SNI the client sent, which must name the CONNECT host when present.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "context.hpp"
#include "decide.hpp"
#include "io.hpp"
#include "network_policy.hpp"
#include "refusal.hpp"
#include "target.hpp"

namespace airlock::proxy {

// A connection's current upstream; empty until the first request needs it. After a complete exchange the
// connection keeps it (`idle`) for its next request to the same destination, instead of handing it to the
// pool and taking one back: under concurrency the pool's per-host cap would otherwise close the surplus
// and every client connection would soon need a new TLS connection upstream.
struct UpstreamSlot {
  std::unique_ptr<Leg> leg;
  std::optional<VerifiedUpstream> verified;
  std::string key;      // pool key
  bool reused = false;  // used before, from the pool or this connection (a failure before any response byte may be retried)
  bool idle = false;    // kept after a complete exchange: reusable, nothing in flight
};

struct ConnectFailure {
  Reason reason;
  std::string detail;  // Airlock's or OpenSSL's words, never request bytes
};

// Makes `slot` hold a connection to `destination` for `session_id`: the one it holds if that matches,
// else a pooled one (unless `fresh`), else a new one. The leg is watched by `watchdog`. `reach`: which
// addresses a new connection may use (N1; Reach::internal when a policy rule says internal: true).
asio::awaitable<std::optional<ConnectFailure>> ensure_upstream(Shared& shared, Worker& worker, Watchdog& watchdog,
                                                               UpstreamSlot& slot, std::string_view session_id,
                                                               const Authority& destination, bool tls,
                                                               bool fresh = false, Reach reach = Reach::public_only);

// N1 at CONNECT time: a target given as an IP address is checked before the tunnel opens (a name is
// checked once resolved, in ensure_upstream). nullopt: allowed, or a name.
std::optional<ConnectFailure> refused_ip_target(const Shared& shared, const Authority& target, Reach reach);

// Hands the slot's connection to the pool when `reusable`, else closes it. The slot is empty afterwards.
void release_upstream(Worker& worker, Watchdog& watchdog, UpstreamSlot& slot, bool reusable);
// After a complete exchange: the slot keeps its connection for the connection's next request (no deadline
// while it waits; the upstream may close it meanwhile, which the next request detects and retries).
void keep_upstream(UpstreamSlot& slot) noexcept;
// When the client connection ends: an idle kept connection goes to the pool, anything else is closed.
inline void end_upstream(Worker& worker, Watchdog& watchdog, UpstreamSlot& slot) {
  release_upstream(worker, watchdog, slot, slot.idle);
}

struct ClientTls {
  std::optional<Reason> failure;  // certificate_unavailable or client_tls_failed: nothing can be answered
  std::string detail;
  bool sni_mismatch = false;      // S2: the client named another host; every request gets 421
};

// Mints (or reuses) the leaf for `host` and runs the server-side handshake on `client`.
asio::awaitable<ClientTls> accept_client_tls(Shared& shared, Leg& client, const certs::ValidatedHost& host);

// The warn line for client_untrusted_ca: nothing can be answered to a client that distrusts us, so the
// log says which bundle and variables to give it (the audit row has the reason).
void warn_untrusted_ca(Shared& shared, const certs::ValidatedHost& host) noexcept;

}  // namespace airlock::proxy
