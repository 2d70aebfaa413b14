// network_policy: the session's network policy (SECURITY.md N4, N5; policies/policy.hpp; docs/policy.md)
// at its two moments: a connection (CONNECT, or the first sight of an absolute-form host), when only the
// host and port are known, and each request, when the method, the path and the body's declared length
// are known too. A session whose environment names no policy is not limited here (its allowed_hosts
// still are, in decide.hpp); one whose environment names a policy the file lacks is refused everything.
#pragma once

#include <optional>
#include <string>

#include "airlock/http1/parser.hpp"
#include "airlock/proxy/snapshot.hpp"
#include "refusal.hpp"
#include "target.hpp"

namespace airlock::proxy {

// Which addresses the upstream may resolve to (N1): the public ones, or also the private ranges, when the
// deciding allow rule says `internal: true`. Metadata and Airlock's own listeners stay refused.
enum class Reach { public_only, internal };

struct PolicyCheck {
  std::optional<Reason> refused;  // policy_not_found, policy_denied or request_body_too_large
  std::string detail;             // the refusal's words: the policy, the rule and its place in the file
  Reach reach = Reach::public_only;
};

// `intercepted`: Airlock will see the requests (not a passthrough tunnel), so a rule with method or path
// conditions may still allow some of them.
PolicyCheck policy_for_connection(const SessionEntry& session, const Authority& target, bool intercepted);
PolicyCheck policy_for_request(const SessionEntry& session, const Authority& target, const http1::RequestHead& head);

}  // namespace airlock::proxy
