// UpstreamPool: idle upstream connections kept for reuse, per worker thread, keyed by
// (session, host, port, scheme). A connection enters the pool only after a complete exchange that left
// it reusable (keep-alive, nothing unread) and only ever serves the session that opened it.
//
// Bounds: per_key idle connections per key, total per worker; an entry idle longer than `idle` is
// closed. take() checks that the connection is still open and quiet (no EOF, no unexpected bytes)
// before handing it out; a TLS connection may have received a post-handshake message, which is
// processed, not mistaken for data.
//
// Threading: one pool per worker; used only on that worker's thread. No locks.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "decide.hpp"
#include "io.hpp"

namespace airlock::proxy {

struct PooledUpstream {
  std::unique_ptr<Leg> leg;
  VerifiedUpstream verified;
};

class UpstreamPool {
 public:
  UpstreamPool(std::size_t per_key, std::size_t total, Clock::duration idle);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  static std::string key(std::string_view session_id, const certs::ValidatedHost& host, std::uint16_t port, bool tls);

  std::optional<PooledUpstream> take(const std::string& key);
  // Keeps `upstream` (closing it instead when the pool is full).
  void put(const std::string& key, PooledUpstream upstream);
  // Closes entries idle too long or no longer open.
  void sweep();
  void clear();
  std::size_t size() const noexcept { return size_; }

 private:
  struct Idle {
    PooledUpstream upstream;
    Clock::time_point since;
  };
  const std::size_t per_key_;
  const std::size_t total_;
  const Clock::duration idle_;
  std::unordered_map<std::string, std::vector<Idle>> idle_by_key_;
  std::size_t size_ = 0;
};

// True when an idle connection is still usable: open, and nothing but TLS housekeeping was received.
bool still_open(Leg& leg);

}  // namespace airlock::proxy
