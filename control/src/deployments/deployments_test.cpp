// Deployments and deployment runs through the REST plane (API.md §5): the Deployment object, validation
// messages, update semantics, the list filters, the lifecycle rules, and manual runs (a session through
// the session factory, or a run that carries the error).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "deployment_test_support.hpp"

namespace airlock::control {
namespace {

using testing::bad;
using testing::cron_schedule;
using testing::DeploymentFixture;
using testing::refusal;
using testing::user_message;

std::vector<std::string> keys_of(const json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

TEST_CASE("D1 create: the Deployment object, with the agent pinned and five upcoming fires") {
  DeploymentFixture f;
  std::string vault = f.create_vault();
  json created = f.create_deployment({{"vault_ids", {vault}},
                                      {"description", "Morning digest"},
                                      {"metadata", {{"team", "sre"}}},
                                      {"budget", {{"type", "limit"}, {"max_list_cost", {{"amount", "2500"}, {"currency", "USD"}}}}}});
  CHECK(keys_of(created) == std::vector<std::string>{"agent", "archived_at", "budget", "created_at", "description",
                                                      "environment_id", "id", "initial_events", "metadata", "name",
                                                      "paused_reason", "resources", "schedule", "status", "type",
                                                      "updated_at", "vault_ids"});
  CHECK(created["type"] == "deployment");
  CHECK(created["id"].get<std::string>().starts_with("depl_01"));
  CHECK(created["name"] == "weekday-health-digest");
  CHECK(created["description"] == "Morning digest");
  CHECK(created["agent"] == json{{"id", f.agent}, {"type", "agent"}, {"version", 1}});
  CHECK(created["environment_id"] == f.environment);
  CHECK(created["vault_ids"] == json{vault});
  CHECK(created["resources"] == json::array());
  CHECK(created["initial_events"] == json::array({user_message("Summarise last night's alerts.")}));
  CHECK(created["status"] == "active");
  CHECK(created["paused_reason"] == nullptr);
  CHECK(created["metadata"] == json{{"team", "sre"}});
  CHECK(created["budget"] == json{{"type", "limit"}, {"max_list_cost", {{"amount", "2500"}, {"currency", "USD"}}}});
  CHECK(created["created_at"] == "2026-11-27T02:21:22.123456Z");
  CHECK(created["updated_at"] == "2026-11-27T02:21:22.123456Z");
  CHECK(created["archived_at"] == nullptr);
  // Friday 2026-11-27 02:21 UTC: the next five weekday 09:00s.
  CHECK(created["schedule"] == json{{"type", "cron"},
                                    {"expression", "0 9 * * 1-5"},
                                    {"timezone", "UTC"},
                                    {"last_run_at", nullptr},
                                    {"upcoming_runs_at",
                                     {"2026-11-27T09:00:00Z", "2026-11-30T09:00:00Z", "2026-12-01T09:00:00Z",
                                      "2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z"}}});
  CHECK(f.deployment(created["id"]) == created);

  // No budget: the field is absent. No schedule: null (manual runs only).
  json manual = f.create_deployment({}, nullptr);
  CHECK_FALSE(manual.contains("budget"));
  CHECK(manual["schedule"] == nullptr);
  CHECK(manual["description"] == nullptr);
  CHECK(manual["metadata"] == json::object());
  CHECK(manual["vault_ids"] == json::array());

  // upcoming_runs_at moves with the clock and follows the zone's wall clock.
  f.advance(std::chrono::hours(24 * 200));  // 2027-06-15, New York on daylight time
  json ny = f.create_deployment({}, cron_schedule("30 6 * * *", "America/New_York"));
  CHECK(ny["schedule"]["upcoming_runs_at"][0] == "2027-06-15T10:30:00Z");
  CHECK(ny["schedule"]["upcoming_runs_at"].size() == 5);
}

TEST_CASE("D1 create: the agent reference pins a version, string means the latest") {
  DeploymentFixture f;
  f.ok_post("/v1/agents/" + f.agent, {{"system", "v2"}});
  CHECK(f.create_deployment()["agent"]["version"] == 2);
  CHECK(f.create_deployment({{"agent", {{"id", f.agent}, {"type", "agent"}, {"version", 1}}}})["agent"]["version"] == 1);
  CHECK(f.create_deployment({{"agent", {{"id", f.agent}, {"type", "agent"}}}})["agent"]["version"] == 2);
}

TEST_CASE("D1 create: refusals name the field and what is accepted") {
  DeploymentFixture f;
  auto refused = [&](const json& changes, json schedule = cron_schedule("0 9 * * 1-5")) {
    json body = f.deployment_body(std::move(schedule));
    if (changes.is_object()) body.update(changes);
    for (auto it = changes.begin(); it != changes.end(); ++it) {
      if (it.value() == "<absent>") body.erase(it.key());
    }
    return refusal(f.post("/v1/deployments", body));
  };
  CHECK(refused({}, cron_schedule("60 9 * * *")) == bad("schedule.expression: minute field: 60 is out of range 0-59"));
  CHECK(refused({}, cron_schedule("0 9 * * *", "Mars/Olympus")) ==
        bad("schedule.timezone: unknown time zone \"Mars/Olympus\""));
  CHECK(refused({}, cron_schedule("@daily")).starts_with("400 invalid_request_error: schedule.expression: "));
  CHECK(refused({}, json{{"type", "cron"}, {"expression", "0 9 * * *"}}) == bad("schedule.timezone: required field is missing"));
  CHECK(refused({}, json{{"type", "rrule"}, {"expression", "x"}, {"timezone", "UTC"}}) ==
        bad("schedule.type: must be \"cron\", got \"rrule\""));
  CHECK(refused({{"name", "<absent>"}}) == bad("name: required field is missing"));
  CHECK(refused({{"agent", "<absent>"}}) == bad("agent: required field is missing"));
  CHECK(refused({{"initial_events", "<absent>"}}) == bad("initial_events: required field is missing; send 1 to 50 events"));
  CHECK(refused({{"initial_events", json::array()}}) == bad("initial_events: at least 1 event is required"));
  CHECK(refused({{"environment_id", "<absent>"}}) == bad("environment_id: required field is missing"));
  CHECK(refused({{"surprise", 1}}).starts_with("400 invalid_request_error: surprise: "));

  CHECK(refused({{"agent", "agent_01missing"}}) == "404 not_found_error: agent: agent agent_01missing was not found");
  CHECK(refused({{"environment_id", "env_01missing"}}) ==
        "404 not_found_error: environment_id: environment env_01missing was not found [environment_not_found]");
  CHECK(refused({{"vault_ids", {"vlt_01missing"}}}) == "404 not_found_error: vault_ids[0]: vault vlt_01missing was not found");

  std::string vault = f.create_vault();
  CHECK(refused({{"vault_ids", {vault, vault}}}) ==
        bad(fmt::format("vault_ids[1]: vault {} is already listed at vault_ids[0]", vault)));
  f.ok_post("/v1/vaults/" + vault + "/archive");
  CHECK(refused({{"vault_ids", {vault}}}) ==
        bad(fmt::format("vault_ids[0]: vault {} is archived; deployments can only use active vaults", vault)));

  // Two vaults exposing one secret_name (API.md §10).
  std::string a = f.create_vault("A");
  std::string b = f.create_vault("B");
  f.create_env_credential(a, "METRICS_TOKEN");
  f.create_env_credential(b, "METRICS_TOKEN");
  testing::Response clash = f.post("/v1/deployments", [&] {
    json body = f.deployment_body();
    body["vault_ids"] = {a, b};
    return body;
  }());
  CHECK(clash.status == 409);
  CHECK(clash.header("x-should-retry") == "false");

  f.ok_post("/v1/environments/" + f.environment + "/archive");
  CHECK(refused({}) == fmt::format("400 invalid_request_error: environment_id: environment {} is archived; deployments need "
                                   "an active environment [environment_archived]",
                                   f.environment));
  f.ok_post("/v1/agents/" + f.agent + "/archive");
  CHECK(refused({}) == bad(fmt::format("agent: agent {} is archived; deployments need an active agent", f.agent)));
  CHECK(f.ok_get("/v1/deployments?include_archived=true")["data"] == json::array());  // nothing was written
}

TEST_CASE("D3 update: omit keeps, arrays replace, null clears where allowed, metadata patches") {
  DeploymentFixture f;
  std::string vault = f.create_vault();
  json created = f.create_deployment({{"vault_ids", {vault}}, {"description", "d"}, {"metadata", {{"a", "1"}, {"b", "2"}}}});
  const std::string id = created["id"];
  f.advance(std::chrono::minutes(1));

  json same = f.ok_post("/v1/deployments/" + id, json::object());
  CHECK(same["name"] == created["name"]);
  CHECK(same["vault_ids"] == created["vault_ids"]);
  CHECK(same["schedule"] == created["schedule"]);

  json updated = f.ok_post("/v1/deployments/" + id, {{"name", "renamed"},
                                                     {"description", ""},
                                                     {"vault_ids", nullptr},
                                                     {"metadata", {{"a", nullptr}, {"c", "3"}}},
                                                     {"initial_events", {user_message("one"), user_message("two")}},
                                                     {"schedule", cron_schedule("*/15 * * * *", "Europe/Paris")}});
  CHECK(updated["name"] == "renamed");
  CHECK(updated["description"] == nullptr);
  CHECK(updated["vault_ids"] == json::array());
  CHECK(updated["metadata"] == json{{"b", "2"}, {"c", "3"}});
  CHECK(updated["initial_events"] == json{user_message("one"), user_message("two")});
  CHECK(updated["schedule"]["expression"] == "*/15 * * * *");
  CHECK(updated["schedule"]["timezone"] == "Europe/Paris");
  CHECK(updated["schedule"]["upcoming_runs_at"][0] == "2026-11-27T02:30:00Z");
  CHECK(updated["updated_at"] == "2026-11-27T02:22:22.123456Z");
  CHECK(updated["created_at"] == created["created_at"]);

  json cleared = f.ok_post("/v1/deployments/" + id, {{"schedule", nullptr}, {"description", nullptr}});
  CHECK(cleared["schedule"] == nullptr);

  // A bare agent id re-pins to the latest version; omitting it keeps the pinned one.
  f.ok_post("/v1/agents/" + f.agent, {{"system", "v2"}});
  CHECK(f.ok_post("/v1/deployments/" + id, {{"name", "x"}})["agent"]["version"] == 1);
  CHECK(f.ok_post("/v1/deployments/" + id, {{"agent", f.agent}})["agent"]["version"] == 2);

  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"name", nullptr}})) ==
        bad("name: cannot be cleared; omit it to keep the name"));
  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"agent", nullptr}})) ==
        bad("agent: cannot be cleared; omit it to keep the pinned agent"));
  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"environment_id", nullptr}})) ==
        bad("environment_id: cannot be cleared; omit it to keep the environment"));
  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"initial_events", nullptr}})) ==
        bad("initial_events: cannot be cleared; send 1 to 50 events, or omit it to keep them"));
  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"name", ""}})).starts_with("400 invalid_request_error: name: "));
  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"schedule", cron_schedule("0 0 30 2 *")}})).starts_with(
      "400 invalid_request_error: schedule.expression: "));
  CHECK(refusal(f.post("/v1/deployments/depl_01missing", json::object())) ==
        "404 not_found_error: deployment depl_01missing was not found");
}

