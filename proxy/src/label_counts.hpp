// LabelCounts: counters keyed by label values taken from traffic (a credential's secret_name, a host a
// sandbox asked for), behind ProxyStats::redactions and ProxyStats::host_requests. The first label is
// bounded: past `max_values` distinct values, new ones count under kOtherLabel, so however many names
// the traffic brings, the map (and every scrape) stays bounded. The second label comes from a fixed set
// (a decision word), or is "".
//
// Threading: add() from any worker thread, snapshot() from any thread; one mutex. Callers only take it
// for exchanges that have something to count (a redaction; every exchange only when host labels are on).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace airlock::proxy {

class LabelCounts {
 public:
  explicit LabelCounts(std::size_t max_values) : max_values_(max_values) {}

  // Counts one under (value, detail); `value` becomes kOtherLabel once max_values distinct ones are
  // known. A value that is kOtherLabel itself counts there too. Out of memory: not counted.
  void add(std::string_view value, std::string_view detail = {}) noexcept;
  std::map<std::pair<std::string, std::string>, std::uint64_t> snapshot() const;

 private:
  using Details = std::map<std::string, std::uint64_t, std::less<>>;
  const std::size_t max_values_;
  mutable std::mutex mutex_;
  std::map<std::string, Details, std::less<>> counts_;  // transparent: a known value is found without allocating
  std::size_t distinct_ = 0;                            // values with a series of their own
};

}  // namespace airlock::proxy
