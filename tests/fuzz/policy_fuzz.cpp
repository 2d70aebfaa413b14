// Fuzz target policy: network policy files (policies/include/airlock/policies/policy.hpp, docs/policy.md,
// SECURITY.md N4, N5): parse_policies() over any text, then decide_connection() and decide_request() over
// targets and requests drawn from the rules themselves.
//
// Input: the YAML text of a policy file.
//
// Checks (a violation aborts):
//   - a refused file says why, naming the file;
//   - what loads holds only valid, normalised host patterns, none a wildcard over a public suffix, port
//     ranges that run forwards, upper-case methods, path prefixes starting with '/', internal only on allow
//     rules; the default_policy names a policy of the file; parsing the text again gives the same policies;
//   - decisions follow their rule: a decision names a rule of the policy and takes its action (or the
//     policy's default when it names none); internal and a body limit come only with an allow;
//   - a request allowed by decide_request() is on a connection decide_connection() allows; a connection
//     allowed without interception is allowed with it, and only by a rule without method or path
//     conditions (or the default).
#include <string>
#include <vector>

#include "airlock/policies/host_pattern.hpp"
#include "airlock/policies/policy.hpp"
#include "fuzz_support.hpp"

namespace airlock::fuzz {
namespace {

using policies::Action;
using policies::PolicyDecision;

constexpr std::size_t kMaxRulesDecided = 16;

std::string dump(const policies::PolicySet& set) {
  std::string out = "default_policy=" + set.default_policy + "\n";
  for (const policies::Policy& policy : set.policies) {
    out += policy.name + (policy.default_action == Action::allow ? " allow\n" : " deny\n");
    for (const policies::Rule& rule : policy.rules) {
      out += rule.action == Action::allow ? " allow" : " deny";
      for (const auto& host : rule.hosts) out += " h:" + host;
      for (const auto& range : rule.ranges) out += " r:" + range.text();
      for (const auto& ports : rule.ports) out += " p:" + std::to_string(ports.first) + "-" + std::to_string(ports.last);
      for (const auto& method : rule.methods) out += " m:" + method;
      for (const auto& path : rule.paths) out += " path:" + path;
      if (rule.max_request_body_bytes) out += " max:" + std::to_string(*rule.max_request_body_bytes);
      out += rule.internal ? " internal\n" : "\n";
    }
  }
  return out;
}

void check_rule(const policies::Rule& rule) {
  for (const std::string& host : rule.hosts) {
    AIRLOCK_FUZZ_CHECK(!policies::validate_host_pattern(host));
    AIRLOCK_FUZZ_CHECK(policies::normalize_host_pattern(host) == host);
    AIRLOCK_FUZZ_CHECK(!policies::covers_public_suffix(host));
  }
  for (const policies::PortRange& range : rule.ports) AIRLOCK_FUZZ_CHECK(range.first >= 1 && range.first <= range.last);
  for (const std::string& method : rule.methods) {
    AIRLOCK_FUZZ_CHECK(!method.empty() && method.find_first_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos);
  }
  for (const std::string& path : rule.paths) AIRLOCK_FUZZ_CHECK(path.starts_with('/'));
  if (rule.internal) AIRLOCK_FUZZ_CHECK(rule.action == Action::allow);
}

void check_decision(const policies::Policy& policy, const PolicyDecision& decision) {
  if (decision.rule == nullptr) {
    AIRLOCK_FUZZ_CHECK(decision.allowed == (policy.default_action == Action::allow));
  } else {
    AIRLOCK_FUZZ_CHECK(decision.rule >= policy.rules.data() && decision.rule < policy.rules.data() + policy.rules.size());
    AIRLOCK_FUZZ_CHECK(decision.allowed == (decision.rule->action == Action::allow));
  }
  if (decision.internal || decision.max_request_body_bytes) AIRLOCK_FUZZ_CHECK(decision.allowed);
}

// A host a pattern covers: the name itself, or one under a wildcard's domain.
std::string host_under(const std::string& pattern) {
  return pattern.starts_with("*.") ? "a" + pattern.substr(1) : pattern;
}

void check_decisions(const policies::Policy& policy) {
  std::vector<std::string> hosts = {"example.com", "api.github.com"};
  std::vector<std::optional<policies::Address>> addresses;
  std::vector<std::uint16_t> ports = {443, 80};
  std::vector<std::string> methods = {"GET", "POST"};
  std::vector<std::string> paths = {"/", "/x/y"};
  for (std::size_t r = 0; r < policy.rules.size() && r < kMaxRulesDecided; ++r) {
    const policies::Rule& rule = policy.rules[r];
    if (!rule.hosts.empty()) hosts.push_back(host_under(rule.hosts.front()));
    if (!rule.ranges.empty()) hosts.push_back(rule.ranges.front().network().to_string());
    if (!rule.ports.empty()) ports.push_back(rule.ports.front().last);
    if (!rule.methods.empty()) methods.push_back(rule.methods.front());
    if (!rule.paths.empty()) paths.push_back(rule.paths.front() + "z");
  }
  for (const std::string& host : hosts) {
    const policies::Target base{host, policies::parse_address(host), 0};
    for (const std::uint16_t port : ports) {
      policies::Target target = base;
      target.port = port;
      const PolicyDecision intercepted = policies::decide_connection(policy, target, true);
      const PolicyDecision passthrough = policies::decide_connection(policy, target, false);
      check_decision(policy, intercepted);
      check_decision(policy, passthrough);
      if (passthrough.allowed) {
        AIRLOCK_FUZZ_CHECK(intercepted.allowed);
        AIRLOCK_FUZZ_CHECK(passthrough.rule == nullptr || !passthrough.rule->has_request_conditions());
      }
      for (const std::string& method : methods) {
        for (const std::string& path : paths) {
          const PolicyDecision request = policies::decide_request(policy, target, {method, path});
          check_decision(policy, request);
          if (request.allowed) AIRLOCK_FUZZ_CHECK(intercepted.allowed);
        }
      }
    }
  }
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view text = as_text(data, size);
  const auto loaded = policies::parse_policies(text, "fuzz.yaml");
  if (!loaded) {
    AIRLOCK_FUZZ_CHECK(loaded.error().starts_with("fuzz.yaml"));
    return 0;
  }
  const policies::PolicySet& set = loaded.value();
  if (!set.default_policy.empty()) AIRLOCK_FUZZ_CHECK(set.find(set.default_policy) != nullptr);
  for (const policies::Policy& policy : set.policies) {
    AIRLOCK_FUZZ_CHECK(!policy.name.empty());
    for (const policies::Rule& rule : policy.rules) check_rule(rule);
    check_decisions(policy);
  }
  const auto again = policies::parse_policies(set.text, "fuzz.yaml");
  AIRLOCK_FUZZ_CHECK(again && dump(again.value()) == dump(set));
  return 0;
}
