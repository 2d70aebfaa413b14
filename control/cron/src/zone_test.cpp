// Tests of find_zone and Zone::info: the name tables (testdata/zones.txt), every name the tz database
// lists, offsets after 2037 (testdata/zone_offsets.txt), and the footer rule (PosixTz) against the
// explicit transitions zic wrote up to 2037 for every zone that observes DST.
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/cron/cron.hpp"
#include "posix_tz.hpp"
#include "test_support.hpp"

namespace airlock::cron {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// "+05:45" / "-04:00"
std::string offset_text(seconds offset) {
  char sign = offset < seconds{0} ? '-' : '+';
  auto magnitude = offset < seconds{0} ? -offset : offset;
  auto h = std::chrono::duration_cast<hours>(magnitude).count();
  auto m = std::chrono::duration_cast<minutes>(magnitude % hours{1}).count();
  std::string out(1, sign);
  out += (h < 10 ? "0" : "") + std::to_string(h) + ":" + (m < 10 ? "0" : "") + std::to_string(m);
  return out;
}

date::sys_seconds instant(const std::string& text) {
  std::optional<Instant> parsed = parse_rfc3339(text);
  REQUIRE_MESSAGE(parsed.has_value(), text);
  return date::floor<seconds>(*parsed);
}

// The Z and L names of tzdata.zi, read independently of the code under test.
std::vector<std::string> listed_zone_names() {
  std::vector<std::string> names;
  std::ifstream in("/usr/share/zoneinfo/tzdata.zi");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> w = testing::words(line);
    if (w.size() >= 2 && w[0] == "Z" && w[1] != "Factory") names.push_back(w[1]);
    if (w.size() >= 3 && w[0] == "L") names.push_back(w[2]);
  }
  return names;
}

std::string footer_of(const std::string& zone) {
  std::ifstream in("/usr/share/zoneinfo/" + zone, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 2 || bytes.back() != '\n') return {};
  std::size_t start = bytes.rfind('\n', bytes.size() - 2);
  return start == std::string::npos ? std::string() : bytes.substr(start + 1, bytes.size() - start - 2);
}

TEST_CASE("find_zone accepts and refuses the names in zones.txt") {
  for (const testing::Row& row : testing::read_table("zones.txt", 2)) {
    const std::string& name = row.columns[0];
    INFO("zones.txt:" << row.line << ": \"" << name << "\"");
    Result<Zone> zone = find_zone(name);
    if (row.columns[1] == "ok") {
      REQUIRE_MESSAGE(zone.has_value(), (zone.has_value() ? std::string() : zone.error()));
      CHECK(zone->name() == name);
    } else {
      REQUIRE_FALSE(zone.has_value());
      CHECK(zone.error() == row.columns[1]);
    }
  }
}

TEST_CASE("find_zone accepts every zone and link that tzdata.zi lists") {
  std::vector<std::string> names = listed_zone_names();
  REQUIRE(names.size() > 500);  // 2025b lists about 600
  for (const std::string& name : names) {
    INFO(name);
    Result<Zone> zone = find_zone(name);
    CHECK_MESSAGE(zone.has_value(), (zone.has_value() ? std::string() : zone.error()));
  }
}

TEST_CASE("Zone::info gives the offsets in zone_offsets.txt, including after 2037") {
  for (const testing::Row& row : testing::read_table("zone_offsets.txt", 4)) {
    INFO("zone_offsets.txt:" << row.line);
    Result<Zone> zone = find_zone(row.columns[0]);
    REQUIRE(zone.has_value());
    date::sys_seconds at = instant(row.columns[1]);
    date::sys_info info = zone->info(at);
    CHECK(offset_text(info.offset) == row.columns[2]);
    CHECK(info.abbrev == row.columns[3]);
    CHECK(info.begin <= at);
    CHECK(at < info.end);
  }
}

