// Unit tests of LabelCounts: exact counts per (value, detail), the bound on distinct values, and the
// overflow under kOtherLabel.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "airlock/proxy/proxy.hpp"
#include "label_counts.hpp"

namespace airlock::proxy {

TEST_CASE("label counts: one series per (value, detail), counted exactly") {
  LabelCounts counts(10);
  counts.add("METRICS_API_TOKEN");
  counts.add("METRICS_API_TOKEN");
  counts.add("");  // a static_bearer credential has no secret_name
  counts.add("api.example.test", "allowed");
  counts.add("api.example.test", "denied");
  counts.add("api.example.test", "allowed");
  const auto snapshot = counts.snapshot();
  CHECK(snapshot.size() == 4);
  CHECK(snapshot.at({"METRICS_API_TOKEN", ""}) == 2);
  CHECK(snapshot.at({"", ""}) == 1);
  CHECK(snapshot.at({"api.example.test", "allowed"}) == 2);
  CHECK(snapshot.at({"api.example.test", "denied"}) == 1);
}

TEST_CASE("label counts: past the bound, new values count under _other, known ones keep their series") {
  LabelCounts counts(3);
  for (int i = 0; i < 3; ++i) counts.add(fmt::format("host{}.test", i), "allowed");
  for (int i = 3; i < 1000; ++i) counts.add(fmt::format("host{}.test", i), i % 2 == 0 ? "allowed" : "denied");
  counts.add("host1.test", "denied");  // known: still its own series
  const auto snapshot = counts.snapshot();
  CHECK(snapshot.size() == 6);
  CHECK(snapshot.at({"host0.test", "allowed"}) == 1);
  CHECK(snapshot.at({"host1.test", "allowed"}) == 1);
  CHECK(snapshot.at({"host1.test", "denied"}) == 1);
  CHECK(snapshot.at({"host2.test", "allowed"}) == 1);
  CHECK(snapshot.at({std::string(kOtherLabel), "allowed"}) == 498);
  CHECK(snapshot.at({std::string(kOtherLabel), "denied"}) == 499);
  CHECK(snapshot.count({"host3.test", "allowed"}) == 0);
}

TEST_CASE("label counts: a value spelled _other merges with the overflow and takes no slot") {
  LabelCounts counts(1);
  counts.add(kOtherLabel);
  counts.add("first");
  counts.add("second");
  const auto snapshot = counts.snapshot();
  CHECK(snapshot.size() == 2);
  CHECK(snapshot.at({"first", ""}) == 1);
  CHECK(snapshot.at({std::string(kOtherLabel), ""}) == 2);
}

TEST_CASE("label counts: a bound of zero puts everything under _other") {
  LabelCounts counts(0);
  counts.add("a", "allowed");
  counts.add("b", "allowed");
  const auto snapshot = counts.snapshot();
  CHECK(snapshot.size() == 1);
  CHECK(snapshot.at({std::string(kOtherLabel), "allowed"}) == 2);
}

TEST_CASE("label counts: concurrent adds from several threads are all counted") {
  LabelCounts counts(kMaxMetricHosts);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counts, t] {
      for (int i = 0; i < 10'000; ++i) counts.add(fmt::format("h{}.test", (i + t) % 300), "allowed");
    });
  }
  for (auto& thread : threads) thread.join();
  std::uint64_t total = 0;
  std::size_t own = 0;
  for (const auto& [key, count] : counts.snapshot()) {
    total += count;
    if (key.first != kOtherLabel) ++own;
  }
  CHECK(total == 40'000);
  CHECK(own == kMaxMetricHosts);
}

}  // namespace airlock::proxy
