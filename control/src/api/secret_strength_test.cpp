// The secret strength rule as a table: at least 16 bytes and length × log2(distinct bytes) ≥ 64.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "api/secret_strength.hpp"

namespace airlock::control {
namespace {

struct Case {
  std::string_view what;
  std::string value;
  bool strong;
};

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

}  // namespace

TEST_CASE("secret strength: the table") {
  const Case cases[] = {
      {"a 4-digit PIN", "1234", false},
      {"a short password", "hunter2", false},
      {"15 distinct bytes: too short whatever its variety", "abcdefghijklmno", false},
      {"16 times the same byte", repeat("a", 16), false},
      {"a 4-byte pattern repeated to 16 bytes: 32 bits", repeat("abcd", 4), false},
      {"a 16-digit number: 53 bits", "1234567890123456", false},
      {"a 19-digit number: 63.1 bits", "1234567890123456789", false},
      {"a long run of one byte with one other: 16 bits", repeat("a", 15) + "B", false},
      {"a 17-byte key-like value with 9 distinct bytes: 53.9 bits", "sk-live-aaaa-1111", false},
      {"16 distinct bytes: exactly 64 bits", "0123456789abcdef", true},
      {"a 20-digit number: 66.4 bits", "12345678901234567890", true},
      {"20 random letters and digits", "q7XbT2mLk9RzWc4NvE8j", true},
      {"32 hex digits", "9f86d081884c7d659a2feaa0c55ad015", true},
      {"an API key shape: prefix and 32 random characters", "key-example-Xq2b7Lw9Rt4Kp8Zm1Nv6Yc3Hd5Fg0Js", true},
      {"a UUID", "3f2b8c1e-9d4a-4e6b-b7c2-5a1d0e9f8c3b", true},
      // An estimate, not a measure: a long enough repetition of two bytes reaches 64 bits.
      {"64 bytes of two alternating bytes: exactly 64 bits", repeat("ab", 32), true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    CHECK(strong_enough_secret(c.value) == c.strong);
  }
}

TEST_CASE("secret strength: the estimate is length × log2(distinct bytes)") {
  CHECK(estimated_secret_bits("") == 0);
  CHECK(estimated_secret_bits("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 0);
  CHECK(estimated_secret_bits("ab") == 2);
  CHECK(estimated_secret_bits("0123456789abcdef") == 64);
  CHECK(estimated_secret_bits(repeat("abcd", 8)) == 64);
  CHECK(estimated_secret_bits("1234567890123456") == doctest::Approx(53.15).epsilon(0.001));
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
  CHECK(estimated_secret_bits(every_byte) == 256 * 8);
}

}  // namespace airlock::control
