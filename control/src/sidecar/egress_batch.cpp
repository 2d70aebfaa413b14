// Egress batches (see egress_batch.hpp).
#include "sidecar/egress_batch.hpp"

#include <fmt/format.h>

#include "api/common/api.hpp"
#include "dataplane/audit_writer.hpp"

namespace airlock::control {

namespace {

constexpr std::size_t kMaxText = 4096;

[[noreturn]] void malformed(std::size_t index, std::string_view field, std::string_view expected) {
  throw ApiError(400, "invalid_request_error", fmt::format("records[{}].{}: expected {}", index, field, expected));
}

std::string text(const json& record, std::size_t index, const char* field, bool optional = false) {
  const auto found = record.find(field);
  if (found == record.end() || found->is_null()) {
    if (optional) return {};
    malformed(index, field, "a string");
  }
  if (!found->is_string() || found->get_ref<const std::string&>().size() > kMaxText) {
    malformed(index, field, fmt::format("a string of at most {} bytes", kMaxText));
  }
  return found->get<std::string>();
}

std::int64_t number(const json& record, std::size_t index, const char* field, std::int64_t max) {
  const auto found = record.find(field);
  if (found == record.end() || !found->is_number_integer() || found->get<std::int64_t>() < 0 ||
      found->get<std::int64_t>() > max) {
    malformed(index, field, fmt::format("an integer from 0 to {}", max));
  }
  return found->get<std::int64_t>();
}

// "2026-12-06T09:00:00.000000Z", as format_time writes it (text order is time order in the store).
bool is_store_time(std::string_view t) {
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (t.size() != shape.size()) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i]) return false;
  }
  return true;
}

}  // namespace

json egress_batch(const std::vector<proxy::EgressRecord>& records) {
  json out = json::array();
  for (const proxy::EgressRecord& record : records) {
    const store::EgressRow row = egress_row(record);
    out.push_back({{"created_at", row.created_at},
                   {"method", row.method},
                   {"host", row.host},
                   {"port", row.port},
                   {"path", row.path},
                   {"status", row.status},
                   {"bytes_up", row.bytes_up},
                   {"bytes_down", row.bytes_down},
                   {"decision", row.decision},
                   {"reason", row.reason},
                   {"credentials", json::parse(row.credentials_doc)},
                   {"original_destination", row.original_destination}});
  }
  return {{"records", std::move(out)}};
}

std::vector<store::EgressRow> rows_of_batch(const json& batch, std::string_view session_id) {
  if (!batch.is_object() || !batch.contains("records") || !batch["records"].is_array()) {
    throw ApiError(400, "invalid_request_error", "the body must be {\"records\": [...]}");
  }
  const json& records = batch["records"];
  if (records.size() > kMaxEgressBatch) {
    throw ApiError(400, "invalid_request_error", fmt::format("at most {} records per batch", kMaxEgressBatch));
  }
  std::vector<store::EgressRow> rows;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const json& record = records[i];
    if (!record.is_object()) malformed(i, "", "an object");
    store::EgressRow row;
    row.session_id = std::string(session_id);
    row.created_at = text(record, i, "created_at");
    if (!is_store_time(row.created_at)) malformed(i, "created_at", "a time like 2026-12-06T09:00:00.000000Z");
    row.method = text(record, i, "method");
    row.host = text(record, i, "host");
    row.port = static_cast<int>(number(record, i, "port", 65535));
    row.path = text(record, i, "path");
    row.status = static_cast<int>(number(record, i, "status", 999));
    row.bytes_up = number(record, i, "bytes_up", INT64_MAX);
    row.bytes_down = number(record, i, "bytes_down", INT64_MAX);
    row.decision = text(record, i, "decision");
    if (row.decision != "allowed" && row.decision != "denied" && row.decision != "error") {
      malformed(i, "decision", "allowed, denied or error");
    }
    row.reason = text(record, i, "reason", true);
    row.original_destination = text(record, i, "original_destination", true);
    const auto credentials = record.find("credentials");
    if (credentials == record.end() || !credentials->is_array()) malformed(i, "credentials", "a list");
    json uses = json::array();
    for (const json& use : *credentials) {
      if (!use.is_object()) malformed(i, "credentials", "a list of objects");
      uses.push_back({{"credential_id", text(use, i, "credential_id")},
                      {"secret_name", text(use, i, "secret_name")},
                      {"location", text(use, i, "location")}});
    }
    row.credentials_doc = uses.dump();
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace airlock::control
