// Tests of next_fire / next_fires: the table testdata/next_fires.txt (DST gaps and overlaps, odd offsets,
// after 2037, leap days, month and year ends, day matching, names), a comparison with a brute-force
// evaluation over a whole year, the bounded search, and the jitter.
#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/cron/cron.hpp"
#include "test_support.hpp"

namespace airlock::cron {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

Instant at(const std::string& text) {
  std::optional<Instant> parsed = parse_rfc3339(text);
  REQUIRE_MESSAGE(parsed.has_value(), text);
  return *parsed;
}

std::string joined(const std::vector<date::sys_seconds>& fires) {
  std::string out;
  for (date::sys_seconds fire : fires) out += (out.empty() ? "" : " ") + format_rfc3339(fire);
  return out;
}

static_assert(kSearchHorizon >= std::chrono::days{8 * 366}, "CRON.md: search at least 8 years ahead per fire");

TEST_CASE("next_fires gives the instants in next_fires.txt") {
  for (const testing::Row& row : testing::read_table("next_fires.txt", 4)) {
    INFO("next_fires.txt:" << row.line << ": \"" << row.columns[0] << "\" " << row.columns[1] << " from "
                           << row.columns[2]);
    Result<Schedule> schedule = parse(row.columns[0]);
    REQUIRE_MESSAGE(schedule.has_value(), (schedule.has_value() ? std::string() : schedule.error()));
    Result<Zone> zone = find_zone(row.columns[1]);
    REQUIRE(zone.has_value());
    std::vector<std::string> expected = testing::words(row.columns[3]);
    REQUIRE_FALSE(expected.empty());
    Instant from = at(row.columns[2]);
    std::vector<date::sys_seconds> fires = next_fires(*schedule, *zone, from, expected.size());
    CHECK(joined(fires) == row.columns[3]);
    std::optional<date::sys_seconds> first = next_fire(*schedule, *zone, from);
    REQUIRE(first.has_value());
    CHECK(format_rfc3339(*first) == expected[0]);
  }
}

// The rules of CRON.md applied the slow, obvious way: every matching wall-clock minute of every day,
// resolved with date/tz's local_info (unique, nonexistent or ambiguous).
std::vector<date::sys_seconds> brute_force(const Schedule& s, const date::time_zone* tz, date::local_days first,
                                           date::local_days last) {
  std::set<date::sys_seconds> fires;
  for (date::local_days day = first; day < last; day += date::days{1}) {
    date::year_month_day ymd{day};
    if (!(s.months >> static_cast<unsigned>(ymd.month()) & 1)) continue;
    bool by_month = s.days_of_month >> static_cast<unsigned>(ymd.day()) & 1;
    bool by_week = s.days_of_week >> date::weekday{day}.c_encoding() & 1;
    bool both_restricted = s.day_of_month_restricted && s.day_of_week_restricted;
    if (both_restricted ? !(by_month || by_week) : !(by_month && by_week)) continue;
    for (unsigned h = 0; h < 24; ++h) {
      if (!(s.hours >> h & 1)) continue;
      for (unsigned m = 0; m < 60; ++m) {
        if (!(s.minutes >> m & 1)) continue;
        date::local_seconds wall = day + hours{h} + minutes{m};
        date::local_info info = tz->get_info(wall);
        auto instant = [&wall](const date::sys_info& i) { return date::sys_seconds{wall.time_since_epoch() - i.offset}; };
        switch (info.result) {
          case date::local_info::unique:
            fires.insert(instant(info.first));
            break;
          case date::local_info::ambiguous:  // first occurrence; interval-like also the second
            fires.insert(instant(info.first));
            if (s.interval_like) fires.insert(instant(info.second));
            break;
          case date::local_info::nonexistent:  // fixed-time fires when the gap ends
            if (!s.interval_like) fires.insert(info.second.begin);
            break;
        }
      }
    }
  }
  return {fires.begin(), fires.end()};
}

TEST_CASE("next_fire agrees with a brute-force evaluation over whole years of DST changes") {
  struct Case {
    const char* zone;
    int year;
  };
  const Case zones[] = {{"America/New_York", 2027}, {"Europe/London", 2027},    {"Australia/Lord_Howe", 2027},
                        {"Pacific/Chatham", 2027},  {"Australia/Sydney", 2027}, {"America/Nuuk", 2027},
                        {"Asia/Beirut", 2027},      {"Europe/Dublin", 2027},    {"Pacific/Apia", 2011},
                        {"America/Havana", 2027},   {"Asia/Kathmandu", 2027}};
  const char* expressions[] = {"*/15 * * * *", "30 2 * * *",      "0 * * * *",   "30 1 * * *",   "0,30 0-3 * * *",
                               "*/20 2 * * *", "0 1-3 * * *",     "45 23 * * *", "0 0 * * *",    "15 2 * * 0",
                               "0 12 13 * 5",  "*/10 0,1,23 * * *", "59 * * * *", "0 */6 * * *"};
  for (const Case& c : zones) {
    Result<Zone> zone = find_zone(c.zone);
    REQUIRE(zone.has_value());
    const date::time_zone* tz = date::locate_zone(c.zone);
    date::local_days first{date::year{c.year} / 1 / 1};
    date::local_days last{date::year{c.year + 1} / 1 / 1};
    // Instants that only these local days can produce: two days of margin on each side.
    date::sys_seconds window_begin{(first + date::days{2}).time_since_epoch()};
    date::sys_seconds window_end{(last - date::days{2}).time_since_epoch()};
    for (const char* expression : expressions) {
      INFO(c.zone << " " << c.year << " \"" << expression << "\"");
      Result<Schedule> schedule = parse(expression);
      REQUIRE(schedule.has_value());
      std::vector<date::sys_seconds> expected;
      for (date::sys_seconds fire : brute_force(*schedule, tz, first, last)) {
        if (fire >= window_begin && fire < window_end) expected.push_back(fire);
      }
      REQUIRE_FALSE(expected.empty());
      std::vector<date::sys_seconds> actual;
      Instant from{window_begin - seconds{1}};
      while (std::optional<date::sys_seconds> fire = next_fire(*schedule, *zone, from)) {
        if (*fire >= window_end) break;
        actual.push_back(*fire);
        from = Instant{*fire};
      }
      CHECK(actual.size() == expected.size());
      auto mismatch = std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
      if (mismatch.first != actual.end() || mismatch.second != expected.end()) {
        FAIL_CHECK("first difference: got "
                   << (mismatch.first != actual.end() ? format_rfc3339(*mismatch.first) : "nothing") << ", expected "
                   << (mismatch.second != expected.end() ? format_rfc3339(*mismatch.second) : "nothing"));
      }
    }
  }
}

TEST_CASE("next_fires returns strictly increasing instants, each strictly after from") {
  Result<Schedule> schedule = parse("0,30 1,2 * * *");
  Result<Zone> zone = find_zone("America/New_York");
  REQUIRE((schedule && zone));
  Instant from = at("2027-03-13T00:00:00Z");
  std::vector<date::sys_seconds> fires = next_fires(*schedule, *zone, from, 50);
  REQUIRE(fires.size() == 50);
  CHECK(Instant{fires.front()} > from);
  for (std::size_t i = 1; i < fires.size(); ++i) CHECK(fires[i - 1] < fires[i]);
  CHECK(next_fires(*schedule, *zone, from, 0).empty());
}

TEST_CASE("the search is bounded: a schedule with no fire ends in nullopt, not a loop") {
  // parse refuses "0 0 30 2 *", so build the never-firing schedule by hand.
  Schedule february_30;
  february_30.minutes = 1;
  february_30.hours = 1;
  february_30.days_of_month = 1u << 30;
  february_30.months = 1u << 2;
  february_30.days_of_week = 0x7f;
  february_30.day_of_month_restricted = true;
  for (const char* name : {"UTC", "America/New_York", "Australia/Lord_Howe"}) {
    Result<Zone> zone = find_zone(name);
    REQUIRE(zone.has_value());
    CHECK_FALSE(next_fire(february_30, *zone, at("2027-01-01T00:00:00Z")).has_value());
    CHECK(next_fires(february_30, *zone, at("2027-01-01T00:00:00Z"), 5).empty());
  }
  CHECK_FALSE(next_fire(Schedule{}, *find_zone("UTC"), at("2027-01-01T00:00:00Z")).has_value());
}

TEST_CASE("the search reaches a fire just inside the horizon and stops at it") {
  Result<Schedule> leap_day = parse("0 0 29 2 *");
  Result<Zone> zone = find_zone("UTC");
  REQUIRE((leap_day && zone));
  // The longest gap between fires of an accepted expression: 2096-02-29 to 2104-02-29 (2100 is not leap).
  CHECK(format_rfc3339(*next_fire(*leap_day, *zone, at("2096-02-29T00:00:00Z"))) == "2104-02-29T00:00:00Z");

  // Only a hand-built schedule has longer gaps: February 29 that is also a Monday (2016, 2044, 2072).
  Schedule monday_leap_day = *leap_day;
  monday_leap_day.days_of_week = 1u << 1;  // AND with day-of-month, as if "29 2 MON" did not use the OR rule
  CHECK_FALSE(next_fire(monday_leap_day, *zone, at("2016-02-29T00:00:00Z")).has_value());
  // The search covers fires less than kSearchHorizon after `from`.
  Instant fire{date::sys_days{date::year{2044} / 2 / 29}};
  CHECK_FALSE(next_fire(monday_leap_day, *zone, fire - kSearchHorizon).has_value());
  std::optional<date::sys_seconds> found = next_fire(monday_leap_day, *zone, fire - kSearchHorizon + seconds{1});
  REQUIRE(found.has_value());
  CHECK(format_rfc3339(*found) == "2044-02-29T00:00:00Z");
}

TEST_CASE("jitter_for is a fixed offset below max_jitter derived from the deployment id") {
  // Pinned: changing the hash would move every deployment's fires.
  CHECK(jitter_for("depl_01CZkZ4bX3mN8pQr2sTuVw", seconds{60}) == seconds{8});
  CHECK(jitter_for("depl_a", seconds{60}) == seconds{59});
  CHECK(jitter_for("depl_b", seconds{60}) == seconds{49});
  CHECK(jitter_for("depl_a", seconds{3600}) == seconds{1559});
  CHECK(jitter_for("", seconds{60}) == seconds{3});
  CHECK(jitter_for("depl_a", seconds{0}) == seconds{0});  // scheduler.max_jitter_seconds: 0 turns it off
  CHECK(jitter_for("depl_a", seconds{-5}) == seconds{0});
  CHECK(jitter_for("depl_a", seconds{1}) == seconds{0});
  std::set<long long> seen;
  for (int i = 0; i < 1000; ++i) {
    seconds jitter = jitter_for("depl_" + std::to_string(i), seconds{60});
    REQUIRE(jitter >= seconds{0});
    REQUIRE(jitter < seconds{60});
    seen.insert(jitter.count());
  }
  CHECK(seen.size() == 60);  // 1000 ids cover every second of the window
}

}  // namespace
}  // namespace airlock::cron
