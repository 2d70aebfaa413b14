// validate_host: what may be minted for (SECURITY.md K2).
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/certs/host.hpp"

namespace airlock::certs {
namespace {

std::string refusal(std::string_view host) {
  auto result = validate_host(host);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::invalid_host);
  CHECK(result.error().error_code() == make_error_code(Errc::invalid_host));
  return result.error().message;
}

constexpr std::string_view kAccepted =
    "; expected a DNS name (letters, digits and hyphens; labels of 1-63 characters; at most 253 characters in all) "
    "or an IP address";

TEST_CASE("DNS names are accepted and lower-cased") {
  struct Row {
    std::string_view input;
    std::string_view text;
  };
  for (const Row& row :
       {Row{"example.com", "example.com"}, Row{"API.Example.COM", "api.example.com"}, Row{"localhost", "localhost"},
        Row{"a-b.c-d.example", "a-b.c-d.example"}, Row{"xn--bcher-kva.example", "xn--bcher-kva.example"},
        Row{"1password.com", "1password.com"}, Row{"a.b2", "a.b2"}}) {
    CAPTURE(row.input);
    auto host = validate_host(row.input);
    REQUIRE(host);
    CHECK(host->text() == row.text);
    CHECK(host->kind() == ValidatedHost::Kind::dns);
    CHECK_FALSE(host->is_ip());
  }
}

TEST_CASE("label and total lengths are accepted up to their limits") {
  const std::string label63(63, 'a');
  auto host = validate_host(label63 + ".com");
  REQUIRE(host);
  CHECK(host->text() == label63 + ".com");

  // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(name253.size() == 253);
  auto longest = validate_host(name253);
  REQUIRE(longest);
  CHECK(longest->text() == name253);
}

TEST_CASE("IP literals are accepted in canonical form") {
  auto v4 = validate_host("127.0.0.1");
  REQUIRE(v4);
  CHECK(v4->text() == "127.0.0.1");
  CHECK(v4->kind() == ValidatedHost::Kind::ipv4);
  CHECK(v4->is_ip());

  auto v6 = validate_host("::1");
  REQUIRE(v6);
  CHECK(v6->text() == "::1");
  CHECK(v6->kind() == ValidatedHost::Kind::ipv6);

  auto long_form = validate_host("2001:DB8:0:0:0:0:0:1");
  REQUIRE(long_form);
  CHECK(long_form->text() == "2001:db8::1");
  CHECK(*long_form == *validate_host("2001:db8::1"));
}

TEST_CASE("every spelling a resolver reads as an IPv4 address becomes that address (N2)") {
  for (const auto& [spelling, canonical] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"2130706433", "127.0.0.1"},
           {"0x7f000001", "127.0.0.1"},
           {"0X7F000001", "127.0.0.1"},
           {"0177.0.0.1", "127.0.0.1"},
           {"127.1", "127.0.0.1"},
           {"127.0.1", "127.0.0.1"},
           {"0x7f.1", "127.0.0.1"},
           {"010.0.0.1", "8.0.0.1"},
           {"1.2.3", "1.2.0.3"},
           {"169.254.43518", "169.254.169.254"},
           {"0", "0.0.0.0"}}) {
    CAPTURE(spelling);
    auto host = validate_host(spelling);
    REQUIRE(host);
    CHECK(host->text() == canonical);
    CHECK(host->kind() == ValidatedHost::Kind::ipv4);
  }
  for (const auto& [spelling, canonical] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"::ffff:7f00:1", "::ffff:127.0.0.1"}, {"0:0:0:0:0:ffff:127.0.0.1", "::ffff:127.0.0.1"}}) {
    CAPTURE(spelling);
    auto host = validate_host(spelling);
    REQUIRE(host);
    CHECK(host->text() == canonical);
  }
  // Names that merely start like numbers stay names.
  CHECK(validate_host("0xdeadbeef.example")->kind() == ValidatedHost::Kind::dns);
  CHECK(validate_host("deadbeef")->kind() == ValidatedHost::Kind::dns);
}

TEST_CASE("junk is refused with a message naming the problem") {
  CHECK(refusal("") == std::string("host \"\": empty") + std::string(kAccepted));
  CHECK(refusal("a..b") == std::string("host \"a..b\": empty label (two dots in a row, or a leading or trailing dot)") +
                               std::string(kAccepted));
  CHECK(refusal("*.x.com") == std::string("host \"*.x.com\": wildcards are not allowed") + std::string(kAccepted));
  CHECK(refusal("exa mple.com") ==
        std::string("host \"exa mple.com\": character ' ' is not allowed") + std::string(kAccepted));
  CHECK(refusal("host:443") == std::string("host \"host:443\": not an IPv6 address, and a port is not part of a host") +
                                   std::string(kAccepted));
  CHECK(refusal("[::1]") ==
        std::string("host \"[::1]\": give an IPv6 address without brackets") + std::string(kAccepted));
  CHECK(refusal("-a.com") ==
        std::string("host \"-a.com\": a label may not start or end with a hyphen") + std::string(kAccepted));
  CHECK(refusal("1.2.3.999") ==
        std::string("host \"1.2.3.999\": looks like an IPv4 address but is not a valid dotted quad") +
            std::string(kAccepted));
}

TEST_CASE("over-long labels and names are refused") {
  const std::string label64(64, 'a');
  CHECK(refusal(label64 + ".com") == "host \"" + label64.substr(0, 64) +
                                         "\"... (68 characters): label of 64 characters (at most 63)" +
                                         std::string(kAccepted));
  const std::string label63(63, 'a');
  const std::string name254 = label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');
  REQUIRE(name254.size() == 254);
  CHECK(refusal(name254) == "host \"" + name254.substr(0, 64) + "\"... (254 characters): 254 characters (at most 253)" +
                                std::string(kAccepted));
}

TEST_CASE("control characters are escaped in messages") {
  CHECK(refusal(std::string_view("a\nb\0c", 5)) ==
        std::string("host \"a\\nb\\x00c\": contains a NUL byte") + std::string(kAccepted));
}

TEST_CASE("other malformed hosts are refused") {
  for (std::string_view host :
       {".example.com", "example.com.", "a-.com", "under_score.example", "ex\xc3\xa4mple.com", "example.com/path",
        "user@example.com", "256.0.0.1", "0x1.2.3.4.5", "127.0.0.1 x", "1..2", "::1]", "fe80::1%eth0", "a.123", "*", "."}) {
    CAPTURE(host);
    CHECK_FALSE(validate_host(host));
  }
}

}  // namespace
}  // namespace airlock::certs