TEST_CASE("D4 list: filters, pagination, and status with include_archived is refused") {
  DeploymentFixture f;
  std::string other_agent = f.ok_post("/v1/agents", {{"name", "other"}, {"model", "claude-opus-5-5"}})["id"];
  std::vector<std::string> ids;  // oldest first
  for (int i = 0; i < 5; ++i) {
    ids.push_back(f.create_deployment(i == 4 ? json{{"agent", other_agent}} : json::object())["id"]);
    f.advance(std::chrono::seconds(1));
  }
  f.ok_post("/v1/deployments/" + ids[1] + "/pause");
  f.ok_post("/v1/deployments/" + ids[2] + "/archive");

  CHECK(f.ids(f.ok_get("/v1/deployments")) == std::vector<std::string>{ids[4], ids[3], ids[1], ids[0]});
  CHECK(f.ids(f.ok_get("/v1/deployments?include_archived=true")) ==
        std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]});
  CHECK(f.ids(f.ok_get("/v1/deployments?status=paused")) == std::vector<std::string>{ids[1]});
  CHECK(f.ids(f.ok_get("/v1/deployments?status=active")) == std::vector<std::string>{ids[4], ids[3], ids[0]});
  CHECK(f.ids(f.ok_get("/v1/deployments?agent_id=" + other_agent)) == std::vector<std::string>{ids[4]});
  CHECK(f.ids(f.ok_get("/v1/deployments?created_at%5Bgte%5D=2026-11-27T02:21:23.123456Z&created_at%5Blte%5D=2026-11-27T02:"
                       "21:25.123456Z&include_archived=true")) == std::vector<std::string>{ids[3], ids[2], ids[1]});

  json first = f.ok_get("/v1/deployments?limit=2");
  CHECK(f.ids(first) == std::vector<std::string>{ids[4], ids[3]});
  json second = f.ok_get("/v1/deployments?limit=2&page=" + first["next_page"].get<std::string>());
  CHECK(f.ids(second) == std::vector<std::string>{ids[1], ids[0]});
  CHECK(second["next_page"] == nullptr);

  CHECK(refusal(f.get("/v1/deployments?status=paused&include_archived=true")) ==
        bad("status: cannot be combined with include_archived (archived deployments report status active); send one of "
            "the two"));
  CHECK(refusal(f.get("/v1/deployments?status=paused&include_archived=false")).starts_with(
      "400 invalid_request_error: status: cannot be combined"));
  CHECK(refusal(f.get("/v1/deployments?status=archived")) == bad("status: must be active or paused, got \"archived\""));
}

