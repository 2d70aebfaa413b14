// limits (see limits.hpp).
#include "limits.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace airlock::proxy {

SessionLimits::SessionLimits(std::size_t max_connections, double requests_per_second)
    : max_connections_(max_connections), rate_(requests_per_second) {}

void SessionLimits::release(const std::string& session_id) noexcept {
  std::lock_guard lock(mutex_);
  if (auto found = sessions_.find(session_id); found != sessions_.end() && found->second.connections > 0) {
    --found->second.connections;
  }
}

void SessionLimits::refill(Usage& usage, Clock::time_point now) const noexcept {
  const double elapsed = std::chrono::duration<double>(now - usage.refilled).count();
  usage.tokens = std::min(rate_, usage.tokens + std::max(0.0, elapsed) * rate_);
  usage.refilled = now;
}

void SessionLimits::sweep(Clock::time_point now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Usage& usage = it->second;
    refill(usage, now);
    const bool idle = usage.connections == 0 && (rate_ <= 0 || usage.tokens >= rate_);
    it = idle ? sessions_.erase(it) : std::next(it);
  }
  sweep_at_ = std::max<std::size_t>(1024, sessions_.size() * 2);
}

SessionLimits::Lease SessionLimits::connect(std::string_view session_id) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  if (sessions_.size() >= sweep_at_) sweep(now);
  auto [found, inserted] = sessions_.try_emplace(std::string(session_id));
  Usage& usage = found->second;
  if (inserted) {
    usage.tokens = rate_;  // a new session starts with one second of burst
    usage.refilled = now;
  }
  if (max_connections_ > 0 && usage.connections >= max_connections_) return Lease{};
  ++usage.connections;
  return Lease(this, found->first);
}

bool SessionLimits::request(std::string_view session_id, Clock::time_point now) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) return true;  // no lease: connect() refused it, or limits are off
  Usage& usage = found->second;
  refill(usage, now);
  if (usage.tokens < 1) return false;
  usage.tokens -= 1;
  return true;
}

void SourceLimits::release(const std::string& source) noexcept {
  if (max_connections_ == 0) return;
  std::lock_guard lock(mutex_);
  if (auto found = open_.find(source); found != open_.end() && --found->second == 0) open_.erase(found);
}

SourceLimits::Lease SourceLimits::connect(std::string source) {
  if (max_connections_ == 0) return Lease(this, {});
  std::lock_guard lock(mutex_);
  std::size_t& open = open_[source];
  if (open >= max_connections_) return Lease{};
  ++open;
  return Lease(this, std::move(source));
}

std::size_t SourceLimits::sources() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

}  // namespace airlock::proxy
