// Tests of cron_next_command, the body of `airlock cron next` (CRON.md "Tooling"): stdout holds only the
// instants, errors go to stderr, and the exit status tells success (0), a bad expression or zone (1) and
// a usage error (2) apart.
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/cron/cron.hpp"

namespace airlock::cron {
namespace {

constexpr std::string_view kUsageLine = "usage: airlock cron next --expr EXPR --tz ZONE [--from RFC3339] [--count N]\n";

struct Run {
  int status;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string_view> args, std::string_view now = "2027-01-01T00:00:00Z") {
  std::ostringstream out, err;
  int status = cron_next_command(args, out, err, *parse_rfc3339(now));
  return {status, out.str(), err.str()};
}

TEST_CASE("cron next prints the next N fires, one per line, and nothing else") {
  Run r = run({"--expr", "30 2 * * *", "--tz", "America/New_York", "--from", "2027-03-13T00:00:00Z", "--count", "3"});
  CHECK(r.status == 0);
  CHECK(r.out == "2027-03-13T07:30:00Z\n2027-03-14T07:00:00Z\n2027-03-15T06:30:00Z\n");
  CHECK(r.err == "");
}

TEST_CASE("cron next defaults to 5 fires after now") {
  Run r = run({"--tz", "UTC", "--expr", "0 0 * * *"}, "2027-01-01T00:00:00Z");
  CHECK(r.status == 0);
  CHECK(r.out ==
        "2027-01-02T00:00:00Z\n2027-01-03T00:00:00Z\n2027-01-04T00:00:00Z\n2027-01-05T00:00:00Z\n"
        "2027-01-06T00:00:00Z\n");
  CHECK(r.err == "");
}

TEST_CASE("cron next takes --flag=value, fractional seconds and offsets in --from") {
  Run r = run({"--expr=0 * * * *", "--tz=Asia/Kathmandu", "--from=2027-01-01T05:44:59.5+05:45", "--count=2"});
  CHECK(r.status == 0);
  CHECK(r.out == "2027-01-01T00:15:00Z\n2027-01-01T01:15:00Z\n");
}

TEST_CASE("cron next reports an invalid expression or zone as the API does, with status 1") {
  Run bad_expression = run({"--expr", "60 * * * *", "--tz", "UTC"});
  CHECK(bad_expression.status == 1);
  CHECK(bad_expression.out == "");
  CHECK(bad_expression.err == "schedule.expression: minute field: 60 is out of range 0-59\n");

  Run bad_zone = run({"--expr", "0 * * * *", "--tz", "Mars/Olympus"});
  CHECK(bad_zone.status == 1);
  CHECK(bad_zone.out == "");
  CHECK(bad_zone.err == "schedule.timezone: unknown time zone \"Mars/Olympus\"\n");

  Run macro = run({"--expr", "@daily", "--tz", "localtime"});  // the expression is checked first
  CHECK(macro.status == 1);
  CHECK(macro.err.starts_with("schedule.expression: \"@daily\" is not supported"));
}

TEST_CASE("cron next refuses usage errors with status 2, the problem and the usage on stderr") {
  struct Case {
    std::vector<std::string_view> args;
    std::string_view problem;
  };
  const Case cases[] = {
      {{}, "--expr is required"},
      {{"--tz", "UTC"}, "--expr is required"},
      {{"--expr", "0 * * * *"}, "--tz is required"},
      {{"--expr", "0 * * * *", "--tz"}, "--tz needs a value"},
      {{"--expr", "0 * * * *", "--tz", "UTC", "--verbose"}, "unknown argument \"--verbose\""},
      {{"--expr", "0 * * * *", "--tz", "UTC", "extra"}, "unknown argument \"extra\""},
      {{"--expr", "0 * * * *", "--expr", "1 * * * *", "--tz", "UTC"}, "--expr given twice"},
      {{"--expr", "0 * * * *", "--tz", "UTC", "--from", "yesterday"},
       "--from \"yesterday\" is not an RFC 3339 timestamp; use e.g. 2027-03-14T00:00:00Z"},
      {{"--expr", "0 * * * *", "--tz", "UTC", "--count", "0"}, "--count \"0\" must be a whole number from 1 to 10000"},
      {{"--expr", "0 * * * *", "--tz", "UTC", "--count", "-1"}, "--count \"-1\" must be a whole number from 1 to 10000"},
      {{"--expr", "0 * * * *", "--tz", "UTC", "--count", "5x"}, "--count \"5x\" must be a whole number from 1 to 10000"},
      {{"--expr", "0 * * * *", "--tz", "UTC", "--count", "10001"},
       "--count \"10001\" must be a whole number from 1 to 10000"},
      // A usage error wins over an invalid expression: nothing is evaluated.
      {{"--expr", "60 * * * *", "--tz", "UTC", "--count", "0"}, "--count \"0\" must be a whole number from 1 to 10000"},
  };
  for (const Case& c : cases) {
    INFO(c.problem);
    Run r = run(c.args);
    CHECK(r.status == 2);
    CHECK(r.out == "");
    CHECK(r.err.starts_with("airlock cron next: " + std::string(c.problem) + "\n" + std::string(kUsageLine)));
  }
}

TEST_CASE("cron next --help prints the usage on stdout") {
  Run r = run({"--help"});
  CHECK(r.status == 0);
  CHECK(r.out.starts_with(kUsageLine));
  CHECK(r.err == "");
}

}  // namespace
}  // namespace airlock::cron
