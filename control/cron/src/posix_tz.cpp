// PosixTz: parsing and evaluating a TZif footer rule (see posix_tz.hpp for why).
//
// info(t) builds the daylight-time changes of the years around t's year (a change can move into the
// neighbouring year: "M10.5.0/-1", southern-hemisphere rules, offsets of +-14h) and picks the last change
// at or before t; that also yields the stretch's begin and end. The calendar arithmetic is date's.
#include "posix_tz.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace airlock::cron::detail {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  bool next_is(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool take(char c) {
    if (!next_is(c)) return false;
    ++pos_;
    return true;
  }

  // std or dst designation: 3+ letters, or <...> of letters, digits, '+' and '-'.
  std::optional<std::string> name() {
    std::size_t start = pos_;
    if (take('<')) {
      while (pos_ < text_.size() && text_[pos_] != '>') {
        char c = text_[pos_];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-';
        if (!ok) return std::nullopt;
        ++pos_;
      }
      if (!take('>') || pos_ - start < 5) return std::nullopt;  // "<" + at least 3 + ">"
      return std::string(text_.substr(start + 1, pos_ - start - 2));
    }
    while (pos_ < text_.size() && ((text_[pos_] >= 'A' && text_[pos_] <= 'Z') || (text_[pos_] >= 'a' && text_[pos_] <= 'z'))) {
      ++pos_;
    }
    if (pos_ - start < 3) return std::nullopt;
    return std::string(text_.substr(start, pos_ - start));
  }

  std::optional<unsigned> number(unsigned max_digits) {
    std::size_t start = pos_;
    unsigned value = 0;
    while (pos_ < text_.size() && pos_ - start < max_digits && text_[pos_] >= '0' && text_[pos_] <= '9') {
      value = value * 10 + static_cast<unsigned>(text_[pos_] - '0');
      ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    return value;
  }

  // [+-]h[h[h]][:mm[:ss]] with hours up to max_hours.
  std::optional<seconds> signed_time(unsigned max_hours) {
    bool negative = false;
    if (take('-')) {
      negative = true;
    } else {
      take('+');
    }
    std::optional<unsigned> h = number(3);
    if (!h || *h > max_hours) return std::nullopt;
    seconds value = hours{*h};
    if (take(':')) {
      std::optional<unsigned> m = number(2);
      if (!m || *m > 59) return std::nullopt;
      value += minutes{*m};
      if (take(':')) {
        std::optional<unsigned> s = number(2);
        if (!s || *s > 59) return std::nullopt;
        value += seconds{*s};
      }
    }
    return negative ? -value : value;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<PosixTz> PosixTz::parse(std::string_view spec) {
  Reader in(spec);
  PosixTz tz;
  std::optional<std::string> std_name = in.name();
  if (!std_name) return std::nullopt;
  tz.std_abbrev_ = std::move(*std_name);
  std::optional<seconds> std_offset = in.signed_time(24);
  if (!std_offset) return std::nullopt;
  tz.std_offset_ = -*std_offset;
  if (in.done()) return tz;

  std::optional<std::string> dst_name = in.name();
  if (!dst_name) return std::nullopt;
  tz.dst_abbrev_ = std::move(*dst_name);
  tz.dst_offset_ = tz.std_offset_ + hours{1};
  if (!in.next_is(',')) {
    std::optional<seconds> dst_offset = in.signed_time(24);
    if (!dst_offset) return std::nullopt;
    tz.dst_offset_ = -*dst_offset;
  }
  for (Rule* rule : {&tz.start_, &tz.end_}) {
    if (!in.take(',')) return std::nullopt;
    if (in.take('M')) {
      std::optional<unsigned> month = in.number(2);
      if (!month || *month < 1 || *month > 12 || !in.take('.')) return std::nullopt;
      std::optional<unsigned> week = in.number(1);
      if (!week || *week < 1 || *week > 5 || !in.take('.')) return std::nullopt;
      std::optional<unsigned> weekday = in.number(1);
      if (!weekday || *weekday > 6) return std::nullopt;
      rule->kind = Rule::Kind::month_week_day;
      rule->month = *month;
      rule->week = *week;
      rule->weekday = *weekday;
    } else if (in.take('J')) {
      std::optional<unsigned> day = in.number(3);
      if (!day || *day < 1 || *day > 365) return std::nullopt;
      rule->kind = Rule::Kind::julian_no_leap;
      rule->day = *day;
    } else {
      std::optional<unsigned> day = in.number(3);
      if (!day || *day > 365) return std::nullopt;
      rule->kind = Rule::Kind::julian_zero;
      rule->day = *day;
    }
    if (in.take('/')) {
      std::optional<seconds> time = in.signed_time(167);
      if (!time) return std::nullopt;
      rule->time = *time;
    }
  }
  if (!in.done()) return std::nullopt;
  tz.has_dst_ = true;
  return tz;
}

date::local_seconds PosixTz::Rule::at(date::year y) const {
  date::local_days date_of_change;
  switch (kind) {
    case Kind::julian_no_leap:  // J60 is March 1 in every year
      date_of_change = date::local_days{y / date::January / 1} +
                       date::days{static_cast<int>(day) - 1 + ((y.is_leap() && day >= 60) ? 1 : 0)};
      break;
    case Kind::julian_zero:
      date_of_change = date::local_days{y / date::January / 1} + date::days{static_cast<int>(day)};
      break;
    case Kind::month_week_day: {
      date::month m{month};
      date::weekday wd{weekday};
      date_of_change = week == 5 ? date::local_days{y / m / wd[date::last]} : date::local_days{y / m / wd[week]};
      break;
    }
  }
  return date_of_change + time;
}

date::sys_seconds PosixTz::dst_start(date::year y) const {
  return date::sys_seconds{(start_.at(y) - std_offset_).time_since_epoch()};
}

date::sys_seconds PosixTz::dst_end(date::year y) const {
  return date::sys_seconds{(end_.at(y) - dst_offset_).time_since_epoch()};
}

date::sys_info PosixTz::info(date::sys_seconds t) const {
  date::sys_info result{};
  if (!has_dst_) {
    result.begin = date::sys_days{date::year::min() / date::January / 1};
    result.end = date::sys_days{date::year::max() / date::December / 31};
    result.offset = std_offset_;
    result.abbrev = std_abbrev_;
    return result;
  }
  struct Change {
    date::sys_seconds at;
    bool to_dst;
  };
  std::array<Change, 8> changes{};
  date::year y = date::year_month_day{date::floor<date::days>(t)}.year();
  std::size_t n = 0;
  for (date::year year = y - date::years{2}; year <= y + date::years{1}; ++year) {
    changes[n++] = {dst_start(year), true};
    changes[n++] = {dst_end(year), false};
  }
  // Ends before starts at the same instant: a zone on daylight time all year (RFC 8536 3.3.1) ends one
  // year's daylight time exactly when the next year's begins, and daylight time must win.
  std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    return a.at != b.at ? a.at < b.at : (!a.to_dst && b.to_dst);
  });
  std::size_t last = n;  // the last change at or before t
  for (std::size_t i = 0; i < n; ++i) {
    if (changes[i].at <= t) last = i;
  }
  bool dst = last == n ? !changes[0].to_dst : changes[last].to_dst;
  result.begin = last == n ? date::sys_days{date::year::min() / date::January / 1} : changes[last].at;
  result.end = date::sys_days{date::year::max() / date::December / 31};
  for (std::size_t i = (last == n ? 0 : last + 1); i < n; ++i) {
    if (changes[i].to_dst != dst) {
      result.end = changes[i].at;
      break;
    }
  }
  result.offset = dst ? dst_offset_ : std_offset_;
  result.save = dst ? date::ceil<minutes>(dst_offset_ - std_offset_) : minutes{0};
  result.abbrev = dst ? dst_abbrev_ : std_abbrev_;
  return result;
}

}  // namespace airlock::cron::detail
