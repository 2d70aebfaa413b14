// UpstreamPool (see pool.hpp).
#include "pool.hpp"

#include <cerrno>

#include <sys/socket.h>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace airlock::proxy {

namespace {
constexpr Clock::duration kProbeAfter = std::chrono::seconds(1);
}  // namespace

UpstreamPool::UpstreamPool(std::size_t per_key, std::size_t total, Clock::duration idle)
    : per_key_(per_key), total_(total), idle_(idle) {}

UpstreamPool::~UpstreamPool() { clear(); }

std::string UpstreamPool::key(std::string_view session_id, const certs::ValidatedHost& host, std::uint16_t port,
                              bool tls) {
  return fmt::format("{}\n{}\n{}\n{}", session_id, host.text(), port, tls ? "https" : "http");
}

bool still_open(Leg& leg) {
  if (!leg.socket().is_open() || leg.failed()) return false;
  char byte = 0;
  const ssize_t got = ::recv(leg.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (got == 0) return false;  // the upstream closed it
  if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  if (!leg.is_tls()) return false;  // bytes nobody asked for: the connection is out of step
  // TLS: a session ticket or key update may be waiting. Let OpenSSL process it; application data or an
  // alert means the connection cannot be reused.
  if (!leg.absorb_ready_input()) return false;
  ERR_clear_error();
  std::size_t peeked = 0;
  const int result = SSL_peek_ex(leg.ssl(), &byte, 1, &peeked);
  const int error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(leg.ssl(), result);
  ERR_clear_error();
  return result != 1 && error == SSL_ERROR_WANT_READ;
}

std::optional<PooledUpstream> UpstreamPool::take(const std::string& key) {
  const auto found = idle_by_key_.find(key);
  if (found == idle_by_key_.end()) return std::nullopt;
  auto& idle = found->second;
  const auto now = Clock::now();
  std::optional<PooledUpstream> taken;
  while (!idle.empty() && !taken) {
    Idle entry = std::move(idle.back());  // most recently used first: the likeliest to be open
    idle.pop_back();
    --size_;
    // Probing costs a syscall; a connection used within kProbeAfter is taken on trust (servers do not
    // close keep-alive connections that fast, and a stale one is replaced before any response byte).
    const auto idle_for = now - entry.since;
    if (idle_for < idle_ && (idle_for < kProbeAfter || still_open(*entry.upstream.leg))) {
      taken.emplace(std::move(entry.upstream));
    } else {
      entry.upstream.leg->close_now();
    }
  }
  if (idle.empty()) idle_by_key_.erase(found);
  return taken;
}

void UpstreamPool::put(const std::string& key, PooledUpstream upstream) {
  auto& idle = idle_by_key_[key];
  if (idle.size() >= per_key_ || size_ >= total_) {
    upstream.leg->close_now();
    if (idle.empty()) idle_by_key_.erase(key);
    return;
  }
  upstream.leg->expires_never();
  idle.push_back({std::move(upstream), Clock::now()});
  ++size_;
}

void UpstreamPool::sweep() {
  const auto now = Clock::now();
  for (auto it = idle_by_key_.begin(); it != idle_by_key_.end();) {
    auto& idle = it->second;
    for (auto entry = idle.begin(); entry != idle.end();) {
      if (now - entry->since >= idle_ || !still_open(*entry->upstream.leg)) {
        entry->upstream.leg->close_now();
        entry = idle.erase(entry);
        --size_;
      } else {
        ++entry;
      }
    }
    it = idle.empty() ? idle_by_key_.erase(it) : std::next(it);
  }
}

void UpstreamPool::clear() {
  for (auto& [key, idle] : idle_by_key_) {
    for (auto& entry : idle) entry.upstream.leg->close_now();
  }
  idle_by_key_.clear();
  size_ = 0;
}

}  // namespace airlock::proxy
