// network_policy (see network_policy.hpp): the policy's decisions in the refusal table's words.
#include "network_policy.hpp"

#include <fmt/format.h>

#include "airlock/policies/policy.hpp"

namespace airlock::proxy {

namespace {

policies::Target target_of(const Authority& target) {
  policies::Target out{target.host.text(), std::nullopt, target.port};
  if (target.host.is_ip()) out.ip = policies::parse_address(target.host.text());
  return out;
}

// "the rule at policies.yaml:12" or "no rule (its default is deny)".
std::string which_rule(const policies::PolicyDecision& decision) {
  if (decision.rule != nullptr) return fmt::format("the rule at {}", decision.rule->where);
  return "no rule matches and its default is deny";
}

PolicyCheck not_found(const SessionEntry& session) {
  return PolicyCheck{Reason::policy_not_found, session.unknown_policy, Reach::public_only};
}

PolicyCheck denied(const SessionEntry& session, const Authority& target, const policies::PolicyDecision& decision,
                   std::string_view what) {
  return PolicyCheck{Reason::policy_denied,
                     fmt::format("the network policy {} denies {} {}:{} ({})", session.policy->name, what,
                                 target.host.text(), target.port, which_rule(decision)),
                     Reach::public_only};
}

Reach reach_of(const policies::PolicyDecision& decision) {
  return decision.internal ? Reach::internal : Reach::public_only;
}

}  // namespace

PolicyCheck policy_for_connection(const SessionEntry& session, const Authority& target, bool intercepted) {
  if (!session.unknown_policy.empty()) return not_found(session);
  if (!session.policy) return {};
  const policies::PolicyDecision decision = policies::decide_connection(*session.policy, target_of(target), intercepted);
  if (!decision.allowed) return denied(session, target, decision, "connections to");
  return PolicyCheck{std::nullopt, {}, reach_of(decision)};
}

PolicyCheck policy_for_request(const SessionEntry& session, const Authority& target, const http1::RequestHead& head) {
  if (!session.unknown_policy.empty()) return not_found(session);
  if (!session.policy) return {};
  std::string_view path = path_of(head.target);
  path = path.substr(0, path.find('?'));
  const policies::PolicyDecision decision =
      policies::decide_request(*session.policy, target_of(target), policies::RequestFacts{head.method, path});
  if (!decision.allowed) return denied(session, target, decision, fmt::format("{} {} on", head.method, path));
  if (decision.max_request_body_bytes) {
    const std::uint64_t cap = *decision.max_request_body_bytes;
    const std::string rule = which_rule(decision);
    if (head.chunked) {
      return PolicyCheck{Reason::request_body_too_large,
                         fmt::format("the body's length is not declared (chunked) and the network policy {} allows at "
                                     "most {} bytes to {} ({}); send the body with Content-Length",
                                     session.policy->name, cap, target.host.text(), rule),
                         Reach::public_only};
    }
    if (head.content_length.value_or(0) > cap) {
      return PolicyCheck{Reason::request_body_too_large,
                         fmt::format("the body is {} bytes and the network policy {} allows at most {} to {} ({})",
                                     *head.content_length, session.policy->name, cap, target.host.text(), rule),
                         Reach::public_only};
    }
  }
  return PolicyCheck{std::nullopt, {}, reach_of(decision)};
}

}  // namespace airlock::proxy