TEST_CASE("Zone::info stretches chain without holes after 2037") {
  Result<Zone> zone = find_zone("America/New_York");
  REQUIRE(zone.has_value());
  date::sys_info stretch = zone->info(instant("2036-01-01T00:00:00Z"));
  std::vector<std::string> changes;
  while (stretch.end < instant("2041-01-01T00:00:00Z")) {
    date::sys_info next = zone->info(stretch.end);
    CHECK(next.begin == stretch.end);
    changes.push_back(format_rfc3339(next.begin) + " " + offset_text(next.offset));
    stretch = next;
  }
  // The 2037 changes come from the file; 2038 on from the footer (second Sunday of March, first of November).
  CHECK(changes == std::vector<std::string>{
                       "2036-03-09T07:00:00Z -04:00", "2036-11-02T06:00:00Z -05:00", "2037-03-08T07:00:00Z -04:00",
                       "2037-11-01T06:00:00Z -05:00", "2038-03-14T07:00:00Z -04:00", "2038-11-07T06:00:00Z -05:00",
                       "2039-03-13T07:00:00Z -04:00", "2039-11-06T06:00:00Z -05:00", "2040-03-11T07:00:00Z -04:00",
                       "2040-11-04T06:00:00Z -05:00"});
}

// zic writes the explicit transitions of a footer rule up to 2037. Where a zone's data end in 2037, its
// footer evaluated by PosixTz must reproduce every offset date/tz reads from 2031 to 2037.
TEST_CASE("the footer rule reproduces the file's own transitions for 2031-2037 in every DST zone") {
  int zones_checked = 0;
  for (const std::string& name : listed_zone_names()) {
    INFO(name);
    std::optional<detail::PosixTz> rule = detail::PosixTz::parse(footer_of(name));
    REQUIRE_MESSAGE(rule.has_value(), "footer \"" << footer_of(name) << "\" does not parse");
    if (!rule->has_dst()) continue;
    const date::time_zone* tz = date::locate_zone(name);
    date::sys_info last = tz->get_info(date::sys_days{date::year{2100} / 1 / 1});
    if (date::year_month_day{date::floor<date::days>(last.begin)}.year() != date::year{2037}) continue;
    ++zones_checked;
    date::sys_info stretch = tz->get_info(date::sys_days{date::year{2031} / 1 / 1});
    while (stretch.begin < last.begin) {
      CHECK(rule->info(stretch.begin).offset == stretch.offset);
      CHECK(rule->info(stretch.end - seconds{1}).offset == stretch.offset);
      stretch = tz->get_info(stretch.end);
    }
  }
  CHECK(zones_checked > 100);
}

TEST_CASE("PosixTz accepts the RFC 8536 footer forms and refuses malformed ones") {
  for (const char* spec : {"UTC0", "<+0545>-5:45", "EST5EDT,M3.2.0,M11.1.0", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
                           "EET-2EEST,M3.4.4/50,M10.4.4/50", "IST-1GMT0,M10.5.0,M3.5.0/1",
                           "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "EST5EDT4,0/0,J365/25",
                           "AAA3BBB,J60/2,300/167"}) {
    INFO(spec);
    CHECK(detail::PosixTz::parse(spec).has_value());
  }
  for (const char* spec : {"", "EST", "ES5", "EST5EDT", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0",
                           "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365",
                           "EST5EDT,M3.2.0/168,M11.1.0", "<+05", "<+5>-5", "EST25", "EST5EDT,M3.2.0,M11.1.0x"}) {
    INFO(spec);
    CHECK_FALSE(detail::PosixTz::parse(spec).has_value());
  }
}

TEST_CASE("PosixTz handles negative and past-midnight change times and all-year daylight time") {
  // Nuuk: -1:00 on the last Sunday of March is 23:00 on the Saturday (2040-03-24 23:00 -02 = 03-25 01:00Z).
  std::optional<detail::PosixTz> nuuk = detail::PosixTz::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  REQUIRE(nuuk.has_value());
  date::sys_info spring = nuuk->info(instant("2040-03-25T01:00:00Z"));
  CHECK(spring.begin == instant("2040-03-25T01:00:00Z"));
  CHECK(spring.end == instant("2040-10-28T01:00:00Z"));
  CHECK(spring.offset == hours{-1});
  CHECK(nuuk->info(instant("2040-03-25T00:59:59Z")).offset == hours{-2});

  // Daylight time all year (RFC 8536 3.3.1): the offset never leaves daylight time.
  std::optional<detail::PosixTz> always = detail::PosixTz::parse("EST5EDT4,0/0,J365/25");
  REQUIRE(always.has_value());
  for (const char* at : {"2040-01-01T00:00:00Z", "2040-01-01T03:00:00Z", "2040-06-30T12:00:00Z",
                         "2040-12-31T23:59:59Z", "2041-01-01T03:00:00Z"}) {
    INFO(at);
    CHECK(always->info(instant(at)).offset == hours{-4});
  }
}

}  // namespace
}  // namespace airlock::cron
