// Creating a session, in one place: POST /v1/sessions and the deployment runner (a fire, or "run now")
// both call create_session, so both refuse the same things with the same messages.
//
// create_session validates the request, resolves the agent to a concrete version and snapshots it,
// checks the environment, the vaults and the resources, refuses two vaults that expose the same
// secret_name (API.md §10), then writes the session and its initial events in one transaction (a
// savepoint when the caller has one open). Refusals are thrown:
//   - SessionCreationError (an ApiError) when something the request names is missing, archived or in
//     conflict; run_error_type() is the deployment run's error.type (API.md §5 RunErrorType);
//   - a plain ApiError (400) for a malformed request, which a deployment run reports as
//     session_creation_rejected_error (kRunErrorRejected).
// The validators below are the ones create_session uses, for what a deployment stores at D1/D3 and
// hands over at each fire (initial events, resources, budget, agent reference), so they fail early there.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/store/store.hpp"
#include "api/common/api.hpp"
#include "http/router.hpp"
#include "sessions/sandbox_env.hpp"

namespace airlock::control {

// Deployment run error types (API.md §5) a session creation can end in.
inline constexpr std::string_view kRunErrorEnvironmentArchived = "environment_archived_error";
inline constexpr std::string_view kRunErrorEnvironmentNotFound = "environment_not_found_error";
inline constexpr std::string_view kRunErrorAgentArchived = "agent_archived_error";
inline constexpr std::string_view kRunErrorVaultNotFound = "vault_not_found_error";
inline constexpr std::string_view kRunErrorVaultArchived = "vault_archived_error";
inline constexpr std::string_view kRunErrorFileNotFound = "file_not_found_error";
inline constexpr std::string_view kRunErrorResourceNotFound = "session_resource_not_found_error";
inline constexpr std::string_view kRunErrorRejected = "session_creation_rejected_error";
inline constexpr std::string_view kRunErrorRateLimited = "session_rate_limited_error";

class SessionCreationError : public ApiError {
 public:
  SessionCreationError(ApiError error, std::string_view run_error_type)
      : ApiError(std::move(error)), run_error_type_(run_error_type) {}
  const std::string& run_error_type() const noexcept { return run_error_type_; }

 private:
  std::string run_error_type_;
};

struct SessionRequest {
  // "agent_..." (latest version) | {id, type: "agent", version?} |
  // {id, type: "agent_with_overrides", version?, model?, system?, tools?, mcp_servers?, skills?}
  json agent;
  std::string environment_id;
  std::vector<std::string> vault_ids;   // at most 50, no repeats; each must exist and not be archived
  json resources = json::array();       // SessionResourceConfig params (validate_resources)
  json initial_events = json::array();  // user.message, user.define_outcome, system.message (at most 50)
  json metadata = json::object();       // 16 / 64 / 512
  std::optional<std::string> title;
  json budget = nullptr;                // null or a BudgetLimit (validate_budget)
  std::optional<std::string> deployment_id;
};

class SessionRuntime;

// The Session object (API.md §6) of the new session. Throws as described above, and also:
//   - 400 (kRunErrorRejected) on a self_hosted environment with environment_variable credentials
//     (refuse_placeholders_outside_proxy), or environment metadata naming an unknown harness;
//   - 429 rate_limit_error (kRunErrorRateLimited) when it would start a local sandbox beyond
//     runtime.max_concurrent_sessions.
// A session placed in a local sandbox is launched by `runtime` once the caller's transaction commits.
json create_session(store::Store& store, const SessionRequest& request, SessionRuntime& runtime);

// --- validators (400 ApiError, messages starting with `path`) ---

// An agent reference: the bare id, or an object of one of the two types. Returns it as an object
// ({id, type, version?, overrides...}, the overrides validated). allow_overrides: sessions yes,
// deployments no.
json validate_agent_reference(const json& agent, std::string_view path, bool allow_overrides);
// Resource params: github_repository (no authorization_token: keep a token in a vault credential),
// file, memory_store; at most 500. Returns them normalised (defaults filled in).
json validate_resources(const json& resources, std::string_view path);
// {type: "limit", max_list_cost: {amount: "<integer minor units>", currency: "USD"}}.
json validate_budget(const json& budget, std::string_view path);
// One event as sent by a client (API.md S8's accepted types, or the subset `allowed`); returns its stored form
// without server fields (the type and the fields of its kind, defaults filled in).
json validate_event(const json& event, std::string_view path, std::span<const std::string_view> allowed);
// validate_event over an array of min..max events.
json validate_events(const json& events, std::string_view path, std::span<const std::string_view> allowed,
                     std::size_t min, std::size_t max);

inline constexpr std::array<std::string_view, 2> kInitialEventTypes = {"user.message", "user.define_outcome"};
inline constexpr std::array<std::string_view, 3> kDeploymentEventTypes = {"user.message", "user.define_outcome",
                                                                          "system.message"};
inline constexpr std::array<std::string_view, 7> kSendableEventTypes = {
    "user.message", "user.interrupt", "user.tool_confirmation", "user.custom_tool_result",
    "user.define_outcome", "user.tool_result", "system.message"};

// --- shared by the session files ---

// Appends validated events (validate_event's output, or a harness's events) to a session: adds the server
// fields (id unless the event names a valid one, processed_at, and outcome_id for user.define_outcome) and
// returns the stored events as JSON.
json append_events(store::Store& store, const std::string& session_id, const json& events);
json event_json(const store::Event& event);

// The environment variables a session's vaults expose: every active environment_variable credential of
// every active vault in `vault_ids`, in vault order (vaults deleted or archived since are skipped).
// Throws SessionCreationError (409 conflict_error, kRunErrorRejected) when two vaults define the same
// secret_name, naming both.
struct ExposedVariable {
  std::string secret_name;
  std::string placeholder;
  std::string vault_id;
  std::string credential_id;
};
std::vector<ExposedVariable> exposed_variables(store::Store& store, const std::vector<std::string>& vault_ids);

// A self_hosted environment runs its sandboxes outside Airlock's egress proxy, so the placeholder promise
// cannot hold there: a placeholder would be useless to its tools, and a real value could only arrive some
// other way. Refuses (400, kRunErrorRejected) when `environment` (its API JSON) is self_hosted and
// `variables` (exposed_variables of the vaults) is not empty.
void refuse_placeholders_outside_proxy(std::string_view environment_id, const json& environment,
                                       const std::vector<ExposedVariable>& variables);

void add_session_event_routes(Router& router, store::Store& store);
void add_egress_routes(Router& router, store::Store& store);
void add_sandbox_env_routes(Router& router, store::Store& store, const SandboxEnvSettings& settings);

}  // namespace airlock::control
