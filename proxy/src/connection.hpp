// Connection: one sandbox connection to the proxy, from accept to close, as one coroutine.
//
// States (each wait bounded by its named deadline):
//
//   reading a request head ──CONNECT──> identify (407) → environment (403) → passthrough host? ──> splice
//        │                                 │ "200 Connection Established"
//        │                                 v
//        │                           peek: TLS? ──yes──> leaf + handshake (SNI checked) ──┐
//        │                                 │ no (plain HTTP inside the tunnel)           │
//        │                                 v                                             v
//        │                           inner requests: Host check (421) → upstream (resolve, connect,
//        │                           verify: 502) → decide (403/415) → forward → audit, keep-alive loop
//        │
//        └──absolute-form http://──> identify → environment → upstream → decide → forward → audit,
//                                    keep-alive loop (every request carries Proxy-Authorization)
//
//   transparent listener (transparent.cpp): original destination → peek: TLS ClientHello (SNI) or HTTP
//   head (Host) → session by source → passthrough host? splice : the tunnel's path above, from the
//   handshake (TLS) or the inner requests (HTTP) on; refusals before a handshake are TLS alerts
//
// Invariants: the frame owns the client Leg, its input buffer and the current upstream slot; stages
// borrow them only while awaited. An upstream connection is held only during an exchange (then pooled
// or closed), so an idle connection holds no upstream and no buffers. Every exchange ends in exactly one
// audit record. After a refusal the connection ends with a lingering close.
//
// Threading: created and run on its worker's thread; drain() and abort() are called on that thread too.
#pragma once

#include <list>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "airlock/http1/parser.hpp"
#include "buffer.hpp"
#include "context.hpp"
#include "exchange.hpp"
#include "identify.hpp"
#include "intercept.hpp"
#include "io.hpp"
#include "network_policy.hpp"
#include "original_destination.hpp"

namespace airlock::proxy {

class Connection {
 public:
  Connection(Shared& shared, Worker& worker, Socket socket);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The whole life of the connection, its watchdog alongside. `transparent`: accepted on a transparent
  // listener (no proxy request: the destination comes from the connection itself).
  asio::awaitable<void> run(bool transparent = false);

  // Shutdown (STYLE.md §2): drain() lets the current exchange finish with Connection: close and closes
  // an idle connection at once; abort() ends whatever is left.
  void drain() noexcept;
  void abort() noexcept;

 private:
  // abandoned: the peer closed before the connection's first byte, without even a TLS close_notify.
  enum class HeadResult { ok, closed, abandoned, timed_out, malformed };

  asio::awaitable<void> serve(bool transparent);
  asio::awaitable<void> transparent();
  asio::awaitable<void> transparent_tls(const TransparentAddresses& addresses, Exchange& exchange);
  asio::awaitable<void> transparent_http(const TransparentAddresses& addresses, Exchange& exchange);
  // A transparent connection's session, or a refusal (not_redirected, unknown_source) sent and audited.
  asio::awaitable<Caller> transparent_caller(const TransparentAddresses& addresses, Exchange& exchange);
  asio::awaitable<HeadResult> read_head(http1::RequestParser& parser, bool first);
  asio::awaitable<void> connect_tunnel(http1::RequestParser& parser);
  // The tunnel's checks before it opens (environment, policy for the connection, an IP target's address):
  // true when refused (sent and audited). `reach` receives what the policy allows.
  asio::awaitable<bool> refuse_tunnel(const SessionEntry& session, const Authority& target, bool intercepted,
                                      Exchange& exchange, Reach& reach);
  // `established`: what the client is told once the upstream is connected ("200 Connection Established"
  // after a CONNECT; nothing on a transparent connection).
  asio::awaitable<void> passthrough(const Caller& caller, const Authority& target, Reach reach, Exchange& exchange,
                                    std::string_view established);
  // The requests inside a tunnel. `head_ready`: `parser` already holds the first request's head. True
  // when the client left before its first request without a word (see rejected_after_handshake).
  asio::awaitable<bool> tunnel_requests(http1::RequestParser& parser, bool head_ready, std::string session_id,
                                        const Authority& target, bool tls, bool sni_mismatch);
  asio::awaitable<bool> absolute_request(http1::RequestParser& parser);
  // Audits `exchange` as client_untrusted_ca: a TLS client that closes right after the handshake, before
  // its first byte and without a close_notify, checked our certificate after the handshake and refused
  // it (Node.js clients do so).
  void rejected_after_handshake(Exchange& exchange, const certs::ValidatedHost& host);
  // Refuses, audits, and marks the connection for a lingering close.
  asio::awaitable<void> deny(Exchange& exchange, Reason reason, RefusalFacts facts);
  // Inside a tunnel the refusal is the tunnel's session's, for its egress audit, and names its host.
  asio::awaitable<void> deny_head(HeadResult result, http1::RequestParser& parser, const std::string& session_id = {},
                                  const Authority* target = nullptr);
  Exchange begin(const http1::RequestHead& head) const;
  // 503 proxy_offline: `snapshot` says this proxy serves no one now (CredentialSnapshot::unavailable). A
  // call only on that rare path, so a request's own path awaits nothing more for the check.
  asio::awaitable<void> deny_offline(Exchange& exchange, const CredentialSnapshot& snapshot);
  // Per-session limits for a request of `session_id`: the connection's lease for it, then one token.
  std::optional<Reason> admit(const std::string& session_id);
  asio::awaitable<void> deny_limited(Exchange& exchange, Reason reason);  // 429 naming the limit

  Shared& shared_;
  Worker& worker_;
  Leg client_;
  Watchdog watchdog_;
  InputBuffer client_in_;
  UpstreamSlot upstream_;
  SessionLimits::Lease lease_;  // this connection counted against its session's max_connections_per_session
  std::list<Connection*>::iterator registration_;
  bool idle_ = false;      // waiting for the next request: drain() closes it at once
  bool draining_ = false;
  bool linger_ = false;    // a refusal was sent: close with lingering_close
  bool reset_ = false;     // a response broke off after its head: reset the client (Forwarded::cut_short)
  bool alert_refusals_ = false;        // transparent TLS before the handshake: a refusal is a TLS alert
  std::string original_destination_;   // transparent connections: for every audit record
};

// The coroutine co_spawned per accepted socket (TCP or Unix, already through prepare_socket). Nothing in a
// connection's life depends on the peer's address: the caller is identified by Proxy-Authorization.
asio::awaitable<void> serve_connection(Shared& shared, Worker& worker, Socket socket);
// The same for a socket from a transparent listener: identified by its source address (or the bound session).
asio::awaitable<void> serve_transparent(Shared& shared, Worker& worker, Socket socket);

}  // namespace airlock::proxy
