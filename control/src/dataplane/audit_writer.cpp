// The batched audit writer; see audit_writer.hpp.
#include "dataplane/audit_writer.hpp"

#include <nlohmann/json.hpp>

namespace airlock::control {
namespace {

constexpr std::chrono::hours kRetentionCheckEvery{24};

}  // namespace

store::EgressRow egress_row(const proxy::EgressRecord& record) {
  nlohmann::json credentials = nlohmann::json::array();
  for (const proxy::EgressRecord::Use& use : record.credentials) {
    credentials.push_back({{"credential_id", use.credential_id}, {"secret_name", use.secret_name}, {"location", use.location}});
  }
  store::EgressRow row;
  row.session_id = record.session_id;
  row.created_at = store::format_time(record.time);
  row.method = record.method;
  row.host = record.host;
  row.port = record.port;
  row.path = record.path;
  row.status = record.status;
  row.bytes_up = static_cast<std::int64_t>(record.bytes_up);
  row.bytes_down = static_cast<std::int64_t>(record.bytes_down);
  row.decision = record.decision;
  row.reason = record.reason;
  row.credentials_doc = credentials.dump();
  row.original_destination = record.original_destination;
  return row;
}

AuditWriter::AuditWriter(store::Store& store, Logger& log, int retention_days)
    : store_(store), log_(log), retention_days_(retention_days) {}

void AuditWriter::record(proxy::EgressRecord record) noexcept {
  std::lock_guard lock(mutex_);
  try {
    for (const proxy::EgressRecord::Use& use : record.credentials) {
      auto key = std::make_pair(use.secret_name, use.location);
      auto found = substitutions_.find(key);
      if (found == substitutions_.end() && substitutions_.size() >= kMaxSecretNames) {
        key.first = "_other";  // a bounded label set, whatever the number of credentials
        found = substitutions_.find(key);
      }
      if (found != substitutions_.end()) {
        ++found->second;
      } else {
        substitutions_.emplace(std::move(key), 1);
      }
    }
  } catch (...) {
    // out of memory for a counter: the record itself still goes on
  }
  if (queue_.size() >= kCapacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  try {
    queue_.push_back(std::move(record));
  } catch (...) {
    dropped_.fetch_add(1, std::memory_order_relaxed);  // out of memory: count, never throw into the proxy
  }
}

void AuditWriter::flush() {
  std::vector<proxy::EgressRecord> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
  }
  if (batch.empty()) return;
  std::vector<store::EgressRow> rows;
  rows.reserve(batch.size());
  for (const proxy::EgressRecord& record : batch) {
    if (!record.session_id.empty()) rows.push_back(egress_row(record));  // unidentified callers (407) have no session
  }
  if (auto written = store_.record_egress(rows); !written) {
    rows_lost_ += rows.size();
    log_.error("egress audit: {} records lost: {}", rows.size(), written.error().message());
    return;
  }
  rows_written_ += rows.size();
  ++batches_;
}

AuditStats AuditWriter::stats() const {
  AuditStats stats;
  {
    std::lock_guard lock(mutex_);
    stats.queue_depth = queue_.size();
    stats.substitutions = substitutions_;
  }
  stats.dropped = dropped();
  stats.rows_written = rows_written_;
  stats.rows_lost = rows_lost_;
  stats.batches = batches_;
  stats.rows_purged = rows_purged_;
  return stats;
}

boost::asio::awaitable<void> AuditWriter::run() {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto next_retention = std::chrono::steady_clock::now();
  std::uint64_t reported_drops = 0;
  for (;;) {
    flush();
    if (std::uint64_t drops = dropped(); drops != reported_drops) {
      log_.warn("egress audit: {} records dropped so far (queue full)", drops);
      reported_drops = drops;
    }
    if (std::chrono::steady_clock::now() >= next_retention) {
      auto cutoff = std::chrono::system_clock::now() - std::chrono::days(retention_days_);
      if (auto purged = store_.purge_egress_before(store::format_time(cutoff)); !purged) {
        log_.warn("egress audit retention: {}", purged.error().message());
      } else {
        rows_purged_ += purged.value();
      }
      next_retention += kRetentionCheckEvery;
    }
    timer.expires_after(kFlushInterval);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace airlock::control
