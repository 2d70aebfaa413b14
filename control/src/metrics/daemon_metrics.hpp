// GET /metrics: what every part of the daemon counts, in the Prometheus text format (docs/operations.md
// lists each metric and what it means).
//
// Nothing here counts: each part keeps its own counters and says what they hold through stats() (the
// proxy's are atomics its workers bump; the others live on the control thread). render_metrics() reads
// them all at the scrape, on the control thread, and adds two grouped counts from the store and what
// /proc says of the process. Labels are bounded: decisions and reasons, route templates, statuses, run
// outcomes, secret names (capped). No session id or path is a label; a host only with
// proxy.metrics_host_labels, and capped (proxy::kMaxMetricHosts).
#pragma once

#include <chrono>
#include <string>

namespace airlock::proxy {
class Proxy;
struct ProxyStats;
}
namespace airlock::store {
class Store;
}

namespace airlock::control {

class ApiServer;
class AuditWriter;
class Exposition;
struct AuditStats;
class Scheduler;
class SessionRuntime;
class SnapshotPublisher;

struct MetricsSources {
  const proxy::Proxy& proxy;
  const AuditWriter& audit;
  const SnapshotPublisher& snapshots;
  const Scheduler& scheduler;
  const SessionRuntime& runtime;
  const ApiServer& api;
  store::Store& store;
  std::chrono::system_clock::time_point started;  // the process's start, for process_start_time_seconds
};

std::string render_metrics(const MetricsSources& sources);

// The proxy's families (and the substitutions the audit writer counts); part of render_metrics().
void render_proxy_metrics(Exposition& out, const proxy::ProxyStats& stats, const AuditStats& audit);

}  // namespace airlock::control
