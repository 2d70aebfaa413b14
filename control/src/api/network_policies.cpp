// GET /v1/airlock/policies and POST /v1/airlock/policies/reload (docs/policy.md, Reload): an Airlock
// extension, like every /v1/airlock/ route, behind the API key.
#include "api/resources.hpp"
#include "dataplane/network_policies.hpp"

namespace airlock::control {

void add_network_policy_routes(Router& router, NetworkPolicies& policies, std::function<void()> apply) {
  router.add("GET", "/v1/airlock/policies", [&policies](ApiRequest&) -> Reply { return Reply{200, policies.describe(), {}}; });
  router.add("POST", "/v1/airlock/policies/reload", [&policies, apply = std::move(apply)](ApiRequest&) -> Reply {
    if (auto problem = policies.reload()) {
      bad_request(fmt::format("the policy file was not reloaded, the policies in force stay: {}", *problem),
                  "policy_file_invalid");
    }
    apply();
    return Reply{200, policies.describe(), {}};
  });
}

}  // namespace airlock::control
