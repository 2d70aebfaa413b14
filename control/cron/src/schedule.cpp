// Parsing of 5-field cron expressions into a Schedule (CRON.md "Syntax" and "Day matching").
//
// The expression is split on blanks (spaces and tabs) into exactly five fields; each field is a comma
// list of elements `*`, `*/S`, `N`, `A-B` or `A-B/S`, where values are unsigned decimals or, in the month
// and day-of-week fields only, 3-letter names. Everything else is refused with a message that names the
// field and the problem and, where it helps, the accepted form. The first problem found, left to right,
// is the one reported.
#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "airlock/cron/cron.hpp"

namespace airlock::cron {
namespace {

constexpr std::string_view kFieldList = "minute hour day-of-month month day-of-week";
constexpr std::string_view kAcceptedForms = "use *, */S, N, A-B or A-B/S, or a comma list of them";

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

enum class Names { none, months, weekdays };

struct FieldSpec {
  std::string_view name;  // as messages spell it: "day-of-month"
  unsigned min;
  unsigned max;
  Names names;
};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, Names::none},
    {"hour", 0, 23, Names::none},
    {"day-of-month", 1, 31, Names::none},
    {"month", 1, 12, Names::months},
    {"day-of-week", 0, 7, Names::weekdays},
}};

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<unsigned> name_index(std::string_view upper_name, Names names) {
  if (names == Names::months) {
    for (unsigned i = 0; i < kMonthNames.size(); ++i) {
      if (kMonthNames[i] == upper_name) return i + 1;
    }
  } else if (names == Names::weekdays) {
    for (unsigned i = 0; i < kWeekdayNames.size(); ++i) {
      if (kWeekdayNames[i] == upper_name) return i;
    }
  }
  return std::nullopt;
}

