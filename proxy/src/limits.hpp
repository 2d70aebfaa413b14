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

namespace airlock::proxy {

class SessionLimits {
 public:
  using Clock = std::chrono::steady_clock;

  // 0 turns a limit off.
  SessionLimits(std::size_t max_connections, double requests_per_second);

  // One open connection of a session; releases it on destruction. Move-only.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    bool held() const noexcept { return owner_ != nullptr; }
    const std::string& session_id() const noexcept { return session_id_; }

   private:
    friend class SessionLimits;
    Lease(SessionLimits* owner, std::string session_id) : owner_(owner), session_id_(std::move(session_id)) {}
    void release() noexcept;
    SessionLimits* owner_ = nullptr;
    std::string session_id_;
  };

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

}  // namespace airlock::proxy
