// AuditWriter: the proxy's AuditSink, backed by the store (ARCHITECTURE.md: audit rows go to a bounded
// queue drained in batches by one writer).
//
// record() runs on proxy threads: it takes a mutex for a push and never waits on I/O; when the queue holds
// kCapacity records, further ones are counted as dropped instead of stalling traffic. run() drains the
// queue every kFlushInterval on the control thread in one transaction per batch, so a crash loses at most
// about that much audit. Retention deletes at most kPurgeRowsPerTurn rows a turn, so a backlog never
// stalls the writer (a day of rows at full rate in one DELETE held the thread for seconds and dropped
// records): once a day the rows older than the retention, turn after turn until they are gone, and while
// the database holds more than max_bytes, the oldest rows. flush() writes what is
// queued (shutdown). With a JSON-lines sink, each batch is also appended there, one object per exchange
// (the file is opened for each batch, so a log rotator may move it away).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "airlock/proxy/audit.hpp"
#include "airlock/store/store.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

struct AuditOptions {
  int retention_days = 30;                // audit.retention_days
  std::int64_t max_bytes = 0;             // audit.max_bytes: the database's size past which the oldest rows go; 0: none
  std::optional<std::string> jsonl_path;  // audit.jsonl: a file to append every exchange to, "-" for stdout
};

// What the writer has done since the start (GET /metrics).
struct AuditStats {
  std::size_t queue_depth = 0;     // records waiting for the next batch
  std::uint64_t dropped = 0;       // records refused by a full queue (should stay 0)
  std::uint64_t rows_written = 0;  // egress rows committed
  std::uint64_t rows_lost = 0;     // rows of batches the store failed to write
  std::uint64_t batches = 0;       // batches committed
  std::uint64_t rows_purged = 0;   // rows deleted by the retention, by age or by size
  std::uint64_t sink_lines = 0;    // lines appended to the JSON-lines sink
  std::uint64_t sink_failures = 0; // lines that could not be appended (the log says why)
  // Substitutions by (secret_name, location); secret_name is "" for static_bearer credentials, and past
  // kMaxSecretNames distinct names the rest count under "_other".
  std::map<std::pair<std::string, std::string>, std::uint64_t> substitutions;
};

class AuditWriter final : public proxy::AuditSink {
 public:
  static constexpr std::size_t kCapacity = 16384;
  static constexpr std::chrono::milliseconds kFlushInterval{250};
  static constexpr std::size_t kMaxSecretNames = 512;
  static constexpr std::size_t kPurgeRowsPerTurn = 5000;  // about 20,000 rows a second at most, each way

  AuditWriter(store::Store& store, Logger& log, AuditOptions options);

  void record(proxy::EgressRecord record) noexcept override;
  boost::asio::awaitable<void> run();
  void flush();
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  // On the control thread (the one that runs run() and flush()).
  AuditStats stats() const;

 private:
  store::Store& store_;
  Logger& log_;
  void write_sink(const std::vector<proxy::EgressRecord>& batch);
  void enforce_age();
  void enforce_size();

  AuditOptions options_;
  mutable std::mutex mutex_;
  std::vector<proxy::EgressRecord> queue_;                                  // under mutex_
  std::map<std::pair<std::string, std::string>, std::uint64_t> substitutions_;  // under mutex_
  std::atomic<std::uint64_t> dropped_{0};
  std::uint64_t rows_written_ = 0;  // control thread only, like the three below
  std::uint64_t rows_lost_ = 0;
  std::uint64_t batches_ = 0;
  std::uint64_t rows_purged_ = 0;
  std::uint64_t sink_lines_ = 0;
  std::uint64_t sink_failures_ = 0;
  bool sink_failing_ = false;  // warned about; said again when it works
  bool trimming_ = false;      // over max_bytes: said once, until it is under again
  std::optional<std::string> age_cutoff_;  // set once a day: rows created before it are being deleted
};

// The store row for a record: credentials as a JSON array of {credential_id, secret_name, location}.
store::EgressRow egress_row(const proxy::EgressRecord& record);

}  // namespace airlock::control