// Reads one field: a comma list of elements, each turned into a bit set over [min, max].
class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view text) : spec_(spec), text_(text) {}

  // Returns the set (bit v for value v), or sets error() and returns nullopt.
  std::optional<std::uint64_t> parse() {
    std::uint64_t bits = 0;
    std::size_t start = 0;
    while (true) {
      std::size_t comma = text_.find(',', start);
      std::string_view element = text_.substr(start, comma == std::string_view::npos ? text_.npos : comma - start);
      if (element.empty()) return fail(fmt::format("empty list element in \"{}\"", text_));
      std::optional<std::uint64_t> element_bits = parse_element(element);
      if (!element_bits) return std::nullopt;
      bits |= *element_bits;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return bits;
  }

  const std::string& error() const { return error_; }

 private:
  // A value as written plus where it stopped; `text` keeps the spelling for messages.
  struct Value {
    unsigned number;
    std::string_view text;
  };

  std::nullopt_t fail(std::string message) {
    error_ = fmt::format("{} field: {}", spec_.name, message);
    return std::nullopt;
  }

  unsigned span() const { return spec_.max - spec_.min + 1; }

  std::optional<std::uint64_t> parse_element(std::string_view element) {
    if (std::optional<std::string> unsupported = find_unsupported(element)) return fail(*unsupported);
    std::size_t pos = 0;
    unsigned low = spec_.min;
    unsigned high = spec_.max;
    bool ranged = false;
    std::optional<Value> first;
    if (element[0] == '*') {
      pos = 1;
      ranged = true;
    } else {
      first = read_value(element, pos);
      if (!first) return std::nullopt;
      low = high = first->number;
      if (pos < element.size() && element[pos] == '-') {
        ++pos;
        std::optional<Value> last = read_value(element, pos);
        if (!last) return std::nullopt;
        if (last->number < first->number) {
          return fail(fmt::format("range {}-{} is reversed; ranges do not wrap around, so write the low value first",
                                  first->text, last->text));
        }
        high = last->number;
        ranged = true;
      }
    }
    unsigned step = 1;
    if (pos < element.size() && element[pos] == '/') {
      ++pos;
      std::size_t digits_end = pos;
      while (digits_end < element.size() && is_digit(element[digits_end])) ++digits_end;
      std::string_view step_text = element.substr(pos, digits_end - pos);
      if (step_text.empty() || digits_end != element.size()) return malformed(element);
      std::optional<unsigned> parsed = to_number(step_text);
      if (!parsed || *parsed < 1 || *parsed > span()) {
        return fail(fmt::format("step {} is out of range 1-{}", step_text, span()));
      }
      if (!ranged) {
        // Suggest the range up to the field's end, spelled like the start: "JAN/2" -> "JAN-DEC/2".
        bool named = is_letter(first->text[0]) && spec_.names == Names::months;
        return fail(fmt::format("{} has a step but no range; write {}-{}/{} (or */{} for the whole field)", element,
                                first->text, named ? std::string("DEC") : std::to_string(spec_.max), step_text,
                                step_text));
      }
      step = *parsed;
      pos = digits_end;
    }
    if (pos != element.size()) return malformed(element);
    std::uint64_t bits = 0;
    for (unsigned v = low; v <= high; v += step) bits |= std::uint64_t{1} << v;
    return bits;
  }

  // Reads a decimal number or a name at element[pos], advancing pos past it.
  std::optional<Value> read_value(std::string_view element, std::size_t& pos) {
    std::size_t start = pos;
    if (pos < element.size() && is_digit(element[pos])) {
      while (pos < element.size() && is_digit(element[pos])) ++pos;
      std::string_view text = element.substr(start, pos - start);
      std::optional<unsigned> number = to_number(text);
      if (!number || *number < spec_.min || *number > spec_.max) {
        fail(fmt::format("{} is out of range {}-{}", text, spec_.min, spec_.max));
        return std::nullopt;
      }
      return Value{*number, text};
    }
    if (pos < element.size() && is_letter(element[pos])) {
      while (pos < element.size() && is_letter(element[pos])) ++pos;
      std::string_view text = element.substr(start, pos - start);
      std::string name = upper(text);
      if (std::optional<unsigned> index = name_index(name, spec_.names)) return Value{*index, text};
      if (spec_.names != Names::months && name_index(name, Names::months)) {
        fail(fmt::format("{} is a month name; only the month field takes month names", text));
      } else if (spec_.names != Names::weekdays && name_index(name, Names::weekdays)) {
        fail(fmt::format("{} is a day-of-week name; only the day-of-week field takes day names", text));
      } else if (spec_.names == Names::months) {
        fail(fmt::format("\"{}\" is not a month; use 1-12 or JAN-DEC", text));
      } else if (spec_.names == Names::weekdays) {
        fail(fmt::format("\"{}\" is not a day of the week; use 0-7 (0 and 7 are Sunday) or SUN-SAT", text));
      } else {
        malformed(element);
      }
      return std::nullopt;
    }
    malformed(element);
    return std::nullopt;
  }

  // Extensions of other cron dialects get a message of their own: L, W, LW (alone or after a number),
  // H (Jenkins' hash), and the characters # ? +. Month and weekday names that contain these letters
  // (JUL, WED, THU) are words, not extensions.
  std::optional<std::string> find_unsupported(std::string_view element) const {
    for (char c : element) {
      if (c == '#' || c == '?' || c == '+') return fmt::format("\"{}\" is not supported; {}", c, kAcceptedForms);
    }
    std::size_t pos = 0;
    while (pos < element.size()) {
      if (!is_letter(element[pos])) {
        ++pos;
        continue;
      }
      std::size_t start = pos;
      while (pos < element.size() && is_letter(element[pos])) ++pos;
      std::string word = upper(element.substr(start, pos - start));
      if (word == "L" || word == "W" || word == "LW" || word == "H") {
        return fmt::format("\"{}\" is not supported; {}", element.substr(start, pos - start), kAcceptedForms);
      }
    }
    return std::nullopt;
  }

  std::nullopt_t malformed(std::string_view element) {
    return fail(fmt::format("\"{}\" is malformed; {}", element, kAcceptedForms));
  }

  // Decimal digits to a number; nullopt past 6 digits of value (never in range of any field).
  static std::optional<unsigned> to_number(std::string_view digits) {
    unsigned value = 0;
    for (char c : digits) {
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 999999) return std::nullopt;
    }
    return value;
  }

  const FieldSpec& spec_;
  std::string_view text_;
  std::string error_;
};

