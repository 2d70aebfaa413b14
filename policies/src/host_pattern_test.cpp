// Tests for host pattern validation and matching. The case tables live in policies/testdata/ so that a
// reviewer can read them without C++: host_patterns.txt (pattern, host, match or not) and
// host_pattern_validation.txt (entry and the exact message).
#include "airlock/policies/host_pattern.hpp"

#include <doctest/doctest.h>

#include "airlock/testing/source_path.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace airlock::policies {
namespace {

std::filesystem::path testdata(const std::string& name) { return testing::source_path("policies/testdata/" + name); }

// "<empty>" is the empty string; "\xHH" is one byte.
std::string decode(std::string_view field) {
  if (field == "<empty>") return {};
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(std::string(field.substr(i + 2, 2)), nullptr, 16));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

struct Line {
  int number;
  std::string text;
};

std::vector<Line> case_lines(const std::string& name) {
  std::ifstream in(testdata(name));
  if (!in) throw std::runtime_error("cannot open " + testdata(name).string());
  std::vector<Line> lines;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (text.empty() || text[0] == '#') continue;
    lines.push_back({number, text});
  }
  return lines;
}

struct MatchCase {
  int line;
  std::string pattern;
  std::string host;
  bool match;
};

std::vector<MatchCase> match_cases() {
  std::vector<MatchCase> cases;
  for (const Line& line : case_lines("host_patterns.txt")) {
    std::istringstream fields(line.text);
    std::string pattern, host, expected, extra;
    fields >> pattern >> host >> expected;
    if (expected != "match" && expected != "no") {
      throw std::runtime_error("host_patterns.txt:" + std::to_string(line.number) + ": expected 'match' or 'no'");
    }
    if (fields >> extra) throw std::runtime_error("host_patterns.txt:" + std::to_string(line.number) + ": extra field");
    cases.push_back({line.number, decode(pattern), decode(host), expected == "match"});
  }
  return cases;
}

struct ValidationCase {
  int line;
  std::string entry;
  std::optional<std::string> message;  // nullopt: valid
};

std::vector<ValidationCase> validation_cases() {
  std::vector<ValidationCase> cases;
  for (const Line& line : case_lines("host_pattern_validation.txt")) {
    const std::size_t arrow = line.text.find(" => ");
    if (arrow == std::string::npos) {
      throw std::runtime_error("host_pattern_validation.txt:" + std::to_string(line.number) + ": no ' => '");
    }
    const std::string expected = line.text.substr(arrow + 4);
    cases.push_back({line.number, decode(line.text.substr(0, arrow)),
                     expected == "ok" ? std::nullopt : std::optional<std::string>(expected)});
  }
  return cases;
}

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

TEST_CASE("host_patterns.txt: every pattern/host pair matches as the table says") {
  const std::vector<MatchCase> cases = match_cases();
  REQUIRE(cases.size() >= 90);  // the file was found and read, not silently empty
  for (const MatchCase& c : cases) {
    INFO("host_patterns.txt:" << c.line << " pattern=\"" << c.pattern << "\" host=\"" << c.host << "\"");
    CHECK(host_matches(c.pattern, c.host) == c.match);
    // A matching pattern is one the API accepts, and its normalised form matches the same host.
    if (c.match) {
      CHECK_FALSE(validate_host_pattern(c.pattern).has_value());
      CHECK(host_matches(normalize_host_pattern(c.pattern), c.host));
    }
  }
}

TEST_CASE("host_pattern_validation.txt: exact messages for refused entries") {
  const std::vector<ValidationCase> cases = validation_cases();
  REQUIRE(cases.size() >= 75);
  for (const ValidationCase& c : cases) {
    INFO("host_pattern_validation.txt:" << c.line << " entry=\"" << c.entry << "\"");
    CHECK(validate_host_pattern(c.entry) == c.message);
    if (c.message) {
      // Fail closed: a refused entry matches nothing, not even its own spelling.
      CHECK_FALSE(host_matches(c.entry, c.entry));
      CHECK_FALSE(host_matches(c.entry, "api.example.com"));
      CHECK_FALSE(host_matches(c.entry, "a.example.com"));
    } else if (c.entry.starts_with("*.")) {
      CHECK(host_matches(c.entry, "x." + c.entry.substr(2)));
      CHECK_FALSE(host_matches(c.entry, c.entry.substr(2)));
    } else {
      CHECK(host_matches(c.entry, c.entry));
      CHECK(host_matches(normalize_host_pattern(c.entry), c.entry));
    }
  }
}

TEST_CASE("length limits: labels of 63, names of 253") {
  const std::string label63 = repeat('a', 63);
  CHECK_FALSE(validate_host_pattern(label63 + ".example.com").has_value());
  CHECK(validate_host_pattern(repeat('a', 64) + ".example.com") ==
        "label longer than 63 characters; labels are 1-63 characters");
  CHECK(validate_host_pattern("*." + repeat('a', 64) + ".com") ==
        "label longer than 63 characters; labels are 1-63 characters");

  // 63+1+63+1+63+1+61 = 253 characters.
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + repeat('b', 61);
  REQUIRE(name253.size() == 253);
  CHECK_FALSE(validate_host_pattern(name253).has_value());
  CHECK(host_matches(name253, name253));
  CHECK(host_matches(name253, name253 + "."));
  const std::string name254 = name253 + "b";
  CHECK(validate_host_pattern(name254) == "hostname longer than 253 characters");
  CHECK_FALSE(host_matches(name254, name254));

  // A wildcard counts its "*." too; a host longer than 253 never matches.
  const std::string suffix251 = label63 + "." + label63 + "." + label63 + "." + repeat('b', 59);
  REQUIRE(suffix251.size() == 251);
  CHECK_FALSE(validate_host_pattern("*." + suffix251).has_value());
  CHECK(validate_host_pattern("*." + suffix251 + "b") == "hostname longer than 253 characters");
  CHECK(host_matches("*." + suffix251, "x." + suffix251));
  CHECK_FALSE(host_matches("*." + suffix251, "xy." + suffix251));  // 254 characters
}

TEST_CASE("normalize_host_pattern lowercases and changes nothing else") {
  CHECK(normalize_host_pattern("API.Example.COM") == "api.example.com");
  CHECK(normalize_host_pattern("*.EXAMPLE.com") == "*.example.com");
  CHECK(normalize_host_pattern("192.0.2.1") == "192.0.2.1");
  CHECK(normalize_host_pattern("XN--BCHER-KVA.EXAMPLE") == "xn--bcher-kva.example");
  CHECK(normalize_host_pattern("localhost") == "localhost");
}

TEST_CASE("host_matches_any") {
  const std::vector<std::string> patterns{"api.example.com", "*.example.org", "192.0.2.1"};
  CHECK(host_matches_any(patterns, "api.example.com"));
  CHECK(host_matches_any(patterns, "a.b.example.org"));
  CHECK(host_matches_any(patterns, "192.0.2.1"));
  CHECK_FALSE(host_matches_any(patterns, "example.org"));
  CHECK_FALSE(host_matches_any(patterns, "www.example.com"));
  CHECK_FALSE(host_matches_any(patterns, "192.0.2.2"));
  CHECK_FALSE(host_matches_any(std::vector<std::string>{}, "api.example.com"));
  CHECK_FALSE(host_matches_any(std::vector<std::string>{"*", "*.com"}, "api.example.com"));
}

}  // namespace
}  // namespace airlock::policies
