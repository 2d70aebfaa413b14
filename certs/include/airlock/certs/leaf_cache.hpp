// LeafCache: the server-side TLS context for each intercepted host, minted on first use and kept in a
// bounded LRU (SECURITY.md K1, K2).
//
// An entry, keyed by the host's normalised text, goes through these states:
//   absent  --server_context()-->  minting   (one caller mints; callers for the same host wait on it)
//   minting --mint succeeds-->     ready     (refresh_at = notAfter - refresh_before_expiry)
//   minting --mint fails-->        absent    (every waiter gets the error; the next call tries again)
//   ready   --called at or after refresh_at--> minting (a fresh leaf replaces the old one)
//   any     --capacity exceeded, least recently used--> absent (holders keep their shared_ptr)
// Invariants: at most `capacity` entries; at most one minting per host at a time (single-flight), so a
// burst of connections to one host costs one key signature; a context handed out is never modified.
//
// All leaves share one P-256 key pair, generated when the cache is created: minting then costs one ECDSA
// signature and no key generation, as in mitmproxy. The key lives only in this process's memory, and
// every leaf is already trusted only through Airlock's CA, so per-host keys would add cost, not safety.
//
// Thread safety: every member is safe to call from any thread (the proxy runs one io_context per core).
// server_context() blocks while another thread mints the same host (a single signature, well under a
// millisecond); it never holds the lock while minting.
//
// Use: the proxy creates the server SSL from the returned context for the CONNECT host, or calls
// SSL_set_SSL_CTX with it from its SNI callback. Every public call clears the thread's OpenSSL error queue.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "airlock/certs/host.hpp"
#include "airlock/certs/openssl.hpp"
#include "airlock/certs/result.hpp"
#include "airlock/certs/root_ca.hpp"

namespace airlock::certs {

using ServerContext = std::shared_ptr<SSL_CTX>;

struct LeafCacheOptions {
  std::size_t capacity = 1024;  // entries; values below 1 count as 1
  std::chrono::seconds refresh_before_expiry = std::chrono::hours(1);
  // The time used for leaf validity and refresh; system_clock::now when empty (a driven clock in tests).
  std::function<std::chrono::system_clock::time_point()> clock;
};

struct LeafCacheStats {
  std::uint64_t hits = 0;           // served from an entry (ready, or being minted by another caller)
  std::uint64_t misses = 0;         // no usable entry: absent, or due for refresh
  std::uint64_t mints = 0;          // leaves minted successfully
  std::uint64_t mint_failures = 0;  // mints that failed (every waiter got the error)
  std::uint64_t evictions = 0;      // entries dropped at capacity
  std::uint64_t invalid_hosts = 0;  // refused by validate_host (K2), nothing minted
  std::size_t size = 0;             // entries now held
};

class LeafCache {
  struct Passkey {};

 public:
  // Generates the shared leaf key. Errc::openssl if that fails.
  static Result<std::unique_ptr<LeafCache>> create(std::shared_ptr<const RootCa> ca, LeafCacheOptions options = {});

  // For create() only: Passkey is private, so nothing else can call it.
  LeafCache(Passkey, std::shared_ptr<const RootCa> ca, EvpPkeyPtr leaf_key, LeafCacheOptions options);
  LeafCache(const LeafCache&) = delete;
  LeafCache& operator=(const LeafCache&) = delete;
  ~LeafCache();

  // The context presenting a valid leaf for `host`, minting it if needed.
  Result<ServerContext> server_context(const ValidatedHost& host);
  // Validates `host` first (Errc::invalid_host, nothing cached), then as above.
  Result<ServerContext> server_context(std::string_view host);

  // Mints from now on under `ca` (a sidecar's renewed intermediate) and forgets every leaf of the old one.
  // Contexts already handed out stay valid for the connections that hold them.
  void replace_ca(std::shared_ptr<const RootCa> ca);

  LeafCacheStats stats() const;
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  using Clock = std::chrono::system_clock;
  struct Slot {
    std::shared_future<Result<ServerContext>> context;
    Clock::time_point refresh_at{};  // meaningful once ready
    bool ready = false;
  };
  struct Entry {
    std::string host;
    std::shared_ptr<Slot> slot;
  };
  using Lru = std::list<Entry>;  // most recently used first

  struct Minted {
    ServerContext context;
    Clock::time_point not_after;
  };

  Clock::time_point now() const;
  Result<Minted> mint(const RootCa& ca, const ValidatedHost& host, Clock::time_point at) const;
  // Records the outcome of the minting that `slot` stands for, unless the entry was evicted meanwhile.
  void finish(const std::string& host, const std::shared_ptr<Slot>& slot, const Result<Minted>* minted);

  std::shared_ptr<const RootCa> ca_;                      // guarded by mutex_
  const EvpPkeyPtr leaf_key_;
  const std::size_t capacity_;
  const std::chrono::seconds refresh_before_expiry_;
  const std::function<Clock::time_point()> clock_;

  mutable std::mutex mutex_;
  Lru lru_;                                               // guarded by mutex_
  std::unordered_map<std::string, Lru::iterator> index_;  // guarded by mutex_

  std::atomic<std::uint64_t> hits_{0}, misses_{0}, mints_{0}, mint_failures_{0}, evictions_{0}, invalid_hosts_{0};
};

}  // namespace airlock::certs
