// limits: per-session admission (docs/policy.md, Limits): how many client connections a session may hold
// open at once, and how many requests it may make per second (a token bucket holding one second of
// burst). Shared by every worker; one short critical section per connection and per request.
//
// A session's bucket outlives its connections (a client cannot refill it by reconnecting); entries of
// sessions with no open connection and a full bucket are dropped now and then, so the table stays as small
// as the set of busy sessions.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace airlock::proxy {

// One connection counted under a key (a session id, an address) by `Owner`, which takes it back
// (Owner::release(key)) when the lease is destroyed or assigned over. Move-only; an empty lease (default,
// or moved from) counts nothing.
template <class Owner>
class CountedLease {
 public:
  CountedLease() = default;
  CountedLease(CountedLease&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}
  CountedLease& operator=(CountedLease&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::exchange(other.owner_, nullptr);
      key_ = std::move(other.key_);
    }
    return *this;
  }
  CountedLease(const CountedLease&) = delete;
  CountedLease& operator=(const CountedLease&) = delete;
  ~CountedLease() { reset(); }

  bool held() const noexcept { return owner_ != nullptr; }
  const std::string& key() const noexcept { return key_; }

 private:
  friend Owner;
  CountedLease(Owner* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
  void reset() noexcept {
    if (Owner* owner = std::exchange(owner_, nullptr)) owner->release(key_);
  }
  Owner* owner_ = nullptr;
  std::string key_;
};

class SessionLimits {
 public:
  using Clock = std::chrono::steady_clock;

  // 0 turns a limit off.
  SessionLimits(std::size_t max_connections, double requests_per_second);

  // One open connection of a session (its key is the session id).
  using Lease = CountedLease<SessionLimits>;

  // A lease, or an empty one when the session already holds max_connections.
  Lease connect(std::string_view session_id);
  // Takes one request's token; false when the bucket is empty (the session is over its rate).
  bool request(std::string_view session_id, Clock::time_point now = Clock::now());

 private:
  struct Usage {
    std::size_t connections = 0;
    double tokens = 0;
    Clock::time_point refilled{};
  };
  friend Lease;
  void release(const std::string& session_id) noexcept;
  void refill(Usage& usage, Clock::time_point now) const noexcept;
  void sweep(Clock::time_point now);  // under mutex_

  const std::size_t max_connections_;
  const double rate_;
  std::mutex mutex_;
  struct Hash {
    using is_transparent = void;  // find() by string_view, without a copy per request
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  std::unordered_map<std::string, Usage, Hash, std::equal_to<>> sessions_;
  std::size_t sweep_at_ = 1024;  // sweep when the table grows past this
};

// Open client connections per source address (proxy.max_connections_per_source), counted from the
// accept, before the client has said who it is: one address, authenticated or not (slowloris), cannot
// take all of max_connections. An address leaves the table with its last connection.
class SourceLimits {
 public:
  explicit SourceLimits(std::size_t max_connections) : max_connections_(max_connections) {}

  // One open connection from an address (its key).
  using Lease = CountedLease<SourceLimits>;

  // A lease, or an empty one when `source` (an address's bytes or text) already holds max_connections.
  // With the limit off, a held lease that counts nothing.
  Lease connect(std::string source);
  std::size_t sources() const;  // addresses holding a connection now

 private:
  friend Lease;
  void release(const std::string& source) noexcept;
  const std::size_t max_connections_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> open_;
};

}  // namespace airlock::proxy