TEST_CASE("D5-D7 lifecycle: pause, unpause, archive, idempotent where allowed, final once archived") {
  DeploymentFixture f;
  const std::string id = f.create_deployment()["id"];
  const std::string base = "/v1/deployments/" + id;

  json paused = f.ok_post(base + "/pause");
  CHECK(paused["status"] == "paused");
  CHECK(paused["paused_reason"] == json{{"type", "manual"}});
  CHECK(paused["schedule"]["upcoming_runs_at"].size() == 5);  // what would fire if unpaused
  json again = f.ok_post(base + "/pause");
  CHECK(again == paused);

  json active = f.ok_post(base + "/unpause");
  CHECK(active["status"] == "active");
  CHECK(active["paused_reason"] == nullptr);
  CHECK(f.ok_post(base + "/unpause") == active);

  f.ok_post(base + "/pause");
  f.advance(std::chrono::minutes(1));
  json archived = f.ok_post(base + "/archive");
  CHECK(archived["archived_at"] == "2026-11-27T02:22:22.123456Z");
  CHECK(archived["status"] == "active");
  CHECK(archived["paused_reason"] == nullptr);
  CHECK(archived["schedule"]["upcoming_runs_at"] == json::array());
  CHECK(archived["schedule"]["last_run_at"] == nullptr);
  CHECK(f.ok_post(base + "/archive") == archived);

  const std::string why = fmt::format("deployment {} is archived; an archived deployment cannot ", id);
  CHECK(refusal(f.post(base + "/pause")) == bad(why + "be paused"));
  CHECK(refusal(f.post(base + "/unpause")) == bad(why + "be unpaused"));
  CHECK(refusal(f.post(base + "/run")) == bad(why + "run"));
  CHECK(refusal(f.post(base, json{{"name", "x"}})) == bad(why + "be updated"));
  CHECK(f.deployment(id) == archived);

  for (const char* action : {"pause", "unpause", "archive", "run"}) {
    CHECK(refusal(f.post(fmt::format("/v1/deployments/depl_01missing/{}", action))) ==
          "404 not_found_error: deployment depl_01missing was not found");
  }
}

