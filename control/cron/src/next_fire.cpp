// Next-fire evaluation (CRON.md "Day matching" and "DST").
//
// Method: UTC time is a chain of stretches of constant offset (date::sys_info from Zone::info). Inside a
// stretch, wall time is UTC plus that offset, so the next matching wall-clock minute is a calendar search
// that needs no zone look-ups: field by field, jumping over whole months, days and hours that cannot
// match, never minute by minute. The DST rules are about the seam between two stretches:
//   - overlap (the offset drops, say from -4h to -5h at T): wall times [T-5h, T-4h) of the new stretch
//     were already shown by the old one. Interval-like schedules fire in both; fixed-time schedules skip
//     them in the new stretch, which leaves the first occurrence only.
//   - gap (the offset rises at T): wall times [T+old, T+new) never happen. Interval-like schedules lose
//     them; a fixed-time schedule with a match among them fires once, at T, the instant the gap ends.
// Fires on the same instant collapse because each search asks for the first fire strictly after the
// previous one. The search stops at kSearchHorizon past `from`.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "airlock/cron/cron.hpp"

namespace airlock::cron {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// The lowest set bit at or above `from`, or -1.
int next_bit(std::uint64_t bits, unsigned from) {
  if (from >= 64) return -1;
  std::uint64_t rest = bits & (~std::uint64_t{0} << from);
  return rest ? std::countr_zero(rest) : -1;
}

date::local_seconds to_local(date::sys_seconds t, seconds offset) {
  return date::local_seconds{t.time_since_epoch() + offset};
}

date::local_seconds ceil_minute(date::local_seconds t) { return date::ceil<minutes>(t); }

class Matcher {
 public:
  explicit Matcher(const Schedule& schedule) : schedule_(schedule) {}

  // The days (bit d for day d) of a month on which the schedule fires.
  std::uint32_t day_mask(date::year y, date::month m) const {
    unsigned last = static_cast<unsigned>(date::year_month_day_last{y / m / date::last}.day());
    std::uint32_t valid = static_cast<std::uint32_t>((std::uint64_t{1} << (last + 1)) - 2);
    // Weekday pattern rotated so that bit k is the weekday of day k+1, then repeated over 5 weeks.
    unsigned first = date::weekday{date::local_days{y / m / 1}}.c_encoding();
    std::uint64_t week = schedule_.days_of_week;
    std::uint64_t rotated = ((week >> first) | (week << (7 - first))) & 0x7f;
    std::uint64_t weekdays = rotated | rotated << 7 | rotated << 14 | rotated << 21 | rotated << 28;
    std::uint32_t by_week = static_cast<std::uint32_t>(weekdays << 1) & valid;
    std::uint32_t by_month = schedule_.days_of_month & valid;
    // An unrestricted field has every bit set, so AND leaves the other field to decide.
    bool either = schedule_.day_of_month_restricted && schedule_.day_of_week_restricted;
    return either ? (by_month | by_week) : (by_month & by_week);
  }

  // The first matching wall-clock minute in [lo, hi); lo is a whole minute.
  std::optional<date::local_seconds> next_match(date::local_seconds lo, date::local_seconds hi) const {
    date::local_days day = date::floor<date::days>(lo);
    date::year_month_day ymd{day};
    date::year y = ymd.year();
    unsigned month = static_cast<unsigned>(ymd.month());
    unsigned d = static_cast<unsigned>(ymd.day());
    auto time_of_day = lo - day;
    unsigned hour = static_cast<unsigned>(date::floor<hours>(time_of_day).count());
    unsigned minute = static_cast<unsigned>(date::floor<minutes>(time_of_day - hours{hour}).count());
    std::uint32_t mask = 0;
    bool mask_valid = false;

    auto next_month = [&](unsigned after) {
      int m = next_bit(schedule_.months, after + 1);
      if (m < 0) {
        ++y;
        m = next_bit(schedule_.months, 1);
      }
      month = static_cast<unsigned>(m);
      d = 1;
      hour = 0;
      minute = 0;
      mask_valid = false;
    };

    while (true) {
      if (!(schedule_.months & (1u << month))) {
        next_month(month);
        continue;
      }
      if (date::local_days{y / date::month{month} / 1} >= hi) return std::nullopt;
      if (!mask_valid) {
        mask = day_mask(y, date::month{month});
        mask_valid = true;
      }
      int next_day = next_bit(mask, d);
      if (next_day < 0) {
        next_month(month);
        continue;
      }
      if (static_cast<unsigned>(next_day) != d) {
        d = static_cast<unsigned>(next_day);
        hour = 0;
        minute = 0;
      }
      date::local_days today{y / date::month{month} / date::day{d}};
      if (today >= hi) return std::nullopt;
      int next_hour = next_bit(schedule_.hours, hour);
      if (next_hour < 0) {
        ++d;
        hour = 0;
        minute = 0;
        continue;
      }
      if (static_cast<unsigned>(next_hour) != hour) {
        hour = static_cast<unsigned>(next_hour);
        minute = 0;
      }
      int next_minute = next_bit(schedule_.minutes, minute);
      if (next_minute < 0) {
        ++hour;
        minute = 0;
        continue;
      }
      date::local_seconds found = today + hours{hour} + minutes{next_minute};
      if (found >= hi) return std::nullopt;
      return found;
    }
  }

