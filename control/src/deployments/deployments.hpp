// Deployments and deployment runs (API.md §5), shared by the routes (deployments.cpp: D1-D8,
// deployment_runs.cpp: R1-R2) and the scheduler (scheduler.cpp).
//
// A run is made in one way whoever triggers it: begin_run writes the run row, then finish_run creates
// the session through create_session (session_factory.hpp, the same function as POST /v1/sessions) with
// the deployment's pinned agent version, environment, vaults, resources, budget and initial events, and
// records the session id, or the error and its run error type, in one transaction. A scheduled fire
// commits the run row on its own first (claiming the nominal instant), so that a crash between the two
// steps leaves an unfinished row that the next start finishes, and never a second run.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "airlock/store/store.hpp"
#include "api/common/api.hpp"
#include "daemon/log.hpp"
#include "http/router.hpp"

namespace airlock::cron {
class Zone;
}

namespace airlock::control {

class SessionRuntime;

inline constexpr std::string_view kRunErrorUnknown = "unknown_error";

// Whether a scheduled fire that fails with this run error type pauses its deployment (API.md §5's
// PausedErrorType list). session_rate_limited_error and session_creation_rejected_error do not.
bool auto_pauses(std::string_view run_error_type);

// Zones looked up once each (cron::find_zone reads the zone's file). Owned by its user; one thread.
class ZoneCache {
 public:
  // The zone, or nullptr for a name the tz database does not have (any more).
  const cron::Zone* find(const std::string& name);

 private:
  std::map<std::string, std::shared_ptr<const cron::Zone>, std::less<>> zones_;
};

// The Deployment object. upcoming_runs_at lists the 5 nominal fires strictly after `now` (none once
// archived).
json deployment_json(const store::Deployment& deployment, std::chrono::system_clock::time_point now, ZoneCache& zones);

// The DeploymentRun object (a finished run).
json run_json(const store::DeploymentRun& run);

// Finishes an unfinished run of `deployment`: creates the session and records it, or records the error
// the creation ended in (and pauses the deployment when the run is scheduled and the error auto-pauses),
// in one transaction (a savepoint of the caller's, if one is open). Unexpected failures of the session
// creation are recorded as unknown_error and logged with the run id; a failure to write the outcome
// throws (the run stays unfinished).
store::DeploymentRun finish_run(store::Store& store, const store::DeploymentRun& run,
                                const store::Deployment& deployment, SessionRuntime& runtime, Logger& log);

// The unfinished run for one trigger of `deployment` (manual when scheduled_at is nullopt).
store::NewRun new_run(const store::Deployment& deployment, std::optional<std::string> scheduled_at);

// R1-R2; add_deployment_routes (resources.hpp, D1-D8) registers them too.
void add_deployment_run_routes(Router& router, store::Store& store);

}  // namespace airlock::control
