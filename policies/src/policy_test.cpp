// Tests for network policies (SECURITY.md N4, N5): loading (every refusal names the file, the line and the
// fix), the public-suffix rule for wildcards, first-match order, hosts that try to look like others, ports,
// methods, paths, body caps, internal rules, and the connection-level decision before any request is seen.
#include "airlock/policies/policy.hpp"

#include <doctest/doctest.h>

#include "airlock/testing/source_path.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "airlock/testing/temp_dir.hpp"

namespace airlock::policies {
namespace {

PolicySet load(std::string_view yaml) {
  auto set = parse_policies(yaml, "p.yaml");
  if (set.has_error()) FAIL(set.error());
  return std::move(set).value();
}

std::string load_error(std::string_view yaml) {
  auto set = parse_policies(yaml, "p.yaml");
  REQUIRE(set.has_error());
  return set.error();
}

Target host(std::string_view name, std::uint16_t port = 443) { return Target{name, parse_address(name), port}; }

bool request_allowed(const Policy& policy, std::string_view name, std::string_view method, std::string_view path,
                     std::uint16_t port = 443) {
  return decide_request(policy, host(name, port), RequestFacts{method, path}).allowed;
}

constexpr std::string_view kExample = R"(
policies:
  agents:
    default: deny
    rules:
      - deny: uploads.github.com
      - allow: [api.github.com, "*.cdn-example.net"]
        ports: [443, "8443-8444"]
      - allow: api.example.com
        methods: [get, HEAD]
        paths: [/v1/reports/, /healthz]
        max_request_body_bytes: 1024
      - allow: metrics.internal.example
        internal: true
      - allow: 10.20.0.0/16
        internal: true
  open:
    default: allow
    rules:
      - deny: "*.pastebin.example"
default_policy: agents
)";

}  // namespace

TEST_CASE("a policy file loads into ordered rules with where each came from") {
  const PolicySet set = load(kExample);
  CHECK(set.default_policy == "agents");
  REQUIRE(set.find("agents") != nullptr);
  REQUIRE(set.find("open") != nullptr);
  CHECK(set.find("none") == nullptr);
  const Policy& agents = *set.find("agents");
  REQUIRE(agents.rules.size() == 5);
  CHECK(agents.rules[0].action == Action::deny);
  CHECK(agents.rules[1].hosts == std::vector<std::string>{"api.github.com", "*.cdn-example.net"});
  CHECK(agents.rules[1].ports.size() == 2);
  CHECK(agents.rules[2].methods == std::vector<std::string>{"GET", "HEAD"});
  CHECK(agents.rules[2].max_request_body_bytes == 1024);
  CHECK(agents.rules[3].internal);
  CHECK(agents.rules[4].ranges.front().text() == "10.20.0.0/16");
  CHECK(agents.rules[0].where == "p.yaml:6");
  CHECK(agents.where == "p.yaml:4");
}

TEST_CASE("first match decides, no match is the default") {
  const PolicySet set = load(kExample);
  const Policy& agents = *set.find("agents");
  CHECK_FALSE(request_allowed(agents, "uploads.github.com", "GET", "/"));
  CHECK(request_allowed(agents, "api.github.com", "POST", "/repos"));
  CHECK(request_allowed(agents, "raw.cdn-example.net", "GET", "/x"));
  CHECK_FALSE(request_allowed(agents, "cdn-example.net", "GET", "/x"));  // *. never the apex
  CHECK_FALSE(request_allowed(agents, "example.net", "GET", "/"));
  const Policy& open = *set.find("open");
  CHECK(request_allowed(open, "example.net", "GET", "/"));
  CHECK_FALSE(request_allowed(open, "a.pastebin.example", "GET", "/"));
}

TEST_CASE("host names that try to look like others match what a careful reader expects") {
  const PolicySet set = load(R"(
policies:
  p:
    default: deny
    rules:
      - allow: example.com
      - allow: "*.example.org"
)");
  const Policy& p = *set.find("p");
  CHECK(request_allowed(p, "example.com", "GET", "/"));
  CHECK_FALSE(request_allowed(p, "evil.com.example.com", "GET", "/"));   // exact means exact
  CHECK_FALSE(request_allowed(p, "example.com.evil.com", "GET", "/"));
  CHECK_FALSE(request_allowed(p, "notexample.com", "GET", "/"));
  CHECK(request_allowed(p, "evil.com.example.org", "GET", "/"));         // a name under example.org is example.org's
  CHECK_FALSE(request_allowed(p, "example.org.evil.com", "GET", "/"));
  CHECK_FALSE(request_allowed(p, "xexample.org", "GET", "/"));
  CHECK(request_allowed(p, "a.b.example.org", "GET", "/"));
}

