// random_id, make_placeholder and format_time.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "airlock/store/store.hpp"
#include "test_support.hpp"

namespace airlock::store {

TEST_CASE("random_id is the prefix, 01 and 22 base58 characters") {
  constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const auto id = random_id("vlt_");
    REQUIRE(id.size() == 4 + 2 + 22);
    CHECK(id.substr(0, 6) == "vlt_01");
    CHECK(id.find_first_not_of(kBase58, 6) == std::string::npos);
    seen.insert(id);
  }
  CHECK(seen.size() == 200);
  CHECK(random_id("").size() == 24);
}

TEST_CASE("random_id: every base58 character as likely as any other") {
  // 4,000 ids: 88,000 characters, about 1,517 of each. A modulo bias (bytes 0-255 taken mod 58 without
  // rejecting the top 24) would make 24 of them 25% likelier; chance alone stays within 6 sigma (15%).
  constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::map<char, int> counts;
  for (int i = 0; i < 4000; ++i) {
    for (char c : random_id("").substr(2)) ++counts[c];
  }
  REQUIRE(counts.size() == kBase58.size());
  const double expected = 4000.0 * 22 / 58;
  for (const auto& [c, n] : counts) {
    INFO("character " << c << ": " << n);
    CHECK(n > expected * 0.85);
    CHECK(n < expected * 1.15);
  }
}

TEST_CASE("time_ordered_id: the shape of random_id, in time order, unique within a microsecond") {
  constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  using namespace std::chrono;
  const auto t = testing::test_epoch();
  const std::string id = time_ordered_id("egr_", t);
  REQUIRE(id.size() == 4 + 2 + 22);
  CHECK(id.substr(0, 6) == "egr_01");
  CHECK(id.find_first_not_of(kBase58, 6) == std::string::npos);
  // 2026-11-27T02:21:22.123456Z is 1,795,746,082,123,456 microseconds after 1970: F2JCs2xK9 in base58.
  CHECK(id.substr(6, 10) == "1F2JCs2xK9");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(time_ordered_id("egr_", t));
  CHECK(seen.size() == 200);
  // Later is greater, by one microsecond and across a carry of every digit.
  CHECK(time_ordered_id("egr_", t + 1us).substr(6, 10) > id.substr(6, 10));
  CHECK(time_ordered_id("egr_", t + 1us) > time_ordered_id("egr_", t).substr(0, 16) + "zzzzzzzzzzzz");
  CHECK(time_ordered_id("", system_clock::time_point{}).substr(2, 10) == "1111111111");
  CHECK(time_ordered_id("", system_clock::time_point{} + 58us).substr(2, 10) == "1111111121");
  CHECK(time_ordered_id("", system_clock::time_point{} + 57us).substr(2, 10) == "111111111z");
}

TEST_CASE("make_placeholder is the prefix and 40 characters of [A-Za-z0-9]") {
  constexpr std::string_view kAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const auto placeholder = make_placeholder();
    REQUIRE(placeholder.size() == kPlaceholderLength);
    CHECK(placeholder.substr(0, kPlaceholderPrefix.size()) == kPlaceholderPrefix);
    CHECK(placeholder.find_first_not_of(kAlnum, kPlaceholderPrefix.size()) == std::string::npos);
    seen.insert(placeholder);
  }
  CHECK(seen.size() == 200);
  CHECK(kPlaceholderPrefix.size() + 40 == kPlaceholderLength);
}

TEST_CASE("format_time is RFC 3339 UTC with six fractional digits") {
  using namespace std::chrono;
  CHECK(format_time(testing::test_epoch()) == "2026-11-27T02:21:22.123456Z");
  CHECK(format_time(system_clock::time_point{}) == "1970-01-01T00:00:00.000000Z");
  // Below a microsecond is cut, never rounded up, so text order stays time order.
  CHECK(format_time(testing::test_epoch() + 999ns) == "2026-11-27T02:21:22.123456Z");
  CHECK(format_time(sys_days{year{2024} / February / 29} + 23h + 59min + 59s + 999999us) ==
        "2024-02-29T23:59:59.999999Z");
  CHECK(format_time(sys_days{year{2000} / January / 1} + 7us) == "2000-01-01T00:00:00.000007Z");
}

}  // namespace airlock::store
