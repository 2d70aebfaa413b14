// What connections share: the Shared state of the whole proxy (options, TLS contexts, the snapshot slot,
// the audit sink, counters) and the Worker each connection runs on (its io_context, its upstream pool,
// the registry of its connections for draining).
//
// Threading: Shared is read-only after construction except for its atomics; the LeafCache is internally
// locked; the upstream SSL_CTX is shared read-only (its session store is locked in certs). A Worker's
// members are touched only on that worker's thread (stop() posts to it).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "label_counts.hpp"
#include "limits.hpp"
#include "airlock/certs/leaf_cache.hpp"
#include "airlock/certs/upstream.hpp"
#include "airlock/proxy/histogram.hpp"
#include "airlock/proxy/proxy.hpp"
#include "pool.hpp"
#include "refusal.hpp"

namespace airlock::proxy {

struct Counters {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> requests_allowed{0};
  std::atomic<std::uint64_t> requests_substituted{0};
  std::atomic<std::uint64_t> responses_redacted{0};
  std::atomic<std::uint64_t> tunnels_passthrough{0};
  std::atomic<std::uint64_t> transparent_connections{0};
  std::atomic<std::uint64_t> upstream_connections_opened{0};
  std::atomic<std::uint64_t> upstream_connections_reused{0};
  std::atomic<std::uint64_t> upstream_connections_open{0};  // each upstream Leg counts itself until closed (io.hpp)
  std::atomic<std::uint64_t> client_tls_handshakes{0};
  std::atomic<std::uint64_t> upstream_tls_handshakes{0};
  std::atomic<std::uint64_t> bytes_up{0};
  std::atomic<std::uint64_t> bytes_down{0};
  LatencyHistogram request_duration;           // request head in -> exchange audited
  LatencyHistogram upstream_connect_duration;  // resolve + connect + TLS handshake of a new upstream connection
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Reason::count)> refused{};
  LabelCounts redactions{kMaxRedactionSecretNames};  // by secret_name; taken only for responses with a redaction
  LabelCounts host_requests{kMaxMetricHosts};        // (host, decision); only with options.metrics_host_labels
};

struct Shared {
  Shared(ProxyOptions options_in, policies::AddressRules address_rules_in, std::unique_ptr<certs::LeafCache> leaves_in,
         certs::ClientContext upstream_tls_in, SnapshotSlot& snapshots_in, AuditSink& audit_in, std::uint32_t upstream_mark_in)
      : options(std::move(options_in)),
        address_rules(std::move(address_rules_in)),
        limits(options.max_connections_per_session, options.max_requests_per_second_per_session),
        sources(options.max_connections_per_source),
        leaves(std::move(leaves_in)),
        upstream_tls(std::move(upstream_tls_in)),
        snapshots(snapshots_in),
        audit(audit_in),
        upstream_mark(upstream_mark_in) {}

  const ProxyOptions options;
  const policies::AddressRules address_rules;  // N1: options.allow_private, and every listener of this process
  SessionLimits limits;                        // per-session connections and request rate (internally locked)
  SourceLimits sources;                        // per-address connections (internally locked)
  const std::unique_ptr<certs::LeafCache> leaves;
  const certs::ClientContext upstream_tls;
  SnapshotSlot& snapshots;
  AuditSink& audit;
  const std::uint32_t upstream_mark;           // SO_MARK for upstream sockets: options.upstream_mark when permitted, else 0
  Counters counters;
  std::atomic<bool> draining{false};
};

class Connection;

// Member order is destruction order, reversed: the pool's sockets go before `io`; `io` destroys the
// frames of unfinished connections, which unregister from `connections` and give their buffers back to
// `buffers`, so those two go last.
struct Worker {
  explicit Worker(const ProxyOptions& options)
      : io(1),
        pool(options.pool_per_host, options.pool_per_worker,
             std::chrono::duration_cast<Clock::duration>(options.timeouts.pool_idle)) {}

  std::list<Connection*> connections;   // for drain and abort
  BufferPool buffers;                   // outlives every leg and input buffer that returns into it
  boost::asio::io_context io;           // concurrency hint 1: one thread runs it
  UpstreamPool pool;
};

}  // namespace airlock::proxy
