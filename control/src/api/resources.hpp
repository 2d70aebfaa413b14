// The REST resources (API.md §1-§4): each file registers its routes and owns its JSON shape.
//
// Resources are stored as typed columns plus `doc`, a JSON object of the remaining fields written and read
// only here; write-only secret fields never enter `doc`.
#pragma once

#include <functional>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "airlock/store/store.hpp"
#include "api/common/api.hpp"
#include "http/router.hpp"
#include "sessions/sandbox_env.hpp"

namespace airlock::control {

class Logger;

// credentials.* of the configuration (docs/configuration.md).
struct CredentialSettings {
  // Store secret values that fail the strength rule (secret_strength.hpp) with a warning, instead of
  // refusing them: for installations that must keep weak legacy values.
  bool allow_weak_secrets = false;
};

void add_vault_routes(Router& router, store::Store& store);
void add_credential_routes(Router& router, store::Store& store, CredentialSettings settings, Logger& log);
void add_agent_routes(Router& router, store::Store& store);
void add_environment_routes(Router& router, store::Store& store);
// Sessions (API.md §6) with their events, egress audit and sandbox_env (§10); see sessions.cpp.
class SessionRuntime;
void add_session_routes(Router& router, store::Store& store, const SandboxEnvSettings& sandbox_env, SessionRuntime& runtime);
// Deployments and deployment runs (API.md §5); see deployments.cpp and deployment_runs.cpp.
void add_deployment_routes(Router& router, store::Store& store, SessionRuntime& runtime, Logger& log);
// The network policies in force and their reload (docs/policy.md); `apply` publishes a reloaded set.
class NetworkPolicies;
void add_network_policy_routes(Router& router, NetworkPolicies& policies, std::function<void()> apply);

// Unwraps a store result: not_found becomes a 404 naming `what` and `id`; archived a 400; every other
// failure is internal (500). Conflicts that deserve their own message are checked by the caller first.
template <class T>
T take(store::Result<T>&& result, std::string_view what, std::string_view id) {
  if (result) {
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      return std::move(result).value();
    }
  }
  std::error_code ec = result.error();
  if (ec == store::Errc::not_found) not_found(fmt::format("{} {} was not found", what, id));
  if (ec == store::Errc::archived) bad_request(fmt::format("{} {} is archived", what, id));
  if (ec == store::Errc::conflict || ec == store::Errc::version_conflict) conflict(fmt::format("{} {}: {}", what, id, ec.message()));
  throw std::system_error(ec);
}

// Parses a stored doc (always a JSON object written by this file set).
json parse_doc(const std::string& doc);

// Common fields of every stored resource.
json timestamps_json(const std::string& created_at, const std::string& updated_at,
                     const std::optional<std::string>& archived_at);

// The body of a DELETE: {id, type: "<resource>_deleted"} (API.md §7.2: an object, not 204).
Reply deleted_reply(std::string_view id, std::string_view type);

}  // namespace airlock::control
