// audit(): the end of every exchange (see exchange.hpp). The log line carries the same facts as the audit
// row: method, host, port, path without query, status, decision, reason, sizes and the credentials used
// by id, name and location. Never a header value, a body byte, a query string or a secret (S8).
#include <fmt/format.h>

#include "context.hpp"
#include "exchange.hpp"

namespace airlock::proxy {

void audit(Shared& shared, Exchange& exchange) noexcept {
  try {
    EgressRecord& record = exchange.record;
    Counters& counters = shared.counters;
    if (exchange.refused) {
      const RefusalRow& row = refusal_row(*exchange.refused);
      record.decision = std::string(row.decision);
      record.reason = std::string(row.word);
      counters.refused[static_cast<std::size_t>(*exchange.refused)].fetch_add(1, std::memory_order_relaxed);
    } else {
      record.decision = "allowed";
      record.reason.clear();
      if (exchange.passthrough) {
        counters.tunnels_passthrough.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters.requests_allowed.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (exchange.substituted) counters.requests_substituted.fetch_add(1, std::memory_order_relaxed);
    if (!exchange.redacted_secrets.empty()) {
      counters.responses_redacted.fetch_add(1, std::memory_order_relaxed);
      for (const std::string& secret_name : exchange.redacted_secrets) counters.redactions.add(secret_name);
    }
    // Opt-in: the host is the sandbox's choice; LabelCounts bounds how many get a series (kMaxMetricHosts).
    if (shared.options.metrics_host_labels) counters.host_requests.add(record.host, record.decision);
    counters.bytes_up.fetch_add(record.bytes_up, std::memory_order_relaxed);
    counters.bytes_down.fetch_add(record.bytes_down, std::memory_order_relaxed);
    counters.request_duration.observe(std::chrono::steady_clock::now() - exchange.started);

    // Allowed exchanges are the bulk and each has its audit row: debug, so the hot path writes no log line.
    const LogLevel level = record.decision == "error"    ? LogLevel::warn
                           : record.decision == "denied" ? LogLevel::info
                                                         : LogLevel::debug;
    if (shared.options.log && level >= shared.options.log_level) {
      std::string uses;
      for (const auto& use : record.credentials) {
        if (!uses.empty()) uses += ',';
        uses += fmt::format("{}:{}", use.credential_id, use.location);
      }
      shared.options.log(level, fmt::format("egress session={} method={} host={} port={} path={} status={} decision={} "
                                            "reason={} up={} down={} credentials={}",
                                            record.session_id.empty() ? "-" : record.session_id,
                                            record.method.empty() ? "-" : record.method,
                                            record.host.empty() ? "-" : record.host, record.port,
                                            record.path.empty() ? "-" : record.path, record.status, record.decision,
                                            record.reason.empty() ? "-" : record.reason, record.bytes_up,
                                            record.bytes_down, uses.empty() ? "-" : uses));
    }
    shared.audit.record(std::move(record));
  } catch (...) {
    // Formatting or allocation failed: the exchange is over either way; never let it take the worker down.
  }
}

}  // namespace airlock::proxy
