// Tests for the address checks (SECURITY.md N1, N2): every default-refused range at its edges from the
// table in policies/testdata/addresses.txt, the allow list and its metadata rule, Airlock's own listeners,
// CIDR parsing with its messages, and every spelling of an IPv4 address a client can send.
#include "airlock/policies/address.hpp"

#include <doctest/doctest.h>

#include "airlock/testing/source_path.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace airlock::policies {
namespace {

std::filesystem::path testdata(const std::string& name) { return testing::source_path("policies/testdata/" + name); }

Address address(std::string_view text) {
  const auto parsed = parse_address(text);
  REQUIRE_MESSAGE(parsed.has_value(), text);
  return *parsed;
}

std::string verdict_text(const AddressVerdict& verdict) {
  return verdict.allowed ? std::string("allowed") : "refused: " + verdict.range;
}

Cidr cidr(std::string_view text) {
  auto parsed = Cidr::parse(text);
  REQUIRE_MESSAGE(parsed.has_value(), text);
  return parsed.value();
}

}  // namespace

TEST_CASE("every default-refused range, at its edges (testdata/addresses.txt)") {
  std::ifstream in(testdata("addresses.txt"));
  REQUIRE(in);
  const AddressRules rules;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    const std::size_t gap = line.find("  ");
    REQUIRE_MESSAGE(gap != std::string::npos, line);
    const std::string text = line.substr(0, gap);
    std::string expected = line.substr(gap);
    expected.erase(0, expected.find_first_not_of(' '));
    CAPTURE(text);
    CHECK(verdict_text(rules.check(address(text), 443)) == expected);
    ++cases;
  }
  CHECK(cases > 80);
}

TEST_CASE("the allow list opens ranges, but a metadata address only when named on its own") {
  const AddressRules loopback({cidr("127.0.0.0/8")}, {});
  CHECK(loopback.check(address("127.0.0.1"), 80).allowed);
  CHECK(loopback.check(address("::ffff:127.0.0.1"), 80).allowed);
  CHECK_FALSE(loopback.check(address("::1"), 80).allowed);
  CHECK_FALSE(loopback.check(address("10.0.0.1"), 80).allowed);

  const AddressRules link_local({cidr("169.254.0.0/16")}, {});
  CHECK(link_local.check(address("169.254.1.1"), 80).allowed);
  const AddressVerdict metadata = link_local.check(address("169.254.169.254"), 80);
  CHECK_FALSE(metadata.allowed);
  CHECK(metadata.range == "cloud metadata");
  CHECK(metadata.cidr == "169.254.169.254/32");
  CHECK(metadata.hint == "allow it with --allow-private 169.254.169.254/32 (on its own: a wider range does not open it)");
  // Every metadata address inside link-local stays closed (AWS ECS and EKS credentials), and the IPv6 ones
  // inside unique local.
  for (std::string_view inside : {"169.254.170.2", "169.254.170.23"}) {
    CAPTURE(inside);
    CHECK(link_local.check(address(inside), 80).range == "cloud metadata");
  }
  const AddressRules unique_local({cidr("fc00::/7")}, {});
  CHECK(unique_local.check(address("fd00::1"), 80).allowed);
  for (std::string_view inside : {"fd00:ec2::254", "fd00:ec2::23"}) {
    CAPTURE(inside);
    CHECK(unique_local.check(address(inside), 80).range == "cloud metadata");
  }

  const AddressRules named({cidr("169.254.169.254/32")}, {});
  CHECK(named.check(address("169.254.169.254"), 80).allowed);
  CHECK_FALSE(named.check(address("169.254.170.2"), 80).allowed);
  const AddressRules named_v6({cidr("fd00:ec2::254/128")}, {});
  CHECK(named_v6.check(address("fd00:ec2::254"), 80).allowed);

  const AddressVerdict private_network = AddressRules().check(address("10.1.2.3"), 443);
  CHECK(private_network.cidr == "10.0.0.0/8");
  CHECK(private_network.hint ==
        "allow it with --allow-private 10.1.2.3/32, or name the host in a policy rule with internal: true");
}

TEST_CASE("internal: true opens the private ranges, never metadata nor Airlock's own listeners") {
  const AddressRules rules({}, {OwnListener{address("127.0.0.1"), 8420, "API"}});
  CHECK(rules.check(address("10.1.2.3"), 443, true).allowed);
  CHECK(rules.check(address("127.0.0.1"), 9000, true).allowed);
  CHECK_FALSE(rules.check(address("169.254.169.254"), 80, true).allowed);
  CHECK_FALSE(rules.check(address("127.0.0.1"), 8420, true).allowed);
}

