// airlock::proxy — Airlock's egress proxy: a forward proxy (CONNECT with TLS interception, and
// absolute-form plain HTTP) that identifies the calling session, enforces the environment's network
// policy, substitutes placeholders for secrets on the hosts each credential allows, redacts secrets that
// upstreams echo back, and audits every exchange (SECURITY.md S1-S9).
//
// Ownership: the Proxy owns its listening sockets (TCP, and the Unix socket when one is configured), its
// worker threads (one io_context each), the leaf
// certificate cache and the upstream TLS context. It borrows the SnapshotSlot and the AuditSink, which
// must outlive it. The RootCa is shared (immutable).
//
// Threading: construct, start(), stop() and the destructor from one controlling thread. stats() and
// local_endpoint() may be called from any thread. Connection work runs on the Proxy's own threads; a
// connection stays on the worker that accepted it. The only state shared between workers is the
// snapshot slot, the leaf cache (internally locked) and atomic counters.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "airlock/certs/root_ca.hpp"
#include "airlock/policies/address.hpp"
#include "airlock/certs/leaf_cache.hpp"
#include "airlock/proxy/audit.hpp"
#include "airlock/proxy/histogram.hpp"
#include "airlock/proxy/snapshot.hpp"

namespace airlock::proxy {

// Bounds on every await of a connection (STYLE.md §2). A peer that stays silent past one of these loses
// its connection (or, for the upstream, gets the client a 504).
struct ProxyTimeouts {
  std::chrono::milliseconds request_head{30'000};     // from the first byte of a request head to its end
  std::chrono::milliseconds keep_alive_idle{60'000};  // between requests on a client connection
  std::chrono::milliseconds client_handshake{10'000}; // TLS handshake with the sandbox
  std::chrono::milliseconds body_idle{60'000};        // no body byte moved either way for this long
  std::chrono::milliseconds upstream_connect{10'000}; // resolve + TCP connect (all addresses) + TLS handshake
  std::chrono::milliseconds upstream_response{300'000};  // request sent, waiting for the response head
  std::chrono::milliseconds tunnel_idle{300'000};     // passthrough tunnels and WebSocket splices
  std::chrono::milliseconds tls_shutdown{2'000};      // close_notify exchange before closing
  std::chrono::milliseconds pool_idle{30'000};        // an idle pooled upstream connection is closed after this
  std::chrono::milliseconds drain{5'000};             // stop(): how long running exchanges may finish
};

enum class LogLevel { debug, info, warn, error };

struct ProxyOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8421;                   // 0: the kernel picks (see local_endpoint())
  // A second listener on a Unix stream socket at this path (DATA_DIR/proxy.sock, for sandbox relays); empty:
  // none. Its connections are served exactly like TCP ones (Proxy-Authorization, interception, audit). A
  // stale socket file there is replaced; any other kind of file is an error and is left alone. The socket
  // is made 0600 before it listens and is removed by stop().
  std::filesystem::path unix_socket;
  // When set, the socket file gets this group and mode 0660 instead of 0600: the group local sandboxes run
  // with when they run as unprivileged uids (SECURITY.md N6). A connection still needs a proxy token.
  std::optional<gid_t> unix_socket_group;
  // Transparent listeners (docs/sidecar.md): connections that iptables/nftables REDIRECT or TPROXY sent
  // here, from sandboxes with no proxy settings. The host comes from the TLS ClientHello's SNI (or, with
  // none, the original destination's IP) or the HTTP Host header, on the original destination's port;
  // Airlock resolves it itself under the address checks. Port 0: the kernel picks (transparent_endpoints()).
  std::vector<boost::asio::ip::tcp::endpoint> transparent_listen;
  // The session every transparent connection belongs to (the `airlock proxy --session` sidecar). Empty:
  // the snapshot's transparent_sources map each connection's source address to its session.
  std::string transparent_session;
  // SO_MARK on every upstream socket, so a redirect rule can leave the proxy's own connections alone
  // (`meta mark != 0x1a1`); needs CAP_NET_ADMIN (without it the proxy warns at start when it has transparent
  // listeners, and the rule must exclude the proxy's uid instead). 0: no mark.
  std::uint32_t upstream_mark = 0x1a1;
  std::vector<std::filesystem::path> upstream_ca;     // extra CA files trusted for upstreams (--upstream-ca)
  std::map<std::string, std::string> resolve;         // HOST -> IP literal, instead of the system resolver (--resolve)
  // Address checks (SECURITY.md N1, policies/address.hpp): every address an upstream resolves to is checked
  // before connecting. These ranges are opened past the default-refused ones (--allow-private); cloud
  // metadata only by its exact address.
  std::vector<policies::Cidr> allow_private;
  // Other listeners of this process that no sandbox may reach through the proxy (the API). The proxy adds
  // its own TCP listener, and for a listener on 0.0.0.0 or :: every address of this machine.
  std::vector<policies::OwnListener> own_listeners;
  bool placeholder_violation_passthrough = false;     // proxy.placeholder_violation: passthrough (S1)
  std::vector<std::string> passthrough_hosts;         // host patterns tunnelled without interception
  bool allow_plaintext_substitution = false;          // S9
  std::size_t max_header_bytes = 65536;               // request and response heads (S6)
  std::size_t max_held_body_bytes = 1 << 20;          // a rewritten Content-Length body up to this is held to fix
                                                      // its length; a longer one is re-framed as chunked
  std::size_t max_decoded_body_bytes = 8 << 20;       // a compressed response from a host that receives credentials
                                                      // is decoded whole to be scanned (S11); larger: refused (502)
  std::size_t threads = 0;                            // worker threads; 0: the CPUs this process may run on (affinity)
  std::size_t pool_per_host = 8;                      // idle upstream connections kept per (session, host, port)
  std::size_t pool_per_worker = 256;                  // idle upstream connections kept per worker thread
  std::size_t leaf_cache_capacity = 1024;
  // Admission (docs/policy.md, Limits); 0 turns one off. Past max_connections a new connection gets 503
  // and is closed, past max_connections_per_source 429 and is closed; past a session's limits its request
  // gets 429 with Retry-After.
  std::size_t max_connections = 10'000;               // open client connections, all sessions together
  std::size_t max_connections_per_source = 1024;      // open TCP client connections from one address
  std::size_t max_connections_per_session = 256;      // open client connections of one session
  double max_requests_per_second_per_session = 1000;  // a token bucket holding one second of burst
  // ProxyStats::host_requests: every exchange counted by its host and decision (proxy.metrics_host_labels).
  // Off by default: hosts are whatever sandboxes ask for, so each is a new series; see kMaxMetricHosts.
  bool metrics_host_labels = false;
  ProxyTimeouts timeouts;
  // One line per exchange and per failure, "key=value ..." (never a header value, body byte, query string
  // or secret): allowed exchanges at debug (the audit has a row for each), refusals at info, failures at
  // warn. Called from worker threads, concurrently; unset: no logging. Lines below `log_level` are not
  // even formatted.
  std::function<void(LogLevel, std::string_view)> log;
  LogLevel log_level = LogLevel::info;
};

// Label values taken from traffic are bounded: past this many distinct values, new ones count under
// kOtherLabel. Secret names come from the operator's credentials; hosts come from sandbox requests
// (hostile input), so their bound is what keeps a sandbox from growing the proxy's memory and every
// scrape by asking for ever new names.
inline constexpr std::size_t kMaxRedactionSecretNames = 512;  // ProxyStats::redactions
inline constexpr std::size_t kMaxMetricHosts = 200;           // ProxyStats::host_requests
inline constexpr std::string_view kOtherLabel = "_other";

// Counters per decision outcome (STYLE.md §8.10), read while the proxy runs.
struct ProxyStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t requests_allowed = 0;          // exchanges forwarded upstream
  std::uint64_t requests_substituted = 0;      // of those, with at least one substitution
  std::uint64_t responses_redacted = 0;        // responses in which at least one secret was replaced
  std::uint64_t tunnels_passthrough = 0;       // CONNECTs (and transparent TLS connections) to passthrough_hosts
  std::uint64_t transparent_connections = 0;   // accepted on a transparent listener
  std::uint64_t upstream_connections_opened = 0;
  std::uint64_t upstream_connections_reused = 0;   // used again: kept by the client connection, or from the pool
  std::uint64_t upstream_connections_open = 0;     // now: held by client connections, or idle in the pools
  std::uint64_t client_tls_handshakes = 0;         // completed with sandboxes (failures: refused client_tls_failed, ...)
  std::uint64_t upstream_tls_handshakes = 0;       // completed and verified with upstreams (failures: refused upstream_*)
  std::uint64_t bytes_up = 0;                      // request bytes written to upstreams, heads and bodies
  std::uint64_t bytes_down = 0;                    // response bytes written to clients, heads and bodies
  std::map<std::string, std::uint64_t> refused;    // by reason word; every refusal and failure
  // Responses with a secret redacted, by the credential's secret_name ("" for static_bearer): each response
  // counts once per name it had redacted. Never a value. Bounded by kMaxRedactionSecretNames.
  std::map<std::string, std::uint64_t> redactions;
  // With ProxyOptions::metrics_host_labels: every exchange by (host, decision), as audited (passthrough
  // tunnels included). Bounded by kMaxMetricHosts. Empty when the option is off.
  std::map<std::pair<std::string, std::string>, std::uint64_t> host_requests;
  HistogramSnapshot request_duration;              // request head in -> exchange audited (refusals included)
  HistogramSnapshot upstream_connect_duration;     // resolve, connect and TLS handshake of each new upstream connection
  certs::LeafCacheStats leaves;
};

// The audit decision, "denied" or "error", recorded with a refusal of this reason word (ProxyStats::refused's
// keys); "" for a word that is not a reason.
std::string_view refusal_decision(std::string_view reason) noexcept;

class Proxy {
 public:
  // Binds the listeners now (TCP with SO_REUSEADDR; options.unix_socket when set) and prepares the TLS
  // contexts. Throws std::system_error with a message naming the address or file on failure (address in
  // use, a Unix socket path held by a file that is not a socket, unreadable upstream CA, ...).
  Proxy(ProxyOptions options, std::shared_ptr<const certs::RootCa> ca, SnapshotSlot& snapshots, AuditSink& audit);
  // stop()s if still running. A stop() that throws leaves worker threads running on freed state: terminate.
  ~Proxy();  // NOLINT(bugprone-exception-escape)
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // The transparent listeners' bound addresses, in the order of options.transparent_listen.
  std::vector<boost::asio::ip::tcp::endpoint> transparent_endpoints() const;
  // Starts accepting on the Proxy's own threads. Call once.
  void start();
  // Stops accepting (on both listeners; the Unix socket file is removed), lets running exchanges finish
  // (idle connections close at once, busy ones answer with Connection: close) for at most timeouts.drain,
  // closes whatever is left, joins the threads. Idempotent.
  void stop();
  ProxyStats stats() const;
  // From now on, leaves are minted under `ca` (a sidecar's renewed intermediate CA). Any thread.
  void replace_ca(std::shared_ptr<const certs::RootCa> ca);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::proxy
