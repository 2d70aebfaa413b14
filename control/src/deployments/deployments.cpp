// Deployments (API.md §5, D1-D8): create, retrieve, update, list, archive, pause, unpause and "run now".
//
// A deployment's states:
//   active ──pause──► paused {reason: manual}        active ──scheduled fire fails with an auto-pause
//   paused ──unpause──► active (fires resume from       error──► paused {reason: error, error: {type}}
//                       the next occurrence after now)  active | paused ──archive──► archived (final)
// Pause on a paused deployment and unpause on an active one succeed unchanged; update, pause, unpause and
// run of an archived one are 400. Paused deployments still run manually and still list upcoming_runs_at;
// archived ones list none and report status "active" (the store holds these rules).
//
// What is checked here, at create and update, is what can be checked before a fire: the shapes (with the
// session factory's validators), the agent (exists, not archived; a bare id pins its latest version),
// the environment and the vaults (exist, not archived), and two vaults exposing one secret_name (409,
// API.md §10). What changes later (an environment archived, a vault deleted) is each fire's run error.
// The store tells the scheduler about every change (Store::on_deployment_changed), so no route here
// needs to know it exists.
#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "airlock/cron/cron.hpp"
#include "deployments/deployments.hpp"
#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"
#include "sessions/session_factory.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kIdMax = 256;
constexpr std::size_t kNameMax = 256;
constexpr std::size_t kDescriptionMax = 10000;
constexpr std::size_t kCronFieldMax = 256;
constexpr std::size_t kVaultsMax = 50;
constexpr std::size_t kInitialEventsMin = 1;
constexpr std::size_t kInitialEventsMax = 50;
constexpr std::size_t kUpcomingRuns = 5;

const std::initializer_list<std::string_view> kCreateFields = {
    "agent", "environment_id", "initial_events", "name", "budget", "description", "metadata", "resources",
    "schedule", "vault_ids"};

// What the routes share: the store, the log, and the zones upcoming_runs_at needs.
struct Context {
  store::Store& store;
  SessionRuntime& runtime;
  Logger& log;
  ZoneCache zones;
};

store::Deployment find(store::Store& store, const std::string& id) {
  return take(store.get_deployment(id), "deployment", id);
}

void refuse_if_archived(const store::Deployment& deployment, std::string_view action) {
  if (deployment.archived_at) {
    bad_request(fmt::format("deployment {} is archived; an archived deployment cannot {}", deployment.id, action));
  }
}

// The agent a reference names, at the version it pins: a bare id (or no version) is the latest.
store::Agent take_agent(store::Store& store, const json& body) {
  const json& given = body.at("agent");
  json reference = validate_agent_reference(given, "agent", /*allow_overrides=*/false);
  const std::string id = reference["id"].get<std::string>();
  const std::string path = given.is_string() ? "agent" : "agent.id";
  std::optional<int> version;
  if (reference.contains("version")) version = reference["version"].get<int>();
  auto agent = store.get_agent(id, version);
  if (!agent && agent.error() == store::Errc::not_found) {
    if (version && store.get_agent(id)) not_found(fmt::format("agent.version: agent {} has no version {}", id, *version));
    not_found(fmt::format("{}: agent {} was not found", path, id));
  }
  store::Agent found = take(std::move(agent), "agent", id);
  if (found.archived_at) bad_request(fmt::format("{}: agent {} is archived; deployments need an active agent", path, id));
  return found;
}

std::string take_environment_id(store::Store& store, const json& body) {
  std::string id = required_string(body, "environment_id", "", 1, kIdMax);
  auto environment = store.get_environment(id);
  if (!environment && environment.error() == store::Errc::not_found) {
    not_found(fmt::format("environment_id: environment {} was not found", id), "environment_not_found");
  }
  if (take(std::move(environment), "environment", id).archived_at) {
    bad_request(fmt::format("environment_id: environment {} is archived; deployments need an active environment", id),
                "environment_archived");
  }
  return id;
}

