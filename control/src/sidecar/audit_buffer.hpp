// AuditBuffer: a sidecar proxy's AuditSink. The proxy's threads record() into a bounded queue; the
// sidecar's control loop take()s batches and sends them to the control plane, and put_back()s a batch
// that did not arrive, so that a brief control-plane restart loses nothing. Past kCapacity records the
// oldest are dropped and counted (dropped()), and the control loop says so in its log.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "airlock/proxy/audit.hpp"

namespace airlock::control {

class AuditBuffer final : public proxy::AuditSink {
 public:
  static constexpr std::size_t kCapacity = 100'000;

  void record(proxy::EgressRecord record) noexcept override;
  // Up to `limit` of the oldest records, removed from the buffer.
  std::vector<proxy::EgressRecord> take(std::size_t limit);
  // Puts a batch that was not delivered back in front, as far as the capacity allows (the rest is dropped).
  void put_back(std::vector<proxy::EgressRecord> batch);
  std::size_t size() const;
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mutex_;
  std::deque<proxy::EgressRecord> records_;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace airlock::control
