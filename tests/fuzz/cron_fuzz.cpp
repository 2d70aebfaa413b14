// Fuzz target cron: the cron parser and evaluator (control/cron, docs/design/CRON.md), as a deployment's
// schedule uses them: parse(), find_zone(), parse_rfc3339(), next_fire() and next_fires(); and the TZif
// footer rule parser (PosixTz) over the zone text.
//
// Input: a row like those of control/cron/testdata/next_fires.txt, without the quotes and the expected
// fires:  expression | zone | from   (a zone that does not load is UTC; a from that does not parse is
// 2027-03-13T00:00:00Z).
//
// Checks (a violation aborts; a hang is caught by libFuzzer's -timeout):
//   - an accepted expression sets only values inside each field's range, no field empty, and the
//     restricted and interval_like flags follow from its text (CRON.md "Day matching", "DST");
//   - every accepted expression fires, and keeps firing: next_fires() returns all the fires asked for (it
//     fires at least once in any 8 years, and a search looks 10 ahead), strictly after `from` and each
//     strictly after the one before; next_fire() gives the first;
//   - every fire matches the expression at the zone's wall time there, with the day rule of CRON.md, or is
//     the end of a DST gap that swallowed a match (fixed-time only); a fixed-time schedule never fires a
//     wall time a second time in an overlap;
//   - no fire is missed: where one of the first fires comes less than a day after the one before (or
//     `from`), no wall minute between them matches (counting the rules above), checked minute by minute
//     with a matcher written here;
//   - format_rfc3339() of a fire parses back to it; PosixTz::info() of a parsed rule gives stretches that
//     hold their instant and chain without a hole.
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "airlock/cron/cron.hpp"
#include "fuzz_support.hpp"
#include "posix_tz.hpp"

