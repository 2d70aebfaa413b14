// A latency histogram with fixed bucket bounds (seconds), for the proxy's request and connect durations
// and the daemon's own (API requests, snapshot builds, scheduler lag), exposed as Prometheus histograms.
//
// Threading: observe() and snapshot() may be called from any thread. Each bucket is a relaxed atomic, so
// a snapshot taken while others observe may be off by the observations in flight, never torn.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

namespace airlock::proxy {

// From half a millisecond to a minute: loopback requests at the bottom, slow origins and lagging fires
// at the top.
inline constexpr std::array<double, 15> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                          0.25,   0.5,   1,      2.5,   5,     10,    60};

// What a histogram held at one moment.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;   // seconds, ascending; the +Inf bucket is implied
  std::vector<std::uint64_t> counts;  // per bucket, not cumulative: upper_bounds.size() + 1 (the last is +Inf)
  double sum_seconds = 0;
  std::uint64_t count = 0;
};

class LatencyHistogram {
 public:
  void observe(std::chrono::nanoseconds elapsed) noexcept {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds) - kLatencyBounds.begin());
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_nanos_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(elapsed.count(), 0)),
                         std::memory_order_relaxed);
  }

  HistogramSnapshot snapshot() const {
    HistogramSnapshot out;
    out.upper_bounds.assign(kLatencyBounds.begin(), kLatencyBounds.end());
    out.counts.reserve(buckets_.size());
    for (const auto& bucket : buckets_) {
      out.counts.push_back(bucket.load(std::memory_order_relaxed));
      out.count += out.counts.back();
    }
    out.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kLatencyBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_nanos_{0};
};

}  // namespace airlock::proxy
