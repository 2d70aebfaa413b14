// The daemon's metrics, gathered at the scrape; see daemon_metrics.hpp.
#include "metrics/daemon_metrics.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "airlock/proxy/proxy.hpp"
#include "airlock/store/store.hpp"
#include "dataplane/audit_writer.hpp"
#include "dataplane/snapshot_publisher.hpp"
#include "deployments/scheduler.hpp"
#include "http/api_server.hpp"
#include "metrics/exposition.hpp"
#include "runtime/session_runtime.hpp"

namespace airlock::control {
namespace {

using Type = Exposition::Type;

void counter(Exposition& out, std::string_view name, std::string_view help, std::uint64_t value) {
  out.family(name, Type::counter, help);
  out.sample(name, value);
}

void gauge(Exposition& out, std::string_view name, std::string_view help, std::uint64_t value) {
  out.family(name, Type::gauge, help);
  out.sample(name, value);
}

}  // namespace

void render_proxy_metrics(Exposition& out, const proxy::ProxyStats& stats, const AuditStats& audit) {
  counter(out, "airlock_proxy_connections_accepted_total", "Client connections accepted by the proxy's listeners.",
          stats.connections_accepted);
  gauge(out, "airlock_proxy_connections_open", "Client connections open now.", stats.connections_open);
  counter(out, "airlock_proxy_transparent_connections_total", "Connections accepted on transparent listeners.",
          stats.transparent_connections);

  out.family("airlock_proxy_requests_total", Type::counter,
             "Exchanges by audit decision and reason: allowed requests, and every refusal and failure.");
  out.sample("airlock_proxy_requests_total", {{"decision", "allowed"}, {"reason", ""}}, stats.requests_allowed);
  for (const auto& [reason, count] : stats.refused) {
    out.sample("airlock_proxy_requests_total", {{"decision", proxy::refusal_decision(reason)}, {"reason", reason}}, count);
  }
  counter(out, "airlock_proxy_passthrough_tunnels_total", "Tunnels to passthrough hosts, spliced without interception.",
          stats.tunnels_passthrough);
  counter(out, "airlock_proxy_requests_substituted_total", "Allowed requests with at least one secret substituted.",
          stats.requests_substituted);
  counter(out, "airlock_proxy_responses_redacted_total", "Responses in which at least one secret was redacted.",
          stats.responses_redacted);
  out.family("airlock_proxy_redactions_total", Type::counter,
             "Responses with a secret redacted, by the credential's secret_name (empty for static_bearer); once per "
             "name and response.");
  for (const auto& [secret_name, count] : stats.redactions) {
    out.sample("airlock_proxy_redactions_total", {{"secret_name", secret_name}}, count);
  }
  // Empty unless proxy.metrics_host_labels is on; announced either way, so dashboards find the family.
  static_assert(proxy::kMaxMetricHosts == 200, "the help text below names the bound");
  out.family("airlock_proxy_host_requests_total", Type::counter,
             "Exchanges by upstream host and audit decision, with proxy.metrics_host_labels only; hosts past the "
             "first 200 count as _other.");
  for (const auto& [key, count] : stats.host_requests) {
    out.sample("airlock_proxy_host_requests_total", {{"host", key.first}, {"decision", key.second}}, count);
  }

  out.family("airlock_proxy_substitutions_total", Type::counter,
             "Substitutions by the credential's secret_name (empty for static_bearer) and location.");
  for (const auto& [key, count] : audit.substitutions) {
    out.sample("airlock_proxy_substitutions_total", {{"secret_name", key.first}, {"location", key.second}}, count);
  }

  out.family("airlock_proxy_bytes_total", Type::counter,
             "Bytes written: up, requests to upstreams; down, responses to clients (heads and bodies).");
  out.sample("airlock_proxy_bytes_total", {{"direction", "up"}}, stats.bytes_up);
  out.sample("airlock_proxy_bytes_total", {{"direction", "down"}}, stats.bytes_down);

  counter(out, "airlock_proxy_upstream_connections_opened_total", "New upstream connections (connected and verified).",
          stats.upstream_connections_opened);
  counter(out, "airlock_proxy_upstream_connections_reused_total",
          "Upstream connections used again: kept by the client connection, or taken from the pool.",
          stats.upstream_connections_reused);
  gauge(out, "airlock_proxy_upstream_connections_open",
        "Upstream connections open now: held by client connections, or idle in the pools.",
        stats.upstream_connections_open);
  out.family("airlock_proxy_tls_handshakes_total", Type::counter,
             "TLS handshakes completed, with sandboxes (client) and upstreams (upstream); failures are "
             "airlock_proxy_requests_total reasons.");
  out.sample("airlock_proxy_tls_handshakes_total", {{"side", "client"}}, stats.client_tls_handshakes);
  out.sample("airlock_proxy_tls_handshakes_total", {{"side", "upstream"}}, stats.upstream_tls_handshakes);

  out.family("airlock_proxy_request_duration_seconds", Type::histogram,
             "From a request's head to the end of its exchange, refusals included.");
  out.histogram("airlock_proxy_request_duration_seconds", {}, stats.request_duration);
  out.family("airlock_proxy_upstream_connect_duration_seconds", Type::histogram,
             "Resolving, connecting and the TLS handshake of each new upstream connection.");
  out.histogram("airlock_proxy_upstream_connect_duration_seconds", {}, stats.upstream_connect_duration);

  counter(out, "airlock_proxy_leaf_cache_hits_total", "Leaf certificates served from the cache.", stats.leaves.hits);
  counter(out, "airlock_proxy_leaf_cache_misses_total", "Leaf certificate lookups with no usable entry.",
          stats.leaves.misses);
  counter(out, "airlock_proxy_leaf_cache_mints_total", "Leaf certificates minted.", stats.leaves.mints);
  counter(out, "airlock_proxy_leaf_cache_mint_failures_total", "Leaf certificate mints that failed.",
          stats.leaves.mint_failures);
  gauge(out, "airlock_proxy_leaf_cache_entries", "Leaf certificates held in the cache.", stats.leaves.size);
}

namespace {

void audit_metrics(Exposition& out, const AuditStats& audit) {
  gauge(out, "airlock_audit_queue_depth", "Egress records waiting for the audit writer's next batch.", audit.queue_depth);
  counter(out, "airlock_audit_rows_dropped_total", "Egress records dropped because the audit queue was full (should stay 0).",
          audit.dropped);
  counter(out, "airlock_audit_rows_written_total", "Egress audit rows committed.", audit.rows_written);
  counter(out, "airlock_audit_rows_lost_total", "Egress audit rows of batches the store failed to write.", audit.rows_lost);
  counter(out, "airlock_audit_batches_total", "Audit batches committed (rows_written / batches is the mean batch size).",
          audit.batches);
  counter(out, "airlock_audit_rows_purged_total", "Egress audit rows deleted by the retention, by age or by size.",
          audit.rows_purged);
  counter(out, "airlock_audit_sink_lines_total", "Exchanges appended to the audit.jsonl sink.", audit.sink_lines);
  counter(out, "airlock_audit_sink_failures_total", "Exchanges that could not be appended to the audit.jsonl sink.",
          audit.sink_failures);
}

void control_metrics(Exposition& out, const MetricsSources& sources) {
  const SnapshotStats snapshots = sources.snapshots.stats();
  counter(out, "airlock_snapshot_builds_total", "Proxy snapshots built and published.", snapshots.builds);
  counter(out, "airlock_snapshot_build_failures_total",
          "Snapshot builds that failed; an empty snapshot (every proxy request refused) was published instead.",
          snapshots.failures);
  out.family("airlock_snapshot_build_duration_seconds", Type::histogram, "How long each snapshot build took.");
  out.histogram("airlock_snapshot_build_duration_seconds", {}, snapshots.build_duration);

  const SchedulerStats scheduler = sources.scheduler.stats();
  counter(out, "airlock_scheduler_fires_total", "Scheduled fires that recorded a deployment run.", scheduler.fires);
  counter(out, "airlock_scheduler_catch_ups_total",
          "Fires missed while the daemon was down, run late at the start (within the catch-up window).",
          scheduler.catch_ups);
  counter(out, "airlock_scheduler_skipped_fires_total",
          "Fires missed while the daemon was down and not run (past the window, or not the most recent).",
          scheduler.skipped);
  gauge(out, "airlock_scheduler_armed_deployments", "Deployments with a pending fire.", sources.scheduler.armed());
  out.family("airlock_scheduler_fire_lag_seconds", Type::histogram,
             "How late each fire ran past its due time (nominal instant + jitter).");
  out.histogram("airlock_scheduler_fire_lag_seconds", {}, scheduler.fire_lag);

  out.family("airlock_sessions", Type::gauge, "Sessions stored, by status (archived ones included).");
  if (auto counts = sources.store.count_sessions_by_status()) {
    for (const auto& [status, count] : counts.value()) {
      out.sample("airlock_sessions", {{"status", status}}, static_cast<std::uint64_t>(count));
    }
  }
  out.family("airlock_deployment_runs", Type::gauge,
             "Finished deployment runs stored, by outcome: session_created, or the run's error type.");
  if (auto counts = sources.store.count_runs_by_outcome()) {
    for (const auto& [outcome, count] : counts.value()) {
      out.sample("airlock_deployment_runs", {{"outcome", outcome}}, static_cast<std::uint64_t>(count));
    }
  }

  gauge(out, "airlock_sandboxes_running", "Session sandboxes running now.", sources.runtime.running());
  out.family("airlock_sandbox_exits_total", Type::counter,
             "Sandboxes ended, by runtime state: exited, timed_out, stopped, failed, out_of_memory.");
  for (const auto& [state, count] : sources.runtime.exits()) {
    out.sample("airlock_sandbox_exits_total", {{"state", state}}, count);
  }

  const ApiStats api = sources.api.stats();
  out.family("airlock_api_requests_total", Type::counter, "REST API requests by method, route template and status.");
  for (const auto& [key, count] : api.requests) {
    const std::string status = std::to_string(key.status);
    out.sample("airlock_api_requests_total", {{"method", key.method}, {"route", key.route}, {"status", status}}, count);
  }
  out.family("airlock_api_request_duration_seconds", Type::histogram,
             "REST API requests, from the request read to the reply ready, by route template (event streams aside).");
  for (const auto& [route, histogram] : api.durations) {
    out.histogram("airlock_api_request_duration_seconds", {{"route", route}}, histogram);
  }
  gauge(out, "airlock_api_connections_open", "REST API connections open now.", api.open_connections);
  counter(out, "airlock_api_connections_refused_total",
          "REST API connections turned away by api.max_connections_per_source.", api.refused_connections);
}

void process_metrics(Exposition& out, std::chrono::system_clock::time_point started) {
  // statm's second field: resident pages.
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0;
  std::uint64_t resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
          resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)));
  }
  std::error_code ec;
  std::uint64_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++fds;
  if (!ec) gauge(out, "process_open_fds", "Open file descriptors.", fds > 0 ? fds - 1 : 0);  // less the iterator's own
  out.family("process_start_time_seconds", Type::gauge, "Start time of the process since the Unix epoch, in seconds.");
  out.sample("process_start_time_seconds", {},
             static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count()));
}

}  // namespace

std::string render_metrics(const MetricsSources& sources) {
  Exposition out;
  const AuditStats audit = sources.audit.stats();
  render_proxy_metrics(out, sources.proxy.stats(), audit);
  audit_metrics(out, audit);
  control_metrics(out, sources);
  process_metrics(out, sources.started);
  return out.text();
}

}  // namespace airlock::control
