// The batched audit writer; see audit_writer.hpp.
#include "dataplane/audit_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <system_error>

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

namespace {

// One exchange as the JSON-lines sink writes it: the egress row's facts, unidentified callers included.
std::string sink_line(const proxy::EgressRecord& record) {
  nlohmann::json credentials = nlohmann::json::array();
  for (const proxy::EgressRecord::Use& use : record.credentials) {
    credentials.push_back({{"credential_id", use.credential_id}, {"secret_name", use.secret_name}, {"location", use.location}});
  }
  auto text_or_null = [](const std::string& text) { return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text); };
  const nlohmann::ordered_json line = {
      {"type", "egress"},
      {"created_at", store::format_time(record.time)},
      {"session_id", text_or_null(record.session_id)},
      {"method", record.method},
      {"host", record.host},
      {"port", record.port},
      {"path", record.path},
      {"original_destination", text_or_null(record.original_destination)},
      {"status", record.status},
      {"bytes_up", record.bytes_up},
      {"bytes_down", record.bytes_down},
      {"decision", record.decision},
      {"reason", text_or_null(record.reason)},
      {"credentials", credentials},
  };
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

AuditWriter::AuditWriter(store::Store& store, Logger& log, AuditOptions options)
    : store_(store), log_(log), options_(std::move(options)) {}

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
  write_sink(batch);
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

void AuditWriter::write_sink(const std::vector<proxy::EgressRecord>& batch) {
  if (!options_.jsonl_path) return;
  std::string text;
  for (const proxy::EgressRecord& record : batch) {
    text += sink_line(record);
    text += '\n';
  }
  const bool to_stdout = *options_.jsonl_path == "-";
  const int fd = to_stdout ? STDOUT_FILENO : ::open(options_.jsonl_path->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  int error = fd < 0 ? errno : 0;
  std::string_view rest = text;
  while (error == 0 && !rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (fd >= 0 && !to_stdout) (void)::close(fd);
  if (error != 0) {
    sink_failures_ += batch.size();
    if (!sink_failing_) {
      log_.warn("egress audit: cannot append to audit.jsonl {}: {}; the rows still go to the database",
                to_stdout ? "(stdout)" : *options_.jsonl_path, std::generic_category().message(error));
    }
    sink_failing_ = true;
    return;
  }
  if (sink_failing_) log_.info("egress audit: appending to audit.jsonl again");
  sink_failing_ = false;
  sink_lines_ += batch.size();
}

void AuditWriter::enforce_age() {
  if (!age_cutoff_) return;
  // Writing comes first: while records arrive faster than a turn drains them, expired rows wait (the
  // audit at full rate dropped rows when each turn also deleted 5,000).
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() > kCapacity / 8) return;
  }
  auto purged = store_.purge_egress_before(*age_cutoff_, kPurgeRowsPerTurn);
  if (!purged) {
    log_.warn("egress audit retention: {}", purged.error().message());
    age_cutoff_.reset();  // tried again at the next daily check
    return;
  }
  rows_purged_ += purged.value();
  if (purged.value() < kPurgeRowsPerTurn) age_cutoff_.reset();  // none older is left
}

void AuditWriter::enforce_size() {
  if (options_.max_bytes <= 0) return;
  auto used = store_.used_bytes();
  if (!used) return;
  if (used.value() <= options_.max_bytes) {
    trimming_ = false;
    return;
  }
  auto purged = store_.purge_oldest_egress(kPurgeRowsPerTurn);
  if (!purged) {
    log_.warn("egress audit retention by size: {}", purged.error().message());
    return;
  }
  rows_purged_ += purged.value();
  if (!trimming_ && purged.value() > 0) {
    log_.info("egress audit: the database holds {} bytes, over audit.max_bytes ({}): deleting the oldest egress rows",
              used.value(), options_.max_bytes);
  } else if (!trimming_) {
    log_.warn("egress audit: the database holds {} bytes, over audit.max_bytes ({}), and no egress row is left to "
              "delete: raise audit.max_bytes",
              used.value(), options_.max_bytes);
  }
  trimming_ = true;
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
  stats.sink_lines = sink_lines_;
  stats.sink_failures = sink_failures_;
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
      age_cutoff_ = store::format_time(std::chrono::system_clock::now() - std::chrono::days(options_.retention_days));
      next_retention += kRetentionCheckEvery;
    }
    enforce_age();
    enforce_size();
    timer.expires_after(kFlushInterval);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace airlock::control