TEST_CASE("ports, methods, paths") {
  const PolicySet set = load(kExample);
  const Policy& agents = *set.find("agents");
  CHECK(request_allowed(agents, "api.github.com", "GET", "/", 8443));
  CHECK(request_allowed(agents, "api.github.com", "GET", "/", 8444));
  CHECK_FALSE(request_allowed(agents, "api.github.com", "GET", "/", 8445));
  CHECK_FALSE(request_allowed(agents, "api.github.com", "GET", "/", 80));
  CHECK(request_allowed(agents, "api.example.com", "GET", "/v1/reports/daily"));
  CHECK(request_allowed(agents, "api.example.com", "HEAD", "/healthz"));
  CHECK_FALSE(request_allowed(agents, "api.example.com", "POST", "/v1/reports/daily"));
  CHECK_FALSE(request_allowed(agents, "api.example.com", "GET", "/v1/reports"));  // a prefix is a prefix
  // ... of the path: a rule's path found further inside it does not match.
  CHECK_FALSE(request_allowed(agents, "api.example.com", "GET", "/admin/v1/reports/daily"));
  CHECK_FALSE(request_allowed(agents, "api.example.com", "HEAD", "/x/healthz"));
  CHECK_FALSE(request_allowed(agents, "api.example.com", "GET", "/v2/"));
  const PolicyDecision capped = decide_request(agents, host("api.example.com"), {"GET", "/healthz"});
  CHECK(capped.max_request_body_bytes == 1024);
  REQUIRE(capped.rule != nullptr);
  CHECK(capped.rule->where == "p.yaml:9");
}

TEST_CASE("internal rules, and CIDR rules over IP targets") {
  const PolicySet set = load(kExample);
  const Policy& agents = *set.find("agents");
  const PolicyDecision internal = decide_request(agents, host("metrics.internal.example"), {"GET", "/"});
  CHECK(internal.allowed);
  CHECK(internal.internal);
  CHECK(decide_request(agents, host("10.20.3.4"), {"GET", "/"}).internal);
  CHECK_FALSE(decide_request(agents, host("10.21.0.1"), {"GET", "/"}).allowed);
  CHECK_FALSE(decide_request(agents, host("api.github.com"), {"GET", "/"}).internal);
}

TEST_CASE("before any request: allowed when some request could be, a tunnel that is not intercepted needs an unconditional rule") {
  const PolicySet set = load(kExample);
  const Policy& agents = *set.find("agents");
  CHECK(decide_connection(agents, host("api.example.com"), true).allowed);    // GET /healthz could be
  CHECK_FALSE(decide_connection(agents, host("api.example.com"), false).allowed);
  CHECK(decide_connection(agents, host("api.github.com"), false).allowed);
  CHECK_FALSE(decide_connection(agents, host("uploads.github.com"), true).allowed);
  CHECK_FALSE(decide_connection(agents, host("example.net"), true).allowed);
  CHECK(decide_connection(agents, host("metrics.internal.example"), true).internal);
  const PolicySet shadowed = load(R"(
policies:
  p:
    default: allow
    rules:
      - allow: a.example.com
        methods: [GET]
      - deny: a.example.com
)");
  CHECK(decide_connection(*shadowed.find("p"), host("a.example.com"), true).allowed);
  CHECK_FALSE(decide_request(*shadowed.find("p"), host("a.example.com"), {"POST", "/"}).allowed);
}

