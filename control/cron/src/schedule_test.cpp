// Tests of cron::parse: the tables testdata/parse_errors.txt (every refusal and its exact message) and
// testdata/parse_ok.txt (accepted expressions and the sets they stand for), plus the flags that steer
// day matching and DST handling.
#include <cstdint>
#include <string>

#include <doctest/doctest.h>

#include "airlock/cron/cron.hpp"
#include "test_support.hpp"

namespace airlock::cron {
namespace {

// "0-5,10,12-13": the set bits in [low, high] as runs.
std::string runs(std::uint64_t bits, unsigned low, unsigned high) {
  std::string out;
  for (unsigned v = low; v <= high; ++v) {
    if (!(bits >> v & 1)) continue;
    unsigned end = v;
    while (end + 1 <= high && (bits >> (end + 1) & 1)) ++end;
    if (!out.empty()) out += ',';
    out += std::to_string(v);
    if (end == v + 1) {
      out += ',' + std::to_string(end);
    } else if (end > v + 1) {
      out += '-' + std::to_string(end);
    }
    v = end;
  }
  return out;
}

std::string describe(const Schedule& s) {
  return "m=" + runs(s.minutes, 0, 59) + " h=" + runs(s.hours, 0, 23) +
         " dom=" + (s.day_of_month_restricted ? runs(s.days_of_month, 1, 31) : std::string("*")) +
         " mon=" + runs(s.months, 1, 12) +
         " dow=" + (s.day_of_week_restricted ? runs(s.days_of_week, 0, 6) : std::string("*")) +
         (s.interval_like ? " interval" : " fixed");
}

TEST_CASE("parse refuses each malformed expression with the message in parse_errors.txt") {
  for (const testing::Row& row : testing::read_table("parse_errors.txt", 2)) {
    const std::string& expression = row.columns[0];
    INFO("parse_errors.txt:" << row.line << ": \"" << expression << "\"");
    Result<Schedule> result = parse(expression);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error() == row.columns[1]);
  }
}

TEST_CASE("parse accepts each expression in parse_ok.txt with the sets it lists") {
  for (const testing::Row& row : testing::read_table("parse_ok.txt", 2)) {
    const std::string& expression = row.columns[0];
    INFO("parse_ok.txt:" << row.line << ": \"" << expression << "\"");
    Result<Schedule> result = parse(expression);
    REQUIRE_MESSAGE(result.has_value(), (result.has_value() ? std::string() : result.error()));
    CHECK(describe(*result) == row.columns[1]);
  }
}

TEST_CASE("an unrestricted field has every bit of its range set") {
  Result<Schedule> result = parse("* * * * *");
  REQUIRE(result.has_value());
  CHECK(result->minutes == (std::uint64_t{1} << 60) - 1);
  CHECK(result->hours == (1u << 24) - 1);
  CHECK(result->days_of_month == 0xfffffffeu);  // days 1-31
  CHECK(result->months == 0x1ffe);              // months 1-12
  CHECK(result->days_of_week == 0x7f);          // Sunday-Saturday
  CHECK_FALSE(result->day_of_month_restricted);
  CHECK_FALSE(result->day_of_week_restricted);
  CHECK(result->interval_like);
}

TEST_CASE("0, 7 and SUN give the same schedule") {
  Result<Schedule> zero = parse("0 0 * * 0");
  Result<Schedule> seven = parse("0 0 * * 7");
  Result<Schedule> name = parse("0 0 * * sun");
  REQUIRE((zero && seven && name));
  CHECK(*zero == *seven);
  CHECK(*zero == *name);
  CHECK(zero->days_of_week == 1);
}

TEST_CASE("only the literal * leaves a day field unrestricted") {
  for (const char* expression : {"0 0 */1 * *", "0 0 1-31 * *", "0 0 *,1 * *"}) {
    INFO(expression);
    Result<Schedule> result = parse(expression);
    REQUIRE(result.has_value());
    CHECK(result->day_of_month_restricted);
    CHECK_FALSE(result->day_of_week_restricted);
  }
  Result<Schedule> week = parse("0 0 * * 0-7");
  REQUIRE(week.has_value());
  CHECK(week->day_of_week_restricted);
  CHECK_FALSE(week->day_of_month_restricted);
}

TEST_CASE("a schedule is interval-like exactly when its minute or hour field begins with *") {
  struct Case {
    const char* expression;
    bool interval_like;
  };
  for (Case c : {Case{"*/15 * * * *", true}, Case{"0 * * * *", true}, Case{"*/20 2 * * *", true},
                 Case{"0 */2 * * *", true}, Case{"30 2 * * *", false}, Case{"0 9,17 * * 1-5", false},
                 Case{"0 1-3 * * *", false}, Case{"0-59 0-23 * * *", false}, Case{"5,*/30 1 * * *", false}}) {
    INFO(c.expression);
    Result<Schedule> result = parse(c.expression);
    REQUIRE(result.has_value());
    CHECK(result->interval_like == c.interval_like);
  }
}

}  // namespace
}  // namespace airlock::cron
