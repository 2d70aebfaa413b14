// SnapshotSlot: the atomically swapped pointer to the current CredentialSnapshot (see snapshot.hpp).
// std::atomic<std::shared_ptr> is not lock-free in libstdc++ 12 (a short internal lock), which is why the
// proxy loads it once per request, not once per header.
#include "airlock/proxy/snapshot.hpp"

#include <utility>

namespace airlock::proxy {

SnapshotSlot::SnapshotSlot() : current_(std::make_shared<const CredentialSnapshot>()) {}

SnapshotSlot::SnapshotSlot(std::shared_ptr<const CredentialSnapshot> initial)
    : current_(initial ? std::move(initial) : std::make_shared<const CredentialSnapshot>()) {}

std::shared_ptr<const CredentialSnapshot> SnapshotSlot::load() const { return current_.load(std::memory_order_acquire); }

void SnapshotSlot::store(std::shared_ptr<const CredentialSnapshot> next) {
  if (!next) next = std::make_shared<const CredentialSnapshot>();
  current_.store(std::move(next), std::memory_order_release);
}

}  // namespace airlock::proxy
