// Shared by the deployment and scheduler tests: an ApiFixture with an agent and an environment, and
// shortcuts for deployments, runs and their times.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "test_support.hpp"

namespace airlock::control::testing {

// A UTC instant written like the API writes nominal fires: "2027-03-14T07:00:00Z".
inline TimePoint utc(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char zulu = 0;
  REQUIRE_MESSAGE(std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &zulu) == 7,
                  "not a UTC instant: " << text);
  REQUIRE(zulu == 'Z');
  using namespace std::chrono;
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} + minutes{mi} +
         seconds{s};
}

inline json cron_schedule(std::string expression, std::string timezone = "UTC") {
  return {{"type", "cron"}, {"expression", std::move(expression)}, {"timezone", std::move(timezone)}};
}

inline json user_message(std::string text) {
  return {{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", std::move(text)}}}}};
}

struct DeploymentFixture : ApiFixture {
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "env"}})["id"];

  // A valid D1 body: the fixture's agent and environment, one user message, `schedule` (null: manual).
  json deployment_body(json schedule = cron_schedule("0 9 * * 1-5")) const {
    return {{"name", "weekday-health-digest"},
            {"agent", agent},
            {"environment_id", environment},
            {"initial_events", {user_message("Summarise last night's alerts.")}},
            {"schedule", std::move(schedule)}};
  }
  json create_deployment(const json& changes = json::object(), json schedule = cron_schedule("0 9 * * 1-5")) {
    json body = deployment_body(std::move(schedule));
    if (changes.is_object()) body.update(changes);
    return ok_post("/v1/deployments", body);
  }
  json deployment(const std::string& id) { return ok_get("/v1/deployments/" + id); }
  // Every run of a deployment, newest first.
  json runs_of(const std::string& id) { return ok_get("/v1/deployment_runs?limit=100&deployment_id=" + id)["data"]; }
};

}  // namespace airlock::control::testing
