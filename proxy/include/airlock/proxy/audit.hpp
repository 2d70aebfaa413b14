// airlock::proxy egress audit — the record of every proxied request and every refusal, and the port
// through which the proxy hands records to whoever stores them (control writes them to SQLite; API.md §10
// `GET /v1/sessions/{id}/egress`).
//
// A record never holds a secret value, a placeholder, a header value, a body byte or a query string
// (SECURITY.md S8): only names, ids, locations, sizes and the decision.
//
// Ownership and threading: the proxy calls AuditSink::record() from its worker threads, concurrently,
// once per exchange, after the response (or the refusal) has been written. The sink owns the record from
// then on. record() must not block on I/O: the implementation queues (bounded; a full queue counts drops
// instead of stalling traffic) and a writer drains the queue elsewhere. The sink must outlive the Proxy.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace airlock::proxy {

struct EgressRecord {
  std::chrono::system_clock::time_point time;  // when the request head arrived
  std::string session_id;                      // "" when the caller could not be identified (407)
  std::string method;                          // "GET", "POST", "CONNECT" (a tunnel refused or passed through: a
                                               // CONNECT, or a transparent TLS connection), ...
  std::string host;                            // the upstream host (the CONNECT target or the absolute URL's host)
  std::uint16_t port = 0;
  std::string path;                            // the request path, never the query; "" for CONNECT
  std::string original_destination;            // transparent connections: the "address:port" the sandbox dialled
                                               // (recorded only: the upstream is `host`, resolved by Airlock)
  int status = 0;                              // status sent to the client; 0 when none could be sent
  std::uint64_t bytes_up = 0;                  // request bytes written to the upstream (head and body)
  std::uint64_t bytes_down = 0;                // response bytes written to the client (head and body)
  std::string decision;                        // "allowed" | "denied" | "error"
  std::string reason;                          // "" when allowed; else a stable word: "host_not_allowed", ...
  struct Use {
    std::string credential_id;
    std::string secret_name;                   // "" for static_bearer
    std::string location;                      // "header" | "url" | "body"
  };
  std::vector<Use> credentials;                // credentials substituted into this request, one entry per location
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Called from proxy threads; must not block and must not throw.
  virtual void record(EgressRecord record) noexcept = 0;
};

}  // namespace airlock::proxy
