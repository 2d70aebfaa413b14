// LeafCache: bounded LRU of server contexts, one minting per host at a time (see leaf_cache.hpp).
#include "airlock/certs/leaf_cache.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "airlock/certs/leaf.hpp"
#include "openssl_error.hpp"

namespace airlock::certs {

Result<std::unique_ptr<LeafCache>> LeafCache::create(std::shared_ptr<const RootCa> ca, LeafCacheOptions options) {
  if (!ca) return Error{Errc::bad_certificate, "leaf cache: no CA given"};
  auto key = generate_p256_key();
  if (!key) return std::move(key).error();
  return std::make_unique<LeafCache>(Passkey{}, std::move(ca), std::move(*key), std::move(options));
}

LeafCache::LeafCache(Passkey, std::shared_ptr<const RootCa> ca, EvpPkeyPtr leaf_key, LeafCacheOptions options)
    : ca_(std::move(ca)),
      leaf_key_(std::move(leaf_key)),
      capacity_(std::max<std::size_t>(options.capacity, 1)),
      refresh_before_expiry_(options.refresh_before_expiry),
      clock_(options.clock ? std::move(options.clock) : std::function<Clock::time_point()>(Clock::now)) {}

LeafCache::~LeafCache() = default;

LeafCache::Clock::time_point LeafCache::now() const { return clock_(); }

Result<ServerContext> LeafCache::server_context(std::string_view host) {
  auto validated = validate_host(host);
  if (!validated) {
    ++invalid_hosts_;
    return std::move(validated).error();
  }
  return server_context(*validated);
}

Result<ServerContext> LeafCache::server_context(const ValidatedHost& host) {
  ClearErrorsOnReturn clear;
  const Clock::time_point now = this->now();
  std::shared_ptr<Slot> slot;
  std::optional<std::promise<Result<ServerContext>>> promise;  // set when this call mints
  std::shared_ptr<const RootCa> ca;
  {
    std::lock_guard lock(mutex_);
    ca = ca_;
    if (auto found = index_.find(host.text()); found != index_.end()) {
      lru_.splice(lru_.begin(), lru_, found->second);  // now the most recently used
      Entry& entry = *found->second;
      if (!entry.slot->ready || now < entry.slot->refresh_at) {
        ++hits_;
        slot = entry.slot;
      } else {
        ++misses_;  // due for refresh: holders keep the old context, new callers wait for the new one
        promise.emplace();
        entry.slot = std::make_shared<Slot>(Slot{promise->get_future().share()});
        slot = entry.slot;
      }
    } else {
      ++misses_;
      promise.emplace();
      lru_.push_front(Entry{host.text(), std::make_shared<Slot>(Slot{promise->get_future().share()})});
      index_.emplace(host.text(), lru_.begin());
      slot = lru_.front().slot;
      // K2: a bounded cache. The entry just added is at the front, so it is never the one dropped.
      while (lru_.size() > capacity_) {
        index_.erase(lru_.back().host);
        lru_.pop_back();
        ++evictions_;
      }
    }
  }
  if (!promise) return slot->context.get();  // ready, or minted by the caller that got here first

  std::optional<Result<Minted>> minted;
  try {
    minted.emplace(mint(*ca, host, now));
  } catch (...) {
    // Waiters must not block forever on a minting that died: they get the same exception.
    ++mint_failures_;
    finish(host.text(), slot, nullptr);
    promise->set_exception(std::current_exception());
    throw;
  }
  finish(host.text(), slot, &*minted);
  if (!*minted) {
    ++mint_failures_;
    promise->set_value(minted->error());
    return std::move(*minted).error();
  }
  ++mints_;
  promise->set_value((*minted)->context);
  return (*minted)->context;
}

void LeafCache::replace_ca(std::shared_ptr<const RootCa> ca) {
  std::lock_guard lock(mutex_);
  ca_ = std::move(ca);
  index_.clear();
  lru_.clear();  // a minting under way finds its entry gone and is not cached (finish())
}

Result<LeafCache::Minted> LeafCache::mint(const RootCa& ca, const ValidatedHost& host, Clock::time_point at) const {
  auto leaf = mint_leaf(ca, host, leaf_key_.get(), at);
  if (!leaf) return std::move(leaf).error();
  auto context = make_server_context(ca, leaf->certificate.get(), leaf_key_.get());
  if (!context) return std::move(context).error();
  return Minted{std::move(*context), leaf->not_after};
}

void LeafCache::finish(const std::string& host, const std::shared_ptr<Slot>& slot, const Result<Minted>* minted) {
  std::lock_guard lock(mutex_);
  auto found = index_.find(host);
  if (found == index_.end() || found->second->slot != slot) return;  // evicted or replaced meanwhile
  if (minted != nullptr && *minted) {
    slot->ready = true;
    slot->refresh_at = (*minted)->not_after - refresh_before_expiry_;
  } else {
    lru_.erase(found->second);  // a failure is not cached: the next call tries again
    index_.erase(found);
  }
}

LeafCacheStats LeafCache::stats() const {
  LeafCacheStats stats;
  stats.hits = hits_.load();
  stats.misses = misses_.load();
  stats.mints = mints_.load();
  stats.mint_failures = mint_failures_.load();
  stats.evictions = evictions_.load();
  stats.invalid_hosts = invalid_hosts_.load();
  std::lock_guard lock(mutex_);
  stats.size = lru_.size();
  return stats;
}

}  // namespace airlock::certs
