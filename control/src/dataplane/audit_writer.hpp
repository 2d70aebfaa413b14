// AuditWriter: the proxy's AuditSink, backed by the store (ARCHITECTURE.md: audit rows go to a bounded
// queue drained in batches by one writer).
//
// record() runs on proxy threads: it takes a mutex for a push and never waits on I/O; when the queue holds
// kCapacity records, further ones are counted as dropped instead of stalling traffic. run() drains the
// queue every kFlushInterval on the control thread in one transaction per batch, so a crash loses at most
// about that much audit; it also deletes rows older than the retention once a day. flush() writes what is
// queued (shutdown).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include <boost/asio.hpp>

#include "airlock/proxy/audit.hpp"
#include "airlock/store/store.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

class AuditWriter final : public proxy::AuditSink {
 public:
  static constexpr std::size_t kCapacity = 16384;
  static constexpr std::chrono::milliseconds kFlushInterval{250};

  AuditWriter(store::Store& store, Logger& log, int retention_days);

  void record(proxy::EgressRecord record) noexcept override;
  boost::asio::awaitable<void> run();
  void flush();
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  store::Store& store_;
  Logger& log_;
  int retention_days_;
  std::mutex mutex_;
  std::vector<proxy::EgressRecord> queue_;
  std::atomic<std::uint64_t> dropped_{0};
};

// The store row for a record: credentials as a JSON array of {credential_id, secret_name, location}.
store::EgressRow egress_row(const proxy::EgressRecord& record);

}  // namespace airlock::control