// vault_ids: at most 50 distinct ids of active vaults (what they expose: check_exposed_variables).
json take_vault_ids(store::Store& store, const json& body) {
  json out = json::array();
  const json* vaults = optional_array(body, "vault_ids", "", kVaultsMax);
  if (vaults == nullptr) return out;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < vaults->size(); ++i) {
    const std::string path = index_path("vault_ids", i);
    const json& id = (*vaults)[i];
    if (!id.is_string() || id.get_ref<const std::string&>().empty() || utf8_length(id.get_ref<const std::string&>()) > kIdMax) {
      bad_request(fmt::format("{}: expected a vault id, got {}", path, json_type_name(id)));
    }
    const std::string& vault_id = id.get_ref<const std::string&>();
    if (auto seen = std::find(ids.begin(), ids.end(), vault_id); seen != ids.end()) {
      bad_request(fmt::format("{}: vault {} is already listed at vault_ids[{}]", path, vault_id, seen - ids.begin()));
    }
    auto vault = store.get_vault(vault_id);
    if (!vault && vault.error() == store::Errc::not_found) not_found(fmt::format("{}: vault {} was not found", path, vault_id));
    if (take(std::move(vault), "vault", vault_id).archived_at) {
      bad_request(fmt::format("{}: vault {} is archived; deployments can only use active vaults", path, vault_id));
    }
    ids.push_back(vault_id);
    out.push_back(vault_id);
  }
  return out;
}

// What the deployment's environment and vaults expose, checked as its sessions will be: 409 when two
// vaults define one secret_name, 400 when the environment is self_hosted and any is exposed.
void check_exposed_variables(store::Store& store, const json& doc) {
  const std::string environment_id = doc.value("environment_id", "");
  std::vector<std::string> vault_ids;
  for (const json& id : doc.value("vault_ids", json::array())) vault_ids.push_back(id.get<std::string>());
  std::vector<ExposedVariable> variables = exposed_variables(store, vault_ids);
  auto environment = store.get_environment(environment_id);
  if (environment) refuse_placeholders_outside_proxy(environment_id, parse_doc(environment.value().doc), variables);
}

// schedule: null, or {type: "cron", expression, timezone}, both checked exactly as the scheduler reads
// them (the cron library's messages, prefixed with the field's path).
std::optional<store::CronSpec> take_schedule(const json& body) {
  if (!has(body, "schedule") || is_null(body, "schedule")) return std::nullopt;
  const json& schedule = body["schedule"];
  if (!schedule.is_object()) {
    bad_request(fmt::format("schedule: expected {{type: \"cron\", expression, timezone}} or null, got {}",
                            json_type_name(schedule)));
  }
  reject_unknown_fields(schedule, {"type", "expression", "timezone"}, "schedule");
  if (std::string type = required_string(schedule, "type", "schedule", 1, 16); type != "cron") {
    bad_request(fmt::format("schedule.type: must be \"cron\", got \"{}\"", type));
  }
  std::string expression = required_string(schedule, "expression", "schedule", 1, kCronFieldMax);
  std::string timezone = required_string(schedule, "timezone", "schedule", 1, kCronFieldMax);
  if (auto parsed = cron::parse(expression); !parsed) bad_request(fmt::format("schedule.expression: {}", parsed.error()));
  if (auto zone = cron::find_zone(timezone); !zone) bad_request(fmt::format("schedule.timezone: {}", zone.error()));
  return store::CronSpec{std::move(expression), std::move(timezone)};
}

json take_initial_events(const json& body) {
  if (!has(body, "initial_events") || is_null(body, "initial_events")) {
    bad_request(fmt::format("initial_events: required field is missing; send {} to {} events", kInitialEventsMin,
                            kInitialEventsMax));
  }
  return validate_events(body["initial_events"], "initial_events", kDeploymentEventTypes, kInitialEventsMin,
                         kInitialEventsMax);
}

json take_description(const json& body) {
  auto description = optional_string(body, "description", "", 0, kDescriptionMax);
  return description && !description->empty() ? json(*description) : json(nullptr);  // "" clears
}

json take_budget(const json& body) {
  return has(body, "budget") && !is_null(body, "budget") ? validate_budget(body["budget"], "budget") : json(nullptr);
}

void refuse_null(const json& body, std::string_view key, std::string_view hint) {
  if (is_null(body, key)) bad_request(fmt::format("{}: cannot be cleared; {}", key, hint));
}

Reply create(Context& c, ApiRequest& request) {
  json body = parse_body(request);
  reject_unknown_fields(body, kCreateFields, "");
  // Shapes first, then what they name.
  if (!has(body, "agent") || is_null(body, "agent")) bad_request("agent: required field is missing");
  (void)validate_agent_reference(body["agent"], "agent", /*allow_overrides=*/false);
  std::string name = required_string(body, "name", "", 1, kNameMax);
  json events = take_initial_events(body);
  std::optional<store::CronSpec> schedule = take_schedule(body);
  json resources = validate_resources(has(body, "resources") ? body["resources"] : json(nullptr), "resources");
  json doc = {{"name", name},
              {"description", take_description(body)},
              {"resources", std::move(resources)},
              {"initial_events", std::move(events)},
              {"metadata", metadata_for_create(body, "")},
              {"budget", take_budget(body)}};

  store::Agent agent = take_agent(c.store, body);
  doc["environment_id"] = take_environment_id(c.store, body);
  doc["vault_ids"] = take_vault_ids(c.store, body);
  check_exposed_variables(c.store, doc);

  store::DeploymentFields fields;
  fields.agent_id = agent.id;
  fields.agent_version = agent.version;
  fields.schedule = std::move(schedule);
  fields.doc = doc.dump();
  store::Deployment created = take(c.store.create_deployment(fields), "deployment", "");
  return Reply{200, deployment_json(created, c.store.now(), c.zones), {}};
}

