// Audit rows from a sidecar proxy to the control plane: the sidecar's AuditSink collects EgressRecords and
// sends them in batches (POST /v1/sessions/{id}/sidecar/egress), as the rows the store keeps, so that
// GET /v1/sessions/{id}/egress shows sidecar traffic like any other. Rows carry names and locations,
// never a value (SECURITY.md S8), on both ends.
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "airlock/proxy/audit.hpp"
#include "airlock/store/store.hpp"

namespace airlock::control {

inline constexpr std::size_t kMaxEgressBatch = 1000;

// {"records": [{"created_at", "method", "host", "port", "path", "status", "bytes_up", "bytes_down",
// "decision", "reason", "credentials": [...], "original_destination"}, ...]}
nlohmann::json egress_batch(const std::vector<proxy::EgressRecord>& records);

// The rows of a batch, all for `session_id` (whatever the records say). Throws ApiError 400 naming the
// record and the field when one is malformed, or when there are more than kMaxEgressBatch.
std::vector<store::EgressRow> rows_of_batch(const nlohmann::json& batch, std::string_view session_id);

}  // namespace airlock::control