TEST_CASE("D8 run: a manual run creates the session through the session factory, even while paused") {
  DeploymentFixture f;
  std::string vault = f.create_vault();
  json created = f.create_deployment({{"vault_ids", {vault}},
                                      {"budget", {{"type", "limit"}, {"max_list_cost", {{"amount", "100"}, {"currency", "USD"}}}}}});
  const std::string id = created["id"];
  f.ok_post("/v1/deployments/" + id + "/pause");
  f.advance(std::chrono::seconds(5));

  json run = f.ok_post("/v1/deployments/" + id + "/run");
  CHECK(keys_of(run) == std::vector<std::string>{"agent", "created_at", "deployment_id", "error", "id", "session_id",
                                                  "trigger_context", "type"});
  CHECK(run["type"] == "deployment_run");
  CHECK(run["id"].get<std::string>().starts_with("drun_01"));
  CHECK(run["deployment_id"] == id);
  CHECK(run["agent"] == json{{"id", f.agent}, {"type", "agent"}, {"version", 1}});
  CHECK(run["trigger_context"] == json{{"type", "manual"}});
  CHECK(run["error"] == nullptr);
  CHECK(run["created_at"] == "2026-11-27T02:21:27.123456Z");

  json session = f.ok_get("/v1/sessions/" + run["session_id"].get<std::string>());
  CHECK(session["deployment_id"] == id);
  CHECK(session["vault_ids"] == json{vault});
  CHECK(session["environment_id"] == f.environment);
  CHECK(session["agent"]["version"] == 1);
  CHECK(session["budget"] == created["budget"]);
  json events = f.ok_get("/v1/sessions/" + run["session_id"].get<std::string>() + "/events")["data"];
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "user.message");
  CHECK(events[0]["content"] == user_message("Summarise last night's alerts.")["content"]);

  // Manual runs never move last_run_at, and never unpause.
  json after = f.deployment(id);
  CHECK(after["schedule"]["last_run_at"] == nullptr);
  CHECK(after["status"] == "paused");

  CHECK(f.ok_get("/v1/deployment_runs/" + run["id"].get<std::string>()) == run);
  CHECK(f.runs_of(id) == json::array({run}));
}