namespace airlock::fuzz {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::size_t kFires = 12;
constexpr std::size_t kFiresCheckedForMisses = 4;  // minute by minute is slow: the first few are enough
constexpr std::size_t kMaxZonesKept = 64;

// Zones load a TZif file: keep the ones seen, within a bound.
const cron::Zone& zone_named(std::string_view name) {
  static std::map<std::string, cron::Zone, std::less<>> zones;
  static const cron::Zone utc = *cron::find_zone("UTC");
  if (auto found = zones.find(name); found != zones.end()) return found->second;
  cron::Result<cron::Zone> zone = cron::find_zone(name);
  if (!zone) {
    AIRLOCK_FUZZ_CHECK(!zone.error().empty());
    return utc;
  }
  if (zones.size() == kMaxZonesKept) zones.clear();
  return zones.emplace(std::string(name), *zone).first->second;
}

void check_schedule(const cron::Schedule& schedule, std::string_view expression) {
  AIRLOCK_FUZZ_CHECK(schedule.minutes != 0 && schedule.minutes >> 60 == 0);
  AIRLOCK_FUZZ_CHECK(schedule.hours != 0 && schedule.hours >> 24 == 0);
  AIRLOCK_FUZZ_CHECK(schedule.days_of_month != 0 && (schedule.days_of_month & 1u) == 0);
  AIRLOCK_FUZZ_CHECK(schedule.months != 0 && (schedule.months & 1u) == 0 && schedule.months >> 13 == 0);
  AIRLOCK_FUZZ_CHECK(schedule.days_of_week != 0 && schedule.days_of_week >> 7 == 0);
  const std::vector<std::string_view> fields = words_of(expression);
  AIRLOCK_FUZZ_CHECK(fields.size() == 5);
  AIRLOCK_FUZZ_CHECK(schedule.day_of_month_restricted == (fields[2] != "*"));
  AIRLOCK_FUZZ_CHECK(schedule.day_of_week_restricted == (fields[4] != "*"));
  AIRLOCK_FUZZ_CHECK(schedule.interval_like == (fields[0].starts_with('*') || fields[1].starts_with('*')));
}

// The schedule's own definition, written out: a wall-clock minute matches when its minute, hour and month
// do and its day does (day-of-month AND day-of-week, or OR when both fields are restricted).
bool wall_minute_matches(const cron::Schedule& schedule, date::local_seconds wall) {
  const date::local_days day = date::floor<days>(wall);
  const date::hh_mm_ss time{wall - day};
  if (time.seconds().count() != 0) return false;
  const date::year_month_day ymd{day};
  const unsigned weekday = date::weekday{day}.c_encoding();
  const bool minute = (schedule.minutes >> time.minutes().count()) & 1u;
  const bool hour = (schedule.hours >> time.hours().count()) & 1u;
  const bool month = (schedule.months >> static_cast<unsigned>(ymd.month())) & 1u;
  const bool day_of_month = (schedule.days_of_month >> static_cast<unsigned>(ymd.day())) & 1u;
  const bool day_of_week = (schedule.days_of_week >> weekday) & 1u;
  const bool either = schedule.day_of_month_restricted && schedule.day_of_week_restricted;
  return minute && hour && month && (either ? day_of_month || day_of_week : day_of_month && day_of_week);
}

date::local_seconds wall_at(date::sys_seconds t, seconds offset) { return date::local_seconds{t.time_since_epoch() + offset}; }

// Whether the wall time `t` shows (in the stretch `info`) was already shown at an earlier instant, by one of
// the stretches before (an overlap).
bool shown_before(const cron::Zone& zone, date::sys_seconds t, const date::sys_info& info) {
  const date::local_seconds wall = wall_at(t, info.offset);
  date::sys_info earlier = info;
  for (int step = 0; step < 8 && earlier.begin > t - days{2}; ++step) {
    earlier = zone.info(earlier.begin - seconds{1});
    if (wall >= wall_at(earlier.begin, earlier.offset) && wall < wall_at(earlier.end, earlier.offset)) return true;
  }
  return false;
}

// Whether the stretch `info` starts right after a DST gap in which some wall minute matches.
bool gap_with_a_match(const cron::Zone& zone, const cron::Schedule& schedule, const date::sys_info& info) {
  const date::sys_info before = zone.info(info.begin - seconds{1});
  if (before.offset >= info.offset) return false;
  for (date::local_seconds wall = date::ceil<minutes>(wall_at(info.begin, before.offset));
       wall < wall_at(info.begin, info.offset); wall += minutes{1}) {
    if (wall_minute_matches(schedule, wall)) return true;
  }
  return false;
}

// Whether the schedule fires at instant t (CRON.md "DST").
bool should_fire(const cron::Zone& zone, const cron::Schedule& schedule, date::sys_seconds t) {
  const date::sys_info info = zone.info(t);
  if (wall_minute_matches(schedule, wall_at(t, info.offset))) {
    return schedule.interval_like || !shown_before(zone, t, info);
  }
  return !schedule.interval_like && t == info.begin && gap_with_a_match(zone, schedule, info);
}

// No instant strictly between `after` and `before` should fire: every wall minute of every stretch in
// between, and every stretch start (a gap's end).
void check_nothing_missed(const cron::Zone& zone, const cron::Schedule& schedule, date::sys_seconds after,
                          date::sys_seconds before) {
  date::sys_seconds t = after + seconds{1};
  while (t < before) {
    const date::sys_info info = zone.info(t);
    AIRLOCK_FUZZ_CHECK(info.begin <= t && t < info.end);
    if (info.begin == t) AIRLOCK_FUZZ_CHECK(!should_fire(zone, schedule, t));
    const date::sys_seconds stop = std::min(info.end, before);
    for (date::local_seconds wall = date::ceil<minutes>(wall_at(t, info.offset)); wall < wall_at(stop, info.offset);
         wall += minutes{1}) {
      const date::sys_seconds instant{wall.time_since_epoch() - info.offset};
      AIRLOCK_FUZZ_CHECK(!should_fire(zone, schedule, instant));
    }
    t = stop;
  }
}

void check_posix_rule(std::string_view text) {
  const std::optional<cron::detail::PosixTz> rule = cron::detail::PosixTz::parse(text);
  if (!rule) return;
  for (const int year : {1970, 2038, 2100}) {
    const date::sys_seconds t{date::sys_days{date::year{year} / 6 / 1}};
    const date::sys_info info = rule->info(t);
    AIRLOCK_FUZZ_CHECK(info.begin <= t && t < info.end);
    AIRLOCK_FUZZ_CHECK(info.offset > -hours{26} && info.offset < hours{26});
    if (info.end < date::sys_seconds{date::sys_days{date::year{9000} / 1 / 1}}) {
      AIRLOCK_FUZZ_CHECK(rule->info(info.end).begin == info.end);
    }
  }
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view input = as_text(data, size);
  const auto [expression, rest] = split_once(input, "|");
  const auto [zone_text, from_text] = split_once(rest, "|");
  const std::string_view zone_name = trim_blanks(zone_text);
  check_posix_rule(zone_name);

  const std::optional<cron::Instant> parsed_from = cron::parse_rfc3339(trim_blanks(from_text));
  const cron::Instant from =
      parsed_from ? *parsed_from : cron::Instant{date::sys_days{date::year{2027} / 3 / 13}};
  const std::chrono::seconds jitter = cron::jitter_for(expression, std::chrono::seconds{3600});
  AIRLOCK_FUZZ_CHECK(jitter >= std::chrono::seconds{0} && jitter < std::chrono::seconds{3600});

  const cron::Result<cron::Schedule> schedule = cron::parse(expression);
  if (!schedule) {
    AIRLOCK_FUZZ_CHECK(!schedule.error().empty());
    return 0;
  }
  check_schedule(*schedule, expression);

  const cron::Zone& zone = zone_named(zone_name);
  const std::vector<date::sys_seconds> fires = cron::next_fires(*schedule, zone, from, kFires);
  AIRLOCK_FUZZ_CHECK(fires.size() == kFires);
  AIRLOCK_FUZZ_CHECK(cron::next_fire(*schedule, zone, from) == fires.front());
  date::sys_seconds after = date::floor<std::chrono::seconds>(from);
  for (std::size_t i = 0; i < fires.size(); ++i) {
    const date::sys_seconds fire = fires[i];
    AIRLOCK_FUZZ_CHECK(fire > after && fire - after <= cron::kSearchHorizon);
    AIRLOCK_FUZZ_CHECK(should_fire(zone, *schedule, fire));
    if (i < kFiresCheckedForMisses && fire - after <= days{1}) check_nothing_missed(zone, *schedule, after, fire);
    if (fire < date::sys_seconds{date::sys_days{date::year{10000} / 1 / 1}}) {
      AIRLOCK_FUZZ_CHECK(cron::parse_rfc3339(cron::format_rfc3339(fire)) == cron::Instant{fire});
    }
    after = fire;
  }
  return 0;
}
