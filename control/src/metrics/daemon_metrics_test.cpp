// The proxy's families as /metrics renders them from ProxyStats: the open upstream connections gauge,
// redactions by secret_name, and the per-host series (escaped, since hosts come from sandboxes).
#include "metrics/daemon_metrics.hpp"

#include <doctest/doctest.h>

#include "airlock/proxy/proxy.hpp"
#include "dataplane/audit_writer.hpp"
#include "metrics/exposition.hpp"

namespace airlock::control {

namespace {

bool has_line(const std::string& text, std::string_view line) {
  return text.find("\n" + std::string(line) + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("proxy metrics: upstream connections open, redactions by secret_name, hosts by decision") {
  proxy::ProxyStats stats;
  stats.upstream_connections_open = 3;
  stats.responses_redacted = 4;
  stats.redactions = {{"METRICS_API_TOKEN", 3}, {"", 1}, {std::string(proxy::kOtherLabel), 2}};
  stats.host_requests = {{{"api.example.test", "allowed"}, 5},
                         {{"api.example.test", "denied"}, 1},
                         {{"we\"ird\\host\n", "error"}, 1},  // never a valid host, but the writer must cope
                         {{std::string(proxy::kOtherLabel), "allowed"}, 7}};
  Exposition out;
  render_proxy_metrics(out, stats, AuditStats{});
  const std::string& text = out.text();
  CHECK(has_line(text, "# TYPE airlock_proxy_upstream_connections_open gauge"));
  CHECK(has_line(text, "airlock_proxy_upstream_connections_open 3"));
  CHECK(has_line(text, "# TYPE airlock_proxy_redactions_total counter"));
  CHECK(has_line(text, "airlock_proxy_redactions_total{secret_name=\"\"} 1"));
  CHECK(has_line(text, "airlock_proxy_redactions_total{secret_name=\"METRICS_API_TOKEN\"} 3"));
  CHECK(has_line(text, "airlock_proxy_redactions_total{secret_name=\"_other\"} 2"));
  CHECK(has_line(text, "airlock_proxy_responses_redacted_total 4"));
  CHECK(has_line(text, "# TYPE airlock_proxy_host_requests_total counter"));
  CHECK(has_line(text, "airlock_proxy_host_requests_total{host=\"api.example.test\",decision=\"allowed\"} 5"));
  CHECK(has_line(text, "airlock_proxy_host_requests_total{host=\"api.example.test\",decision=\"denied\"} 1"));
  CHECK(has_line(text, "airlock_proxy_host_requests_total{host=\"we\\\"ird\\\\host\\n\",decision=\"error\"} 1"));
  CHECK(has_line(text, "airlock_proxy_host_requests_total{host=\"_other\",decision=\"allowed\"} 7"));
}

TEST_CASE("proxy metrics: without host labels the family is announced and has no sample") {
  Exposition out;
  render_proxy_metrics(out, proxy::ProxyStats{}, AuditStats{});
  const std::string& text = out.text();
  CHECK(has_line(text, "# TYPE airlock_proxy_host_requests_total counter"));
  CHECK(text.find("airlock_proxy_host_requests_total{") == std::string::npos);
  CHECK(text.find("airlock_proxy_redactions_total{") == std::string::npos);
  CHECK(has_line(text, "airlock_proxy_upstream_connections_open 0"));
}

}  // namespace airlock::control