unsigned days_in_month_max(unsigned month) {  // February counts 29: some year has it
  constexpr std::array<unsigned, 13> kDays = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[month];
}

}  // namespace

Result<Schedule> parse(std::string_view expression) {
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  while (pos < expression.size()) {
    while (pos < expression.size() && is_blank(expression[pos])) ++pos;
    if (pos == expression.size()) break;
    std::size_t start = pos;
    while (pos < expression.size() && !is_blank(expression[pos])) ++pos;
    fields.push_back(expression.substr(start, pos - start));
  }

  if (!fields.empty() && fields[0].starts_with('@')) {
    return Result<Schedule>::failure(fmt::format(
        "\"{}\" is not supported; write the 5 fields ({}), e.g. \"0 0 * * *\" for every day at midnight", fields[0],
        kFieldList));
  }
  if (!fields.empty() && (fields[0].starts_with("CRON_TZ=") || fields[0].starts_with("TZ="))) {
    return Result<Schedule>::failure(
        fmt::format("\"{}\" prefixes are not supported; set schedule.timezone instead",
                    fields[0].substr(0, fields[0].find('=') + 1)));
  }
  if (fields.size() != kFields.size()) {
    std::string message = fmt::format("expected 5 fields ({}), got {}", kFieldList, fields.size());
    if (fields.size() > kFields.size()) message += "; seconds and year fields are not supported";
    return Result<Schedule>::failure(std::move(message));
  }

  std::array<std::uint64_t, 5> bits{};
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    FieldParser parser(kFields[i], fields[i]);
    std::optional<std::uint64_t> field_bits = parser.parse();
    if (!field_bits) return Result<Schedule>::failure(parser.error());
    bits[i] = *field_bits;
  }

  Schedule schedule;
  schedule.minutes = bits[0];
  schedule.hours = static_cast<std::uint32_t>(bits[1]);
  schedule.days_of_month = static_cast<std::uint32_t>(bits[2]);
  schedule.months = static_cast<std::uint16_t>(bits[3]);
  std::uint64_t weekdays = bits[4];
  if (weekdays & (std::uint64_t{1} << 7)) weekdays = (weekdays | 1) & 0x7f;  // 7 is Sunday, as 0 is
  schedule.days_of_week = static_cast<std::uint8_t>(weekdays);
  schedule.day_of_month_restricted = fields[2] != "*";
  schedule.day_of_week_restricted = fields[4] != "*";
  schedule.interval_like = fields[0].starts_with('*') || fields[1].starts_with('*');

  // A day-of-week "*" leaves the days of the month alone in deciding the day, so a set of days none of
  // which exists in any selected month never fires (February counts 29 days: leap years have them).
  if (!schedule.day_of_week_restricted) {
    bool some_day_exists = false;
    for (unsigned month = 1; month <= 12 && !some_day_exists; ++month) {
      if (!(schedule.months & (1u << month))) continue;
      std::uint32_t existing = static_cast<std::uint32_t>((std::uint64_t{1} << (days_in_month_max(month) + 1)) - 2);
      some_day_exists = (schedule.days_of_month & existing) != 0;
    }
    if (!some_day_exists) {
      bool several_days = std::popcount(schedule.days_of_month) > 1;
      bool several_months = std::popcount(schedule.months) > 1;
      return Result<Schedule>::failure(fmt::format(
          "day-of-month field: {} {} {} not exist in {} {}, so the schedule never fires", several_days ? "days" : "day",
          fields[2], several_days ? "do" : "does", several_months ? "months" : "month", fields[3]));
    }
  }
  return schedule;
}

}  // namespace airlock::cron
