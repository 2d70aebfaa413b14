// airlock::policies network policies — named sets of ordered allow/deny rules over host, port, method,
// path and body size (SECURITY.md N4, N5), loaded from a YAML file (docs/policy.md has the format).
//
//   policies:
//     locked-down:
//       default: deny                      # what happens when no rule matches (required)
//       rules:
//         - allow: api.github.com          # a host, "*.example.com", a CIDR, or a list of them
//           ports: [443]                   # numbers or "8000-8100"; none: any port
//           methods: [GET, POST]           # none: any method
//           paths: [/repos/acme/]          # path prefixes; none: any path
//           max_request_body_bytes: 1048576
//         - allow: metrics.internal.example
//           internal: true                 # may resolve to a private address (address.hpp)
//         - deny: "*.github.com"
//   default_policy: locked-down            # optional: the policy of environments that name none
//
// Rules are tried in order and the first that matches decides; no match: the policy's default. A rule
// matches a request when its host, port, method and path all match. Hosts compare by their normalised
// form (lowercase, no trailing dot; international names as punycode); "*.example.com" matches every
// name under example.com and never example.com itself; a CIDR matches an IP-address target inside it.
// Patterns a public suffix would make too broad ("*", "*.com", "*.co.uk", "*.github.io") are refused at
// load, with the file, the line and the reason.
//
// Two moments of decision: before a connection is made only the host and port are known
// (decide_connection: allowed when some request to it could be allowed); each request is then decided
// whole (decide_request). A tunnel Airlock does not intercept (a passthrough host) has only the first, so
// for it a rule with method or path conditions does not allow anything.
//
// Pure and thread-safe after loading; a PolicySet is immutable and shared by pointer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/policies/address.hpp"

namespace airlock::policies {

enum class Action { allow, deny };

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
};

struct Rule {
  Action action = Action::deny;
  std::vector<std::string> hosts;      // normalised host patterns (host_pattern.hpp forms)
  std::vector<Cidr> ranges;            // CIDR targets
  std::vector<PortRange> ports;        // empty: any port
  std::vector<std::string> methods;    // upper case; empty: any method
  std::vector<std::string> paths;      // prefixes; empty: any path
  std::optional<std::uint64_t> max_request_body_bytes;
  bool internal = false;               // allow rules only: the host may resolve to a private address
  std::string where;                   // "file.yaml:12", for messages and GET /v1/airlock/policies

  bool has_request_conditions() const noexcept { return !methods.empty() || !paths.empty(); }
};

struct Policy {
  std::string name;
  Action default_action = Action::deny;
  std::vector<Rule> rules;
  std::string where;
};

struct PolicySet {
  std::vector<Policy> policies;
  std::string default_policy;  // the file's default_policy; may be empty
  std::string source;          // the file it came from
  std::string text;            // the YAML it was parsed from (what a sidecar is sent to parse again)

  const Policy* find(std::string_view name) const noexcept;
};

// Loads and validates a policy file. The error names the file, the line and what to change.
Result<PolicySet> load_policy_file(const std::filesystem::path& file);
// The same over text (`source` names it in messages).
Result<PolicySet> parse_policies(std::string_view yaml, std::string_view source);

// Whether a wildcard pattern ("*.example.com") covers a whole public suffix ("*.co.uk"). Uses the public
// suffix list of libpsl (ICANN and private sections), never its "*" default rule.
bool covers_public_suffix(std::string_view wildcard_pattern);

// What a connection or a request is: the validated host (lowercase DNS name or IP literal), its address
// when it is an IP literal, the port; and for a request, its method, path (no query) and body size
// (Content-Length when known).
struct Target {
  std::string_view host;
  std::optional<Address> ip;
  std::uint16_t port = 0;
};
struct RequestFacts {
  std::string_view method;
  std::string_view path;
};

struct PolicyDecision {
  bool allowed = false;
  bool internal = false;                               // from an allow rule with internal: true
  std::optional<std::uint64_t> max_request_body_bytes; // from the deciding allow rule
  const Rule* rule = nullptr;                          // the deciding rule; null: the policy's default
};

PolicyDecision decide_connection(const Policy& policy, const Target& target, bool intercepted);
PolicyDecision decide_request(const Policy& policy, const Target& target, const RequestFacts& request);

}  // namespace airlock::policies
