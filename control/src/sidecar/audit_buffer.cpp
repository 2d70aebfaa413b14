// AuditBuffer (see audit_buffer.hpp).
#include "sidecar/audit_buffer.hpp"

#include <algorithm>
#include <iterator>

namespace airlock::control {

void AuditBuffer::record(proxy::EgressRecord record) noexcept {
  try {
    const std::lock_guard lock(mutex_);
    if (records_.size() >= kCapacity) {
      records_.pop_front();
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    records_.push_back(std::move(record));
  } catch (...) {
    dropped_.fetch_add(1, std::memory_order_relaxed);  // out of memory: the record is lost, and counted
  }
}

std::vector<proxy::EgressRecord> AuditBuffer::take(std::size_t limit) {
  const std::lock_guard lock(mutex_);
  const std::size_t n = std::min(limit, records_.size());
  std::vector<proxy::EgressRecord> batch(std::make_move_iterator(records_.begin()),
                                         std::make_move_iterator(records_.begin() + static_cast<std::ptrdiff_t>(n)));
  records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(n));
  return batch;
}

void AuditBuffer::put_back(std::vector<proxy::EgressRecord> batch) {
  const std::lock_guard lock(mutex_);
  const std::size_t room = kCapacity > records_.size() ? kCapacity - records_.size() : 0;
  const std::size_t kept = std::min(room, batch.size());
  // The newest of the batch stay, the oldest go, as record() does.
  dropped_.fetch_add(batch.size() - kept, std::memory_order_relaxed);
  records_.insert(records_.begin(), std::make_move_iterator(batch.end() - static_cast<std::ptrdiff_t>(kept)),
                  std::make_move_iterator(batch.end()));
}

std::size_t AuditBuffer::size() const {
  const std::lock_guard lock(mutex_);
  return records_.size();
}

}  // namespace airlock::control
