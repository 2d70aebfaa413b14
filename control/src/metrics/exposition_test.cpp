// The Prometheus text writer: the exact bytes of families, samples, escaped labels and histograms.
#include "metrics/exposition.hpp"

#include <doctest/doctest.h>

#include <chrono>

namespace airlock::control {

TEST_CASE("exposition: counters and gauges, with and without labels, HELP escaped") {
  Exposition out;
  out.family("airlock_things_total", Exposition::Type::counter, "Things, with a \\ and a\nline feed.");
  out.sample("airlock_things_total", std::uint64_t{3});
  out.sample("airlock_things_total", {{"kind", "a"}, {"reason", ""}}, std::uint64_t{18446744073709551615ULL});
  out.family("airlock_level", Exposition::Type::gauge, "A level.");
  out.sample("airlock_level", {}, 0.25);
  out.sample("airlock_level", {{"x", "y"}}, 1700000000.0);
  CHECK(out.text() ==
        "# HELP airlock_things_total Things, with a \\\\ and a\\nline feed.\n"
        "# TYPE airlock_things_total counter\n"
        "airlock_things_total 3\n"
        "airlock_things_total{kind=\"a\",reason=\"\"} 18446744073709551615\n"
        "# HELP airlock_level A level.\n"
        "# TYPE airlock_level gauge\n"
        "airlock_level 0.25\n"
        "airlock_level{x=\"y\"} 1700000000\n");
}

TEST_CASE("exposition: label values escape backslash, double quote and line feed, nothing else") {
  Exposition out;
  out.sample("m", {{"v", "a\\b\"c\nd\te/{}=,"}}, std::uint64_t{1});
  CHECK(out.text() == "m{v=\"a\\\\b\\\"c\\nd\te/{}=,\"} 1\n");
}

TEST_CASE("exposition: a histogram's buckets are cumulative, +Inf last, then _sum and _count") {
  proxy::LatencyHistogram latency;
  latency.observe(std::chrono::microseconds(400));   // <= 0.0005
  latency.observe(std::chrono::microseconds(500));   // == 0.0005: that bucket (le is inclusive)
  latency.observe(std::chrono::milliseconds(30));    // <= 0.05
  latency.observe(std::chrono::seconds(61));         // past the last bound: +Inf
  latency.observe(std::chrono::nanoseconds(-5));     // a clock step back counts as 0
  const proxy::HistogramSnapshot snapshot = latency.snapshot();
  REQUIRE(snapshot.count == 5);
  CHECK(snapshot.counts.front() == 3);
  CHECK(snapshot.counts.back() == 1);

  Exposition out;
  out.family("airlock_wait_seconds", Exposition::Type::histogram, "Waits.");
  out.histogram("airlock_wait_seconds", {{"route", "/v1/x"}}, snapshot);
  CHECK(out.text() ==
        "# HELP airlock_wait_seconds Waits.\n"
        "# TYPE airlock_wait_seconds histogram\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.0005\"} 3\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.001\"} 3\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.0025\"} 3\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.005\"} 3\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.01\"} 3\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.025\"} 3\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.05\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.1\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.25\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"0.5\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"1\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"2.5\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"5\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"10\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"60\"} 4\n"
        "airlock_wait_seconds_bucket{route=\"/v1/x\",le=\"+Inf\"} 5\n"
        "airlock_wait_seconds_sum{route=\"/v1/x\"} 61.0309\n"
        "airlock_wait_seconds_count{route=\"/v1/x\"} 5\n");
}

}  // namespace airlock::control
