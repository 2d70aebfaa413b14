// LeafCache: counters, LRU bound, single-flight minting, refresh before expiry.
#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/certs/leaf_cache.hpp"
#include "test_support.hpp"

namespace airlock::certs {
namespace {

using std::chrono::system_clock;

std::shared_ptr<const RootCa> make_ca() {
  auto ca = RootCa::generate();
  REQUIRE(ca);
  return std::make_shared<const RootCa>(std::move(*ca));
}

LeafCacheOptions with_capacity(std::size_t capacity) {
  LeafCacheOptions options;
  options.capacity = capacity;
  return options;
}

std::unique_ptr<LeafCache> make_cache(LeafCacheOptions options = {}) {
  auto cache = LeafCache::create(make_ca(), std::move(options));
  REQUIRE_MESSAGE(cache, (cache ? "" : cache.error().message));
  return std::move(*cache);
}

ServerContext context_for(LeafCache& cache, std::string_view host) {
  auto context = cache.server_context(host);
  REQUIRE_MESSAGE(context, (context ? "" : context.error().message));
  return *context;
}

X509* leaf_of(const ServerContext& context) { return SSL_CTX_get0_certificate(context.get()); }

TEST_CASE("a second request for a host is a hit on the same context") {
  auto cache = make_cache();
  const ServerContext first = context_for(*cache, "api.example.com");
  const ServerContext again = context_for(*cache, "API.Example.com");  // the key is the normalised host
  const ServerContext other = context_for(*cache, "other.example.com");
  CHECK(first == again);
  CHECK(first != other);
  CHECK(test::alt_names(leaf_of(first)) == std::vector<std::string>{"DNS:api.example.com"});
  CHECK(test::alt_names(leaf_of(other)) == std::vector<std::string>{"DNS:other.example.com"});

  const LeafCacheStats stats = cache->stats();
  CHECK(stats.hits == 1);
  CHECK(stats.misses == 2);
  CHECK(stats.mints == 2);
  CHECK(stats.mint_failures == 0);
  CHECK(stats.evictions == 0);
  CHECK(stats.size == 2);
  CHECK(cache->capacity() == 1024);
}

TEST_CASE("invalid hosts are refused before anything is minted or cached") {
  auto cache = make_cache();
  for (std::string_view host : {"", "a..b", "*.x.com", "host:443", "exa mple.com"}) {
    auto refused = cache->server_context(host);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::invalid_host);
  }
  const LeafCacheStats stats = cache->stats();
  CHECK(stats.invalid_hosts == 5);
  CHECK(stats.misses == 0);
  CHECK(stats.mints == 0);
  CHECK(stats.size == 0);
}

TEST_CASE("the LRU drops the least recently used entry at capacity + 1") {
  auto cache = make_cache(with_capacity(3));
  const ServerContext a = context_for(*cache, "a.example");
  context_for(*cache, "b.example");
  context_for(*cache, "c.example");
  CHECK(context_for(*cache, "a.example") == a);  // a is now the most recently used; b the least
  context_for(*cache, "d.example");              // capacity + 1: b goes

  LeafCacheStats stats = cache->stats();
  CHECK(stats.size == 3);
  CHECK(stats.evictions == 1);
  CHECK(stats.mints == 4);

  CHECK(context_for(*cache, "a.example") == a);  // still cached
  context_for(*cache, "c.example");              // still cached
  context_for(*cache, "d.example");              // still cached
  stats = cache->stats();
  CHECK(stats.mints == 4);
  CHECK(stats.hits == 4);

  context_for(*cache, "b.example");  // was evicted: minted again, and a (now least recent) goes
  stats = cache->stats();
  CHECK(stats.mints == 5);
  CHECK(stats.evictions == 2);
  CHECK(stats.size == 3);
  CHECK(context_for(*cache, "a.example") != a);
  CHECK(a.use_count() == 1);  // an evicted context lives on with its holders only
}

TEST_CASE("a capacity of 0 is treated as 1") {
  auto cache = make_cache(with_capacity(0));
  CHECK(cache->capacity() == 1);
  context_for(*cache, "a.example");
  context_for(*cache, "b.example");
  CHECK(cache->stats().size == 1);
  CHECK(cache->stats().evictions == 1);
}

TEST_CASE("concurrent requests for one host cost one minting") {
  auto cache = make_cache();
  constexpr int kThreads = 16;
  std::latch start{kThreads};
  std::mutex mutex;
  std::set<SSL_CTX*> seen;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto context = cache->server_context("same.example.com");
      std::lock_guard lock(mutex);
      seen.insert(context ? context->get() : nullptr);
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(seen.size() == 1);
  CHECK(*seen.begin() != nullptr);
  const LeafCacheStats stats = cache->stats();
  CHECK(stats.mints == 1);
  CHECK(stats.misses == 1);
  CHECK(stats.hits == kThreads - 1);
}

TEST_CASE("concurrent requests for many hosts each mint once") {
  auto cache = make_cache();
  constexpr int kThreads = 8;
  constexpr int kHosts = 20;
  std::latch start{kThreads};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int h = 0; h < kHosts; ++h) {
        if (!cache->server_context("host" + std::to_string(h) + ".example")) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  const LeafCacheStats stats = cache->stats();
  CHECK(stats.mints == kHosts);
  CHECK(stats.hits + stats.misses == kThreads * kHosts);
  CHECK(stats.size == kHosts);
}

TEST_CASE("a leaf is re-minted once within an hour of its expiry") {
  const system_clock::time_point start = system_clock::from_time_t(std::time(nullptr));
  auto now = std::make_shared<system_clock::time_point>(start);
  LeafCacheOptions options;
  options.clock = [now] { return *now; };
  auto cache = make_cache(std::move(options));

  const ServerContext first = context_for(*cache, "api.example.com");
  CHECK(test::asn1_to_time_t(X509_get0_notAfter(leaf_of(first))) == system_clock::to_time_t(start) + 86400);

  *now = start + std::chrono::hours(23) - std::chrono::seconds(1);
  CHECK(context_for(*cache, "api.example.com") == first);
  CHECK(cache->stats().mints == 1);

  *now = start + std::chrono::hours(23);  // one hour before notAfter
  const ServerContext second = context_for(*cache, "api.example.com");
  CHECK(second != first);
  CHECK(cache->stats().mints == 2);
  CHECK(cache->stats().misses == 2);
  CHECK(test::asn1_to_time_t(X509_get0_notBefore(leaf_of(second))) == system_clock::to_time_t(start) + 23 * 3600 - 300);
  CHECK(context_for(*cache, "api.example.com") == second);
  CHECK(cache->stats().size == 1);
}

TEST_CASE("every leaf in the cache shares one key pair") {
  auto cache = make_cache();
  const ServerContext a = context_for(*cache, "a.example");
  const ServerContext b = context_for(*cache, "b.example");
  CHECK(EVP_PKEY_eq(SSL_CTX_get0_privatekey(a.get()), SSL_CTX_get0_privatekey(b.get())) == 1);
}

}  // namespace
}  // namespace airlock::certs