TEST_CASE("D8 run: a session that cannot be created is a 200 whose run carries the error, manual runs never pause") {
  DeploymentFixture f;
  std::string vault = f.create_vault();
  const std::string id = f.create_deployment({{"vault_ids", {vault}}})["id"];

  f.ok_post("/v1/vaults/" + vault + "/archive");
  json vault_archived = f.ok_post("/v1/deployments/" + id + "/run");
  CHECK(vault_archived["session_id"] == nullptr);
  CHECK(vault_archived["error"] ==
        json{{"type", "vault_archived_error"},
             {"message", fmt::format("vault_ids[0]: vault {} is archived; sessions can only use active vaults", vault)}});

  f.ok_post("/v1/environments/" + f.environment + "/archive");
  json environment_archived = f.ok_post("/v1/deployments/" + id + "/run");
  CHECK(environment_archived["error"]["type"] == "environment_archived_error");

  CHECK(f.deployment(id)["status"] == "active");
  CHECK(f.ok_get("/v1/sessions")["data"] == json::array());
  CHECK(f.runs_of(id).size() == 2);
}

TEST_CASE("R2 list: filters by deployment, trigger, error and created_at, unknown deployment is empty") {
  DeploymentFixture f;
  const std::string a = f.create_deployment()["id"];
  const std::string b = f.create_deployment()["id"];
  std::vector<std::string> runs;  // oldest first
  auto run = [&](const std::string& id) {
    f.advance(std::chrono::seconds(1));
    runs.push_back(f.ok_post("/v1/deployments/" + id + "/run")["id"]);
  };
  run(a);  // 0 ok
  run(b);  // 1 ok
  f.ok_post("/v1/environments/" + f.environment + "/archive");
  run(a);  // 2 error
  run(b);  // 3 error

  CHECK(f.ids(f.ok_get("/v1/deployment_runs")) == std::vector<std::string>{runs[3], runs[2], runs[1], runs[0]});
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?deployment_id=" + a)) == std::vector<std::string>{runs[2], runs[0]});
  CHECK(f.ok_get("/v1/deployment_runs?deployment_id=depl_01missing") == json{{"data", json::array()}, {"next_page", nullptr}});
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?has_error=true")) == std::vector<std::string>{runs[3], runs[2]});
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?has_error=false&deployment_id=" + b)) == std::vector<std::string>{runs[1]});
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?trigger_type=manual&limit=3")).size() == 3);
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?trigger_type=schedule")).empty());
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?created_at%5Bgt%5D=2026-11-27T02:21:23.123456Z&created_at%5Blt%5D=2026-11-27T02:"
                       "21:26.123456Z")) == std::vector<std::string>{runs[2], runs[1]});
  CHECK(f.ids(f.ok_get("/v1/deployment_runs?created_at%5Bgte%5D=2026-11-27T02:21:23.123456Z&created_at%5Blte%5D=2026-11-27T02:"
                       "21:26.123456Z")) == std::vector<std::string>{runs[3], runs[2], runs[1], runs[0]});

  CHECK(refusal(f.get("/v1/deployment_runs?trigger_type=cron")) == bad("trigger_type: must be manual or schedule, got \"cron\""));
  CHECK(refusal(f.get("/v1/deployment_runs?has_error=yes")) == bad("has_error: expected true or false, got \"yes\""));
  CHECK(refusal(f.get("/v1/deployment_runs/drun_01missing")) == "404 not_found_error: deployment run drun_01missing was not found");
}

}  // namespace airlock::control
