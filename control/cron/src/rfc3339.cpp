// RFC 3339 timestamps: the UTC form `upcoming_runs_at` and `airlock cron next` print, and a strict parser
// for what clients send (offsets and fractional seconds allowed, nothing lenient beyond RFC 3339's own
// lowercase 't' and 'z').
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "airlock/cron/cron.hpp"

namespace airlock::cron {
namespace {

// Exactly `width` decimal digits at text[pos].
std::optional<int> digits(std::string_view text, std::size_t pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

bool char_at(std::string_view text, std::size_t pos, char c) { return pos < text.size() && text[pos] == c; }

}  // namespace

std::string format_rfc3339(date::sys_seconds t) { return date::format("%FT%TZ", t); }

std::optional<Instant> parse_rfc3339(std::string_view text) {
  // 2026-03-18T10:00:00[.ffffff](Z|+hh:mm|-hh:mm)
  std::optional<int> year = digits(text, 0, 4);
  std::optional<int> month = digits(text, 5, 2);
  std::optional<int> day = digits(text, 8, 2);
  std::optional<int> hour = digits(text, 11, 2);
  std::optional<int> minute = digits(text, 14, 2);
  std::optional<int> second = digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (!char_at(text, 4, '-') || !char_at(text, 7, '-') || !(char_at(text, 10, 'T') || char_at(text, 10, 't')) ||
      !char_at(text, 13, ':') || !char_at(text, 16, ':')) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{*year}, date::month{static_cast<unsigned>(*month)},
                           date::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;

  std::size_t pos = 19;
  std::chrono::microseconds fraction{0};
  if (char_at(text, pos, '.')) {
    ++pos;
    std::size_t start = pos;
    std::int64_t micros = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 6) micros = micros * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (std::size_t n = pos - start; n < 6; ++n) micros *= 10;
    fraction = std::chrono::microseconds{micros};
  }

  std::chrono::minutes offset{0};
  if (char_at(text, pos, 'Z') || char_at(text, pos, 'z')) {
    ++pos;
  } else if (char_at(text, pos, '+') || char_at(text, pos, '-')) {
    bool negative = text[pos] == '-';
    std::optional<int> offset_hours = digits(text, pos + 1, 2);
    std::optional<int> offset_minutes = digits(text, pos + 4, 2);
    if (!offset_hours || !char_at(text, pos + 3, ':') || !offset_minutes || *offset_hours > 23 ||
        *offset_minutes > 59) {
      return std::nullopt;
    }
    offset = std::chrono::hours{*offset_hours} + std::chrono::minutes{*offset_minutes};
    if (negative) offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  return Instant{date::sys_days{ymd}} + std::chrono::hours{*hour} + std::chrono::minutes{*minute} +
         std::chrono::seconds{*second} + fraction - offset;
}

}  // namespace airlock::cron