TEST_CASE("Airlock's own listeners are refused on every address they answer on, whatever is allowed") {
  const AddressRules rules({cidr("0.0.0.0/0"), cidr("::/0")},
                           {OwnListener{address("127.0.0.1"), 8420, "API"}, OwnListener{address("127.0.0.1"), 8421, "proxy"},
                            OwnListener{address("::1"), 8421, "proxy"}});
  const AddressVerdict api = rules.check(address("127.0.0.1"), 8420);
  CHECK_FALSE(api.allowed);
  CHECK(api.range == "Airlock's own API listener");
  CHECK(api.cidr == "127.0.0.1:8420");
  CHECK(api.hint == "Airlock never proxies to itself");
  CHECK_FALSE(rules.check(address("::ffff:127.0.0.1"), 8421).allowed);
  CHECK_FALSE(rules.check(address("::1"), 8421).allowed);
  CHECK(rules.check(address("127.0.0.1"), 8422).allowed);  // the allow list opened the rest of loopback
  CHECK(rules.check(address("127.0.0.2"), 8420).allowed);  // not where the API listens
}

TEST_CASE("a listener on 0.0.0.0 or :: is refused on every loopback address") {
  const AddressRules v4({cidr("0.0.0.0/0"), cidr("::/0")}, {OwnListener{address("0.0.0.0"), 8420, "API"}});
  CHECK_FALSE(v4.check(address("127.0.0.1"), 8420).allowed);
  CHECK_FALSE(v4.check(address("127.3.2.1"), 8420).allowed);
  CHECK_FALSE(v4.check(address("::ffff:127.0.0.1"), 8420).allowed);
  CHECK(v4.check(address("::1"), 8420).allowed);  // an IPv4 listener does not answer there
  CHECK(v4.check(address("127.0.0.1"), 8421).allowed);
  const AddressRules v6({cidr("0.0.0.0/0"), cidr("::/0")}, {OwnListener{address("::"), 8421, "proxy"}});
  CHECK_FALSE(v6.check(address("::1"), 8421).allowed);
  CHECK_FALSE(v6.check(address("127.0.0.1"), 8421).allowed);
  CHECK(v6.check(address("10.0.0.1"), 8421).allowed);  // other addresses: the caller lists them
}

TEST_CASE("CIDR: accepted forms and the messages for the rest") {
  CHECK(cidr("10.0.0.0/8").text() == "10.0.0.0/8");
  CHECK(cidr("10.1.2.3").text() == "10.1.2.3/32");
  CHECK(cidr("fd00::/8").text() == "fd00::/8");
  CHECK(cidr("0.0.0.0/0").contains(address("8.8.8.8")));
  CHECK_FALSE(cidr("0.0.0.0/0").contains(address("::1")));
  CHECK(cidr("172.16.0.0/12").contains(address("172.31.255.255")));
  CHECK_FALSE(cidr("172.16.0.0/12").contains(address("172.32.0.0")));
  CHECK(Cidr::parse("10.1.2.3/8").error() == "\"10.1.2.3/8\" has bits set after the first 8; did you mean 10.0.0.0/8?");
  CHECK(Cidr::parse("10.0.0.0/33").error() == "\"10.0.0.0/33\": the prefix length must be a number from 0 to 32");
  CHECK(Cidr::parse("10.0.0.0/").error() == "\"10.0.0.0/\": the prefix length must be a number from 0 to 32");
  CHECK(Cidr::parse("example.com/8").error() ==
        "\"example.com/8\" is not a CIDR range; write an address and a prefix length, like 10.0.0.0/8 or fd00::/8");
  CHECK(Cidr::parse("127.1/8").has_error());  // only canonical addresses in configuration
}

TEST_CASE("every spelling of an address a client can send is the same address") {
  for (std::string_view spelling : {"127.0.0.1", "2130706433", "0x7f000001", "0X7F000001", "0177.0.0.1", "127.1",
                                    "127.0.1", "0x7f.1", "017700000001", "[::ffff:7f00:1]",
                                    "[0:0:0:0:0:ffff:127.0.0.1]", "::ffff:127.0.0.1",
                                    "127.0.0.000000000000000000000000000001", "0x00000000000000000000007f.1",
                                    "127.00000000000000000000000000000000000000000000000000000000000000000001"}) {
    CAPTURE(spelling);
    const Address parsed = address(spelling);
    const Address v4 = parsed.is_v6() ? Address(*embedded_v4(parsed.to_v6())) : parsed;
    CHECK(v4.to_string() == "127.0.0.1");
  }
  for (std::string_view not_an_address : {"", "example.com", "127.0.0.1.", "1.2.3.4.5", "256.0.0.1", "1.256.0.1",
                                          "1.2.65536", "0x1.0x2.0x3.0x100", "4294967296", "08.0.0.1", "0x",
                                          "127.0.0.1 ", "fe80::1%eth0", "[::1", "12345678901234567890"}) {
    CAPTURE(not_an_address);
    CHECK_FALSE(parse_address(not_an_address).has_value());
  }
  CHECK(address("4294967295").to_string() == "255.255.255.255");
  CHECK(address("1.2.65535").to_string() == "1.2.255.255");
}

}  // namespace airlock::policies
