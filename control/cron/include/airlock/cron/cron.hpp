// airlock::cron — deployment schedules as docs/design/CRON.md defines them: parsing a 5-field cron
// expression, validating an IANA zone name, and finding the nominal fire instants after a given instant.
//
// Everything here is a function over values: no clock is read (callers pass `from`), nothing is logged,
// and the only files read are the system tz database (/usr/share/zoneinfo: the zone list in tzdata.zi and
// the zone's TZif file, through date/tz and find_zone). All functions are thread-safe.
//
// Semantics in one place (CRON.md is binding; the tests in src/*_test.cpp and testdata/ cover each rule):
//   - A day matches when day-of-month AND day-of-week match, except when both fields are restricted
//     (neither is the literal "*"): then either one is enough (the POSIX rule).
//   - A schedule is interval-like when its minute or hour field begins with '*', else fixed-time.
//   - A wall time that does not exist (DST gap): fixed-time fires once at the instant the gap ends;
//     interval-like does not fire. A wall time that happens twice (overlap): fixed-time fires at the first
//     occurrence only; interval-like fires at both. Fires landing on the same instant collapse into one.
//   - The search for one fire looks kSearchHorizon ahead and then gives up (std::nullopt), so it always
//     terminates; every expression that parse() accepts fires at least once in any 8 years.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <date/tz.h>

namespace airlock::cron {

// Instants as the API carries them: RFC 3339 allows fractional seconds, the store keeps microseconds.
using Instant = std::chrono::sys_time<std::chrono::microseconds>;

// Holds either a T or a message. Like std::expected: test with `if (result)`, read with `*result` or
// `result->`, and `error()` only when it holds no value.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  static Result failure(std::string message) { return Result(std::in_place_index<1>, std::move(message)); }

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const std::string& error() const& { return std::get<1>(state_); }

 private:
  template <std::size_t I, class U>
  Result(std::in_place_index_t<I> index, U&& content) : state_(index, std::forward<U>(content)) {}
  std::variant<T, std::string> state_;
};

// A parsed expression: one bit per allowed value of each field.
struct Schedule {
  std::uint64_t minutes = 0;        // bit m: minute m (0-59)
  std::uint32_t hours = 0;          // bit h: hour h (0-23)
  std::uint32_t days_of_month = 0;  // bit d: day d (1-31)
  std::uint16_t months = 0;         // bit m: month m (1-12)
  std::uint8_t days_of_week = 0;    // bit w: weekday w (0-6, Sunday = 0; a 7 in the expression sets bit 0)
  bool day_of_month_restricted = false;  // the field is not the literal "*"
  bool day_of_week_restricted = false;   // the field is not the literal "*"
  bool interval_like = false;            // the minute or the hour field begins with '*'

  friend bool operator==(const Schedule&, const Schedule&) = default;
};

// Parses a 5-field expression (CRON.md "Syntax"). On error, the message names the cron field and the
// problem, without the JSON path, which the caller prefixes: "minute field: 60 is out of range 0-59"
// becomes "schedule.expression: minute field: 60 is out of range 0-59" in a 400 body.
Result<Schedule> parse(std::string_view expression);

namespace detail {
class PosixTz;  // the TZif footer rule; see src/posix_tz.hpp
}

// A validated IANA zone. Its UTC offsets come from date/tz (the TZif file's explicit transitions) and,
// after the file's last transition, from the file's footer rule, because the date/tz OS reader ignores
// the footer and would put New York on standard time forever from November 2037 on. Cheap to copy.
class Zone {
 public:
  // The name as given and accepted ("US/Eastern" stays "US/Eastern").
  const std::string& name() const noexcept { return name_; }
  // The UTC offset (and the stretch of time it holds for) in force at t.
  date::sys_info info(date::sys_seconds t) const;

 private:
  friend Result<Zone> find_zone(std::string_view name);
  Zone(std::string name, const date::time_zone* tz, std::shared_ptr<const detail::PosixTz> tail,
       date::sys_seconds tail_from)
      : name_(std::move(name)), tz_(tz), tail_(std::move(tail)), tail_from_(tail_from) {}

  std::string name_;
  const date::time_zone* tz_;
  std::shared_ptr<const detail::PosixTz> tail_;  // null when the footer adds nothing (no DST after the data)
  date::sys_seconds tail_from_;                  // tail_ answers for instants at or after this one
};

// Validates a zone name (CRON.md "Time zone"): an exact, case-sensitive match against the Z and L lines
// of /usr/share/zoneinfo/tzdata.zi, Factory excluded; never a probe for a file, so "localtime",
// "posixrules", "right/UTC" and paths are refused. Reads the zone's TZif file: look a zone up once and
// keep the Zone. Error: `unknown time zone "Mars/Olympus"` (plus `; did you mean "America/New_York"?`
// when only the case differs); the caller prefixes "schedule.timezone: ".
Result<Zone> find_zone(std::string_view name);

// How far one search looks ahead before giving up. CRON.md asks for at least 8 years ("0 0 29 2 *"
// from 2096 next fires in 2104).
inline constexpr std::chrono::days kSearchHorizon{3660};  // about 10 years

// The first nominal fire strictly after `from`, or std::nullopt if there is none less than kSearchHorizon
// after it.
// Fires are whole seconds, so passing std::chrono::floor<std::chrono::microseconds>(system_clock::now())
// is exact.
std::optional<date::sys_seconds> next_fire(const Schedule& schedule, const Zone& zone, Instant from);

// The next `count` nominal fires strictly after `from`, each strictly after the one before (fires on the
// same instant collapse). Fewer than `count` only if a search runs past kSearchHorizon.
std::vector<date::sys_seconds> next_fires(const Schedule& schedule, const Zone& zone, Instant from,
                                          std::size_t count);

// "2027-03-14T07:00:00Z": RFC 3339 in UTC, whole seconds, as `upcoming_runs_at` lists them.
std::string format_rfc3339(date::sys_seconds t);

// Parses an RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS", optional fraction (digits past the sixth are
// truncated), then "Z" or "+HH:MM"/"-HH:MM"; 't' and 'z' may be lowercase. Leap seconds (":60") and
// anything else are refused with std::nullopt.
std::optional<Instant> parse_rfc3339(std::string_view text);

// The deployment's fixed jitter, in [0, max_jitter): a stable hash of its id (FNV-1a with a 64-bit
// finaliser, the same on every build and platform), so restarts do not move its fires. 0 when
// max_jitter <= 0 (scheduler.max_jitter_seconds: 0 turns jitter off).
std::chrono::seconds jitter_for(std::string_view deployment_id, std::chrono::seconds max_jitter);

// `airlock cron next --expr EXPR --tz ZONE [--from RFC3339] [--count N]` (CRON.md "Tooling"). `args` are
// the words after "cron next"; `now` is the default for --from. Writes only fire instants to `out`, one
// per line; returns 0 on success, 1 for an invalid expression or zone (the API's 400 message on `err`),
// 2 for a usage error (a message and the usage on `err`). --help prints the usage on `out` and returns 0.
int cron_next_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err,
                      Instant now);

}  // namespace airlock::cron
