// Exchange: the facts gathered about one request (or one refused CONNECT, or one passthrough tunnel) for
// its audit row, its log line and the counters. audit() (audit.cpp) turns it into an EgressRecord and
// hands it to the AuditSink; it never holds a secret value or a query string (S8).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "airlock/proxy/audit.hpp"
#include "refusal.hpp"

namespace airlock::proxy {

struct Shared;

struct Exchange {
  EgressRecord record;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();  // for the duration histogram
  std::optional<Reason> refused;  // set: a refusal or a failure; record.decision/reason follow the row
  bool substituted = false;       // at least one credential was substituted
  // The secret_names ("" for static_bearer) of the credentials whose secrets the response had replaced,
  // each once; empty when nothing was redacted (the common case, which allocates nothing).
  std::vector<std::string> redacted_secrets;
  bool passthrough = false;       // a tunnel to a passthrough host

  void refuse(Reason reason) { refused = reason; }
};

// Finishes the exchange: counters, one log line, one audit record. Never throws.
void audit(Shared& shared, Exchange& exchange) noexcept;

}  // namespace airlock::proxy
