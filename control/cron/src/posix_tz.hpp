// The rule in a TZif file's footer (RFC 8536 section 3.3): a POSIX TZ string such as
// "EST5EDT,M3.2.0,M11.1.0" that gives a zone's offsets after the file's last explicit transition.
//
// Why it exists: the date/tz OS reader (USE_OS_TZDB) uses only the explicit transitions, which Debian's
// files list up to 2037, so from then on it reports the last offset forever (New York on EST in July
// 2040). Zone uses this rule for instants after the last transition. date's own Posix::time_zone (ptz.h)
// cannot stand in: it refuses the RFC 8536 extensions that real footers use (America/Nuuk's
// "<-02>2<-01>,M3.5.0/-1,M10.5.0/0" has a negative transition time), and it defines a non-inline function
// in a header.
//
// Accepted: std and dst names (alphabetic, 3+ letters, or <...>), offsets [+-]hh[:mm[:ss]] (hours 0-24),
// rules Jn (1-365, no Feb 29), n (0-365) and Mm.w.d, each with an optional /time of -167 to 167 hours.
// A dst name without rules is refused (its meaning is implementation-defined).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <date/tz.h>

namespace airlock::cron::detail {

class PosixTz {
 public:
  static std::optional<PosixTz> parse(std::string_view spec);

  // The offset in force at t and the stretch [begin, end) of UTC time it holds for.
  date::sys_info info(date::sys_seconds t) const;

  bool has_dst() const noexcept { return has_dst_; }

 private:
  struct Rule {
    enum class Kind { julian_no_leap, julian_zero, month_week_day } kind = Kind::month_week_day;
    unsigned day = 0;  // Jn: 1-365; n: 0-365
    unsigned month = 0, week = 0, weekday = 0;
    std::chrono::seconds time{7200};  // local time of day of the change, may be negative or past 24h
    date::local_seconds at(date::year y) const;
  };

  date::sys_seconds dst_start(date::year y) const;  // UTC instant, rule in standard time
  date::sys_seconds dst_end(date::year y) const;    // UTC instant, rule in daylight time

  std::string std_abbrev_;
  std::string dst_abbrev_;
  std::chrono::seconds std_offset_{0};  // UTC offset, east of Greenwich positive (POSIX writes it negated)
  std::chrono::seconds dst_offset_{0};
  bool has_dst_ = false;
  Rule start_;
  Rule end_;
};

}  // namespace airlock::cron::detail
