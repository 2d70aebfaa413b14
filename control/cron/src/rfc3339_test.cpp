// Tests of parse_rfc3339 (testdata/rfc3339.txt) and format_rfc3339.
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "airlock/cron/cron.hpp"
#include "test_support.hpp"

namespace airlock::cron {
namespace {

TEST_CASE("parse_rfc3339 reads the timestamps in rfc3339.txt and refuses the others") {
  for (const testing::Row& row : testing::read_table("rfc3339.txt", 2)) {
    INFO("rfc3339.txt:" << row.line << ": \"" << row.columns[0] << "\"");
    std::optional<Instant> parsed = parse_rfc3339(row.columns[0]);
    if (row.columns[1] == "invalid") {
      CHECK_FALSE(parsed.has_value());
    } else {
      REQUIRE(parsed.has_value());
      CHECK(date::format("%FT%TZ", *parsed) == row.columns[1]);
    }
  }
}

TEST_CASE("format_rfc3339 writes UTC with whole seconds and a Z") {
  CHECK(format_rfc3339(date::sys_days{date::year{2027} / 3 / 14} + std::chrono::hours{7}) == "2027-03-14T07:00:00Z");
  CHECK(format_rfc3339(date::sys_seconds{}) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(date::sys_days{date::year{2104} / 2 / 29} + std::chrono::seconds{59}) ==
        "2104-02-29T00:00:59Z");
}

TEST_CASE("format_rfc3339 and parse_rfc3339 round-trip") {
  date::sys_seconds t = date::sys_days{date::year{2040} / 7 / 1} + std::chrono::hours{13} + std::chrono::minutes{5};
  std::optional<Instant> back = parse_rfc3339(format_rfc3339(t));
  REQUIRE(back.has_value());
  CHECK(*back == Instant{t});
}

}  // namespace
}  // namespace airlock::cron