 private:
  const Schedule& schedule_;
};

}  // namespace

std::optional<date::sys_seconds> next_fire(const Schedule& schedule, const Zone& zone, Instant from) {
  if (!schedule.minutes || !schedule.hours || !schedule.months || !schedule.days_of_month ||
      !schedule.days_of_week) {
    return std::nullopt;  // not from parse(): an empty field never matches
  }
  const Matcher match(schedule);
  const bool fixed_time = !schedule.interval_like;
  // Fires are whole seconds: strictly after `from` is strictly after its whole second.
  const date::sys_seconds after = date::floor<seconds>(from);
  const date::sys_seconds limit = after + kSearchHorizon;

  date::sys_info stretch = zone.info(after);
  seconds previous_offset = zone.info(stretch.begin - seconds{1}).offset;
  while (true) {
    const seconds offset = stretch.offset;
    date::local_seconds lo = ceil_minute(to_local(after + seconds{1}, offset));
    // Fixed-time: wall times the previous stretch already showed (an overlap) have had their fire.
    seconds shown_from = fixed_time ? std::max(offset, previous_offset) : offset;
    lo = std::max(lo, ceil_minute(to_local(stretch.begin, shown_from)));
    date::local_seconds hi = to_local(std::min(stretch.end, limit), offset);
    if (lo < hi) {
      if (std::optional<date::local_seconds> wall = match.next_match(lo, hi)) {
        return date::sys_seconds{wall->time_since_epoch() - offset};
      }
    }
    if (stretch.end >= limit) return std::nullopt;

    previous_offset = offset;
    stretch = zone.info(stretch.end);
    if (fixed_time && stretch.offset > previous_offset) {
      // A gap: a match on a wall time that never happens fires once, when the gap ends.
      date::local_seconds gap_lo = ceil_minute(to_local(stretch.begin, previous_offset));
      date::local_seconds gap_hi = to_local(stretch.begin, stretch.offset);
      if (gap_lo < gap_hi && match.next_match(gap_lo, gap_hi)) return stretch.begin;
    }
  }
}

std::vector<date::sys_seconds> next_fires(const Schedule& schedule, const Zone& zone, Instant from,
                                          std::size_t count) {
  std::vector<date::sys_seconds> fires;
  fires.reserve(count);
  while (fires.size() < count) {
    std::optional<date::sys_seconds> fire = next_fire(schedule, zone, from);
    if (!fire) break;
    fires.push_back(*fire);
    from = Instant{*fire};
  }
  return fires;
}

std::chrono::seconds jitter_for(std::string_view deployment_id, std::chrono::seconds max_jitter) {
  if (max_jitter <= seconds{0}) return seconds{0};
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64-bit
  for (char c : deployment_id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  // splitmix64's finaliser: FNV-1a's low bits vary little between ids that differ in their last bytes.
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return seconds{static_cast<seconds::rep>(hash % static_cast<std::uint64_t>(max_jitter.count()))};
}

}  // namespace airlock::cron