// D3: every field optional; omitted keeps, arrays replace, null clears where the API allows it.
Reply update(Context& c, ApiRequest& request) {
  const std::string& id = request.param("deployment_id");
  json body = parse_body(request);
  reject_unknown_fields(body, kCreateFields, "");
  store::Deployment current = find(c.store, id);
  refuse_if_archived(current, "be updated");

  refuse_null(body, "agent", "omit it to keep the pinned agent");
  refuse_null(body, "environment_id", "omit it to keep the environment");
  refuse_null(body, "name", "omit it to keep the name");
  refuse_null(body, "initial_events", "send 1 to 50 events, or omit it to keep them");

  json doc = parse_doc(current.doc);
  store::DeploymentFields fields;
  fields.agent_id = current.agent_id;
  fields.agent_version = current.agent_version;
  fields.schedule = current.schedule;

  if (has(body, "name")) doc["name"] = required_string(body, "name", "", 1, kNameMax);
  if (has(body, "description")) doc["description"] = take_description(body);
  if (has(body, "initial_events")) doc["initial_events"] = take_initial_events(body);
  if (has(body, "resources")) doc["resources"] = validate_resources(body["resources"], "resources");
  if (has(body, "schedule")) fields.schedule = take_schedule(body);
  if (has(body, "budget")) doc["budget"] = take_budget(body);
  doc["metadata"] = metadata_patch(doc.value("metadata", json::object()), body, "");
  if (has(body, "agent")) {
    store::Agent agent = take_agent(c.store, body);  // a bare id re-pins to the latest version
    fields.agent_id = agent.id;
    fields.agent_version = agent.version;
  }
  if (has(body, "environment_id")) doc["environment_id"] = take_environment_id(c.store, body);
  if (has(body, "vault_ids")) doc["vault_ids"] = take_vault_ids(c.store, body);  // null or [] clears
  if (has(body, "environment_id") || has(body, "vault_ids")) check_exposed_variables(c.store, doc);

  fields.doc = doc.dump();
  store::Deployment updated = take(c.store.update_deployment(id, fields), "deployment", id);
  return Reply{200, deployment_json(updated, c.store.now(), c.zones), {}};
}

Reply list(Context& c, ApiRequest& request) {
  store::DeploymentQuery query;
  static_cast<store::ListQuery&>(query) = list_query(request);
  if (auto status = request.query_value("status")) {
    if (request.query_value("include_archived")) {
      bad_request("status: cannot be combined with include_archived (archived deployments report status active); "
                  "send one of the two");
    }
    if (*status != "active" && *status != "paused") {
      bad_request(fmt::format("status: must be active or paused, got \"{}\"", *status));
    }
    query.status = *status;
  }
  query.agent_id = request.query_value("agent_id");
  auto page = take(c.store.list_deployments(query), "deployments", "");
  const auto now = c.store.now();
  return Reply{200, page_json(page, [&](const store::Deployment& d) { return deployment_json(d, now, c.zones); }), {}};
}

Reply run_now(Context& c, ApiRequest& request) {
  const std::string& id = request.param("deployment_id");
  store::Deployment deployment = find(c.store, id);
  refuse_if_archived(deployment, "run");
  // In the request's transaction: the run, its session and its outcome commit together, so a manual
  // run is never left unfinished. A session that cannot be created is the run's error, with a 200.
  store::DeploymentRun begun = take(c.store.begin_run(new_run(deployment, std::nullopt)), "deployment", id);
  return Reply{200, run_json(finish_run(c.store, begun, deployment, c.runtime, c.log)), {}};
}

// pause, unpause, archive: one store transition each.
template <class Transition>
Reply transition(Context& c, ApiRequest& request, std::string_view action, Transition apply) {
  const std::string& id = request.param("deployment_id");
  store::Deployment deployment = find(c.store, id);
  if (!action.empty()) refuse_if_archived(deployment, action);
  return Reply{200, deployment_json(take(apply(id), "deployment", id), c.store.now(), c.zones), {}};
}

std::string nominal_text(date::sys_seconds t) { return cron::format_rfc3339(t); }

}  // namespace