TEST_CASE("too broad patterns are refused at load, with the file, the line and the reason") {
  const auto rule = [](std::string_view pattern) {
    return load_error(fmt::format("policies:\n  p:\n    default: deny\n    rules:\n      - allow: \"{}\"\n", pattern));
  };
  CHECK(rule("*.com") ==
        "p.yaml:5: policies.p.rules[0].allow: \"*.com\": wildcards are only allowed as a leading '*.' followed by at "
        "least two labels, like *.example.com");
  CHECK(rule("*.co.uk") ==
        "p.yaml:5: policies.p.rules[0].allow: \"*.co.uk\" is too broad: co.uk is a public suffix, under which anyone "
        "can register a name; name the domain itself, like *.example.co.uk");
  CHECK(rule("*.githubusercontent.com").starts_with("p.yaml:5: policies.p.rules[0].allow: \"*.githubusercontent.com\" is too broad"));
  CHECK(rule("*.github.io").starts_with("p.yaml:5: policies.p.rules[0].allow: \"*.github.io\" is too broad"));
  CHECK(rule("*").starts_with("p.yaml:5: policies.p.rules[0].allow: \"*\": "));
  CHECK(rule("bücher.example").starts_with("p.yaml:5: policies.p.rules[0].allow: \"bücher.example\": write international names in punycode"));
  CHECK(covers_public_suffix("*.com"));
  CHECK_FALSE(covers_public_suffix("*.example.com"));
  CHECK_FALSE(covers_public_suffix("*.internal"));  // an unknown TLD is not assumed public
}

TEST_CASE("every other mistake names where it is and what is accepted") {
  CHECK(load_error("") == "p.yaml: the file is empty; it needs a policies: mapping");
  CHECK(load_error("policy: {}\n") ==
        "p.yaml:1: (top level).policy: unknown key; accepted here: policies, default_policy");
  CHECK(load_error("policies:\n  p:\n    rules: []\n") == "p.yaml:3: policies.p: default: allow or default: deny is required");
  CHECK(load_error("policies:\n  p:\n    default: maybe\n") == "p.yaml:3: policies.p.default: expected allow or deny");
  CHECK(load_error("policies:\n  p:\n    default: deny\n    rules:\n      - allow: a.com\n        deny: b.com\n") ==
        "p.yaml:5: policies.p.rules[0]: a rule has exactly one of allow: or deny: (a host, a \"*.\" domain or a CIDR)");
  CHECK(load_error("policies:\n  p:\n    default: deny\n    rules:\n      - allow: a.com\n        ports: [0]\n") ==
        "p.yaml:6: policies.p.rules[0].ports: \"0\": a port is a number from 1 to 65535, a range is \"8000-8100\"");
  CHECK(load_error("policies:\n  p:\n    default: deny\n    rules:\n      - allow: a.com\n        ports: [\"9-1\"]\n") ==
        "p.yaml:6: policies.p.rules[0].ports: \"9-1\": the range runs backwards");
  CHECK(load_error("policies:\n  p:\n    default: deny\n    rules:\n      - allow: a.com\n        paths: [v1]\n") ==
        "p.yaml:6: policies.p.rules[0].paths: \"v1\": a path prefix starts with / and has no query");
  CHECK(load_error("policies:\n  p:\n    default: deny\n    rules:\n      - deny: a.com\n        internal: true\n") ==
        "p.yaml:6: policies.p.rules[0].internal: internal: true goes with allow:, not deny:");
  CHECK(load_error("policies:\n  p:\n    default: deny\n    rules:\n      - allow: 10.1.2.3/8\n") ==
        "p.yaml:5: policies.p.rules[0].allow: \"10.1.2.3/8\" has bits set after the first 8; did you mean 10.0.0.0/8?");
  CHECK(load_error("policies:\n  p:\n    default: deny\ndefault_policy: q\n") ==
        "p.yaml:4: default_policy: no policy named \"q\" in this file");
  CHECK(load_error("policies: [").starts_with("p.yaml:1: not valid YAML: "));
}

TEST_CASE("load_policy_file names the file it could not read") {
  testing::TempDir dir;
  CHECK(load_policy_file(dir.path() / "missing.yaml").error() == (dir.path() / "missing.yaml").string() + ": cannot read the policy file");
  const auto path = dir.path() / "ok.yaml";
  { std::ofstream(path) << kExample; }
  const auto set = load_policy_file(path);
  REQUIRE(set.has_value());
  CHECK(set.value().source == path.string());
  CHECK(set.value().find("agents")->rules[0].where == path.string() + ":6");
}

}  // namespace airlock::policies

namespace airlock::policies {

TEST_CASE("the example policy files load") {
  const std::filesystem::path dir = testing::source_path("policies/examples");
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    CAPTURE(entry.path().string());
    const auto set = load_policy_file(entry.path());
    if (set.has_error()) FAIL(set.error());
    CHECK_FALSE(set.value().policies.empty());
    ++loaded;
  }
  CHECK(loaded == 3);
}

}  // namespace airlock::policies
