// Micro-benchmark of cron next-fire evaluation (ARCHITECTURE.md targets under 2 us per computation).
// For each case it times a run of next_fire calls with steady_clock and prints nanoseconds per call; it
// asserts nothing. Each call starts from a different instant (a step of 7 minutes 13 seconds) so that
// the work is not one cached answer, and the results are folded into a checksum that is printed, so the
// compiler cannot drop the calls.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "airlock/cron/cron.hpp"

namespace {

struct Case {
  std::string_view expression;
  std::string_view zone;
  std::string_view from;
};

constexpr Case kCases[] = {
    {"*/15 * * * *", "America/New_York", "2027-01-01T00:00:00Z"},
    {"0 9 * * 1-5", "America/Los_Angeles", "2027-01-01T00:00:00Z"},
    {"30 2 * * *", "America/New_York", "2027-03-01T00:00:00Z"},  // crosses the March gap
    {"0 0 13 * FRI", "Europe/London", "2027-01-01T00:00:00Z"},
    {"0 12 * * *", "America/New_York", "2045-01-01T00:00:00Z"},  // footer rule, after 2037
    {"0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z"},                // 8 years to the next fire
};

constexpr int kCalls = 200000;

}  // namespace

int main() {
  using namespace airlock;
  std::uint64_t checksum = 0;
  std::printf("%-16s %-22s %12s\n", "expression", "zone", "ns/next_fire");
  for (const Case& c : kCases) {
    cron::Result<cron::Schedule> schedule = cron::parse(c.expression);
    cron::Result<cron::Zone> zone = cron::find_zone(c.zone);
    std::optional<cron::Instant> from = cron::parse_rfc3339(c.from);
    if (!schedule || !zone || !from) {
      std::fprintf(stderr, "bad case %.*s\n", static_cast<int>(c.expression.size()), c.expression.data());
      return 1;
    }
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      cron::Instant at = *from + std::chrono::seconds{433} * i;
      std::optional<date::sys_seconds> fire = cron::next_fire(*schedule, *zone, at);
      checksum += fire ? static_cast<std::uint64_t>(fire->time_since_epoch().count()) : 1;
    }
    auto elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
    std::printf("%-16.*s %-22.*s %12.0f\n", static_cast<int>(c.expression.size()), c.expression.data(),
                static_cast<int>(c.zone.size()), c.zone.data(), elapsed.count() / kCalls);
  }
  std::printf("checksum %llu\n", static_cast<unsigned long long>(checksum));
  return 0;
}