const cron::Zone* ZoneCache::find(const std::string& name) {
  if (auto it = zones_.find(name); it != zones_.end()) return it->second.get();
  auto zone = cron::find_zone(name);
  if (!zone) return nullptr;
  return zones_.emplace(name, std::make_shared<const cron::Zone>(std::move(*zone))).first->second.get();
}

json deployment_json(const store::Deployment& deployment, std::chrono::system_clock::time_point now, ZoneCache& zones) {
  json doc = parse_doc(deployment.doc);
  json schedule = nullptr;
  if (deployment.schedule) {
    json upcoming = json::array();
    if (!deployment.archived_at) {
      auto parsed = cron::parse(deployment.schedule->expression);
      const cron::Zone* zone = zones.find(deployment.schedule->timezone);
      // Both were valid when stored; a tz database update could remove a zone, and then nothing is listed.
      if (parsed && zone != nullptr) {
        // Fires count only after fire_after (the scheduler's rule), which is later than now after the clock
        // went back: a minute that has run already is not upcoming.
        cron::Instant from = std::chrono::floor<std::chrono::microseconds>(now);
        if (auto fired_until = cron::parse_rfc3339(deployment.fire_after)) from = std::max(from, *fired_until);
        for (date::sys_seconds fire : cron::next_fires(*parsed, *zone, from, kUpcomingRuns)) {
          upcoming.push_back(nominal_text(fire));
        }
      }
    }
    schedule = {{"type", "cron"},
                {"expression", deployment.schedule->expression},
                {"timezone", deployment.schedule->timezone},
                {"last_run_at", deployment.last_run_at ? json(*deployment.last_run_at) : json(nullptr)},
                {"upcoming_runs_at", std::move(upcoming)}};
  }
  json paused_reason = nullptr;
  if (deployment.status == "paused") {
    const std::string reason = deployment.paused_reason.value_or("manual");
    paused_reason = reason == "manual" ? json{{"type", "manual"}}
                                       : json{{"type", "error"}, {"error", {{"type", reason}}}};
  }
  json out = {{"type", "deployment"},
              {"id", deployment.id},
              {"name", doc.value("name", "")},
              {"description", doc.value("description", json(nullptr))},
              {"agent", {{"id", deployment.agent_id}, {"type", "agent"}, {"version", deployment.agent_version}}},
              {"environment_id", doc.value("environment_id", "")},
              {"vault_ids", doc.value("vault_ids", json::array())},
              {"resources", doc.value("resources", json::array())},
              {"initial_events", doc.value("initial_events", json::array())},
              {"schedule", std::move(schedule)},
              {"status", deployment.status},
              {"paused_reason", std::move(paused_reason)},
              {"metadata", doc.value("metadata", json::object())}};
  // API.md §5: budget "may be absent"; the SDK documents it as absent when no budget is set.
  if (json budget = doc.value("budget", json(nullptr)); !budget.is_null()) out["budget"] = std::move(budget);
  out.update(timestamps_json(deployment.created_at, deployment.updated_at, deployment.archived_at));
  return out;
}

void add_deployment_routes(Router& router, store::Store& store, SessionRuntime& runtime, Logger& log) {
  auto c = std::make_shared<Context>(Context{store, runtime, log, {}});  // shared by the handlers, owned by the router
  router.add("POST", "/v1/deployments", [c](ApiRequest& r) { return create(*c, r); });
  router.add("GET", "/v1/deployments", [c](ApiRequest& r) { return list(*c, r); });
  router.add("GET", "/v1/deployments/{deployment_id}", [c](ApiRequest& r) {
    return Reply{200, deployment_json(find(c->store, r.param("deployment_id")), c->store.now(), c->zones), {}};
  });
  router.add("POST", "/v1/deployments/{deployment_id}", [c](ApiRequest& r) { return update(*c, r); });
  router.add("POST", "/v1/deployments/{deployment_id}/archive", [c](ApiRequest& r) {
    return transition(*c, r, "", [&](const std::string& id) { return c->store.archive_deployment(id); });
  });
  router.add("POST", "/v1/deployments/{deployment_id}/pause", [c](ApiRequest& r) {
    return transition(*c, r, "be paused", [&](const std::string& id) { return c->store.pause_deployment(id, "manual"); });
  });
  router.add("POST", "/v1/deployments/{deployment_id}/unpause", [c](ApiRequest& r) {
    return transition(*c, r, "be unpaused", [&](const std::string& id) { return c->store.unpause_deployment(id); });
  });
  router.add("POST", "/v1/deployments/{deployment_id}/run", [c](ApiRequest& r) { return run_now(*c, r); });
  add_deployment_run_routes(router, store);
}

}  // namespace airlock::control
