// Deployment runs (API.md §5): making one (finish_run, shared by "run now" and the scheduler), its JSON
// shape, and the read-only routes R1 (retrieve) and R2 (list).
//
// A run's states (the store enforces them; see store/src/deployments.cpp):
//   unfinished ──session created──► finished {session_id, error: null}
//   unfinished ──creation refused──► finished {session_id: null, error: {type, message}}
// Only finished runs are visible. The error type comes from the refusal: SessionCreationError names it
// (session_rate_limited_error included: the runtime's limit throws one), any other API refusal is
// session_creation_rejected_error, and an unexpected failure unknown_error (its cause goes to the log,
// not to the run).
#include <algorithm>
#include <array>
#include <variant>

#include <fmt/format.h>

#include "airlock/cron/cron.hpp"
#include "deployments/deployments.hpp"
#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"
#include "sessions/session_factory.hpp"

namespace airlock::control {
namespace {

// API.md §5 PausedErrorType.
constexpr std::array<std::string_view, 14> kAutoPauseErrors = {
    "environment_archived_error", "agent_archived_error",        "environment_not_found_error",
    "vault_not_found_error",      "vault_archived_error",        "file_not_found_error",
    "memory_store_archived_error", "skill_not_found_error",      "session_resource_not_found_error",
    "workspace_archived_error",   "organization_disabled_error", "self_hosted_resources_unsupported_error",
    "mcp_egress_blocked_error",   "unknown_error"};

// What create_session is asked for, from the deployment's pinned agent and stored fields.
SessionRequest session_request(const store::Deployment& deployment) {
  json doc = parse_doc(deployment.doc);
  SessionRequest request;
  request.agent = {{"id", deployment.agent_id}, {"type", "agent"}, {"version", deployment.agent_version}};
  request.environment_id = doc.value("environment_id", "");
  for (const json& id : doc.value("vault_ids", json::array())) request.vault_ids.push_back(id.get<std::string>());
  request.resources = doc.value("resources", json::array());
  request.initial_events = doc.value("initial_events", json::array());
  request.budget = doc.value("budget", json(nullptr));
  request.deployment_id = deployment.id;
  return request;
}

struct Refusal {
  std::string type;
  std::string message;
};

// Creates the session; the refusal when it cannot be created. Runs inside finish_run's transaction,
// and create_session's own savepoint undoes a half-made session.
std::variant<std::string, Refusal> create_session_for(store::Store& store, const store::DeploymentRun& run,
                                                      const store::Deployment& deployment, SessionRuntime& runtime,
                                                      Logger& log) {
  try {
    json session = create_session(store, session_request(deployment), runtime);
    return session.at("id").get<std::string>();
  } catch (const SessionCreationError& e) {
    return Refusal{e.run_error_type(), e.what()};
  } catch (const ApiError& e) {
    return Refusal{std::string(kRunErrorRejected), e.what()};
  } catch (const std::exception& e) {
    // Store and JSON messages never carry a secret value; still, the run gets a generic message.
    log.error("deployment run {} of {}: creating the session failed: {}", run.id, deployment.id, e.what());
    return Refusal{std::string(kRunErrorUnknown),
                   fmt::format("internal error while creating the session; the daemon's log has the cause under run {}",
                               run.id)};
  }
}

std::string scheduled_at_text(const std::string& stored) {
  // Stored with microseconds; shown like upcoming_runs_at, in whole seconds (nominal fires are whole).
  if (auto instant = cron::parse_rfc3339(stored)) {
    return cron::format_rfc3339(std::chrono::floor<std::chrono::seconds>(*instant));
  }
  return stored;
}

Reply list(store::Store& store, ApiRequest& request) {
  store::RunQuery query;
  static_cast<store::ListQuery&>(query) = list_query(request);
  query.include_archived = true;  // runs are never archived
  query.deployment_id = request.query_value("deployment_id");
  if (auto trigger = request.query_value("trigger_type")) {
    if (*trigger != "manual" && *trigger != "schedule") {
      bad_request(fmt::format("trigger_type: must be manual or schedule, got \"{}\"", *trigger));
    }
    query.trigger_type = *trigger;
  }
  if (request.query_value("has_error")) query.has_error = query_bool(request, "has_error", false);
  return Reply{200, page_json(take(store.list_runs(query), "deployment runs", ""), run_json), {}};
}

}  // namespace

bool auto_pauses(std::string_view run_error_type) {
  return std::find(kAutoPauseErrors.begin(), kAutoPauseErrors.end(), run_error_type) != kAutoPauseErrors.end();
}

store::NewRun new_run(const store::Deployment& deployment, std::optional<std::string> scheduled_at) {
  store::NewRun run;
  run.deployment_id = deployment.id;
  run.agent_id = deployment.agent_id;
  run.agent_version = deployment.agent_version;
  run.scheduled_at = std::move(scheduled_at);
  return run;
}

store::DeploymentRun finish_run(store::Store& store, const store::DeploymentRun& run,
                                const store::Deployment& deployment, SessionRuntime& runtime, Logger& log) {
  store::Store::Transaction transaction(store);  // the session, the outcome and any auto-pause, or none
  auto outcome = create_session_for(store, run, deployment, runtime, log);
  store::DeploymentRun finished;
  if (const auto* session_id = std::get_if<std::string>(&outcome)) {
    finished = take(store.finish_run_with_session(run.id, *session_id), "deployment run", run.id);
  } else {
    const auto& refusal = std::get<Refusal>(outcome);
    finished = take(store.finish_run_with_error(run.id, refusal.type, refusal.message), "deployment run", run.id);
    // Only scheduled fires pause (API.md §5): a person who pressed "run" sees the error in the reply.
    if (run.scheduled_at && auto_pauses(refusal.type)) {
      take(store.pause_deployment(deployment.id, refusal.type), "deployment", deployment.id);
      log.warn("deployment {} paused: its scheduled run {} failed with {}", deployment.id, run.id, refusal.type);
    }
  }
  if (auto ec = transaction.commit()) throw std::system_error(ec);
  return finished;
}

json run_json(const store::DeploymentRun& run) {
  json trigger = run.scheduled_at ? json{{"type", "schedule"}, {"scheduled_at", scheduled_at_text(*run.scheduled_at)}}
                                  : json{{"type", "manual"}};
  json error = run.error_type ? json{{"type", *run.error_type}, {"message", run.error_message.value_or("")}}
                              : json(nullptr);
  return {{"type", "deployment_run"},
          {"id", run.id},
          {"deployment_id", run.deployment_id},
          {"agent", {{"id", run.agent_id}, {"type", "agent"}, {"version", run.agent_version}}},
          {"trigger_context", std::move(trigger)},
          {"session_id", run.session_id ? json(*run.session_id) : json(nullptr)},
          {"error", std::move(error)},
          {"created_at", run.created_at}};
}

void add_deployment_run_routes(Router& router, store::Store& store) {
  router.add("GET", "/v1/deployment_runs", [&store](ApiRequest& r) { return list(store, r); });
  router.add("GET", "/v1/deployment_runs/{deployment_run_id}", [&store](ApiRequest& r) {
    const std::string& id = r.param("deployment_run_id");
    return Reply{200, run_json(take(store.get_run(id), "deployment run", id)), {}};
  });
}

}  // namespace airlock::control
