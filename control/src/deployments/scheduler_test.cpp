// The scheduler with an injected clock: fires at nominal + jitter (across DST, month ends and leap days),
// exactly one run per nominal fire, pause/unpause without backfill, archive and update re-arming, the
// catch-up window after downtime, the auto-pause rules, crash recovery of a run row left without a
// session, and the io_context loop waking on a change.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "deployment_test_support.hpp"
#include "deployments/scheduler.hpp"

namespace airlock::control {
namespace {

using namespace std::chrono_literals;
using testing::cron_schedule;
using testing::DeploymentFixture;
using testing::utc;

using Lines = std::vector<std::string>;

struct CrashForTest {
  std::string point;
};

std::chrono::sys_seconds nominal(const std::string& text) { return std::chrono::floor<std::chrono::seconds>(utc(text)); }

struct SchedulerFixture : DeploymentFixture {
  SchedulerOptions options(std::chrono::seconds jitter = 0s, std::chrono::seconds window = 900s) {
    return SchedulerOptions{clock.clock(), jitter, window, {}};
  }
  std::unique_ptr<Scheduler> start(SchedulerOptions o) {
    auto scheduler = std::make_unique<Scheduler>(store(), runtime, std::move(o), log);
    scheduler->start();
    return scheduler;
  }
  void at(const std::string& text) { clock.now = utc(text); }
  // The deployment's finished runs, newest first, as "trigger scheduled_at session|error" lines.
  std::vector<std::string> runs(const std::string& id) {
    std::vector<std::string> out;
    for (const json& run : runs_of(id)) {
      const json& trigger = run["trigger_context"];
      std::string line = trigger["type"].get<std::string>();
      if (trigger.contains("scheduled_at")) line += " " + trigger["scheduled_at"].get<std::string>();
      line += run["error"].is_null() ? " session" : " " + run["error"]["type"].get<std::string>();
      out.push_back(line);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("a fire runs at its nominal instant plus the deployment's jitter, once, with scheduled_at and last_run_at") {
  SchedulerFixture f;
  auto s = f.start(f.options(60s));
  // A deployment whose jitter is at least 2 s, so that the nominal instant and the due one differ.
  std::string id;
  std::chrono::system_clock::duration jitter{0};
  for (int i = 0; i < 50 && jitter < 2s; ++i) {
    id = f.create_deployment({}, cron_schedule("*/5 * * * *"))["id"];
    s->run_due();  // arms it
    REQUIRE(s->pending_fire(id) == nominal("2026-11-27T02:25:00Z"));
    jitter = *s->pending_due(id) - utc("2026-11-27T02:25:00Z");
    CHECK(jitter < 60s);
    CHECK(jitter % 1s == 0s);  // whole seconds
    if (jitter < 2s) f.ok_post("/v1/deployments/" + id + "/archive");
  }
  REQUIRE(jitter >= 2s);
  s->run_due();
  CHECK(s->armed() == 1);
  CHECK(s->pending_fire(id) == nominal("2026-11-27T02:25:00Z"));
  CHECK(s->next_due() == utc("2026-11-27T02:25:00Z") + jitter);

  f.clock.now = utc("2026-11-27T02:25:00Z") + jitter - 1us;
  CHECK(s->run_due() == utc("2026-11-27T02:25:00Z") + jitter);
  CHECK(f.runs(id).empty());

  f.clock.now = utc("2026-11-27T02:25:00Z") + jitter;
  CHECK(s->run_due() == utc("2026-11-27T02:30:00Z") + jitter);
  CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z session"});
  json run = f.runs_of(id)[0];
  CHECK(run["created_at"] == f.clock.text());
  CHECK(run["agent"] == json{{"id", f.agent}, {"type", "agent"}, {"version", 1}});
  json deployment = f.deployment(id);
  CHECK(deployment["schedule"]["last_run_at"] == f.clock.text());
  CHECK(deployment["schedule"]["upcoming_runs_at"][0] == "2026-11-27T02:30:00Z");  // nominal, no jitter
  json session = f.ok_get("/v1/sessions/" + run["session_id"].get<std::string>());
  CHECK(session["deployment_id"] == id);
  CHECK(f.ok_get("/v1/sessions/" + run["session_id"].get<std::string>() + "/events")["data"].size() == 1);

  // The same instant again, and a second scheduler over the same store: still one run.
  s->run_due();
  auto other = f.start(f.options(60s));
  other->run_due();
  CHECK(f.runs(id).size() == 1);
  CHECK(other->pending_fire(id) == nominal("2026-11-27T02:30:00Z"));
}

TEST_CASE("DST: a fixed-time fire in the spring gap runs when the gap ends, in the autumn overlap, once") {
  SchedulerFixture f;
  f.at("2027-03-13T12:00:00Z");
  const std::string spring = f.create_deployment({}, cron_schedule("30 2 * * *", "America/New_York"))["id"];
  f.at("2027-11-06T12:00:00Z");
  const std::string autumn = f.create_deployment({}, cron_schedule("30 1 * * *", "America/New_York"))["id"];
  f.at("2027-03-13T12:00:00Z");
  auto s = f.start(f.options());
  CHECK(s->pending_fire(spring) == nominal("2027-03-14T07:00:00Z"));  // 02:30 does not exist: 03:00 EDT
  CHECK(s->pending_fire(autumn) == nominal("2027-11-07T05:30:00Z"));  // its fire_after is in November

  f.clock.now = utc("2027-03-14T07:00:00Z") - 1us;
  s->run_due();
  CHECK(f.runs(spring).empty());
  f.at("2027-03-14T07:00:00Z");
  s->run_due();
  CHECK(f.runs(spring) == Lines{"schedule 2027-03-14T07:00:00Z session"});
  CHECK(s->pending_fire(spring) == nominal("2027-03-15T06:30:00Z"));  // 02:30 EDT

  f.ok_post("/v1/deployments/" + spring + "/archive");
  f.at("2027-11-07T05:30:00Z");  // 01:30 EDT, the first of the two 01:30s
  s->run_due();
  CHECK(f.runs(autumn) == Lines{"schedule 2027-11-07T05:30:00Z session"});
  CHECK(s->pending_fire(autumn) == nominal("2027-11-08T06:30:00Z"));  // not 06:30Z on the 7th (01:30 EST)
  f.at("2027-11-07T06:30:00Z");
  s->run_due();
  CHECK(f.runs(autumn).size() == 1);
}

TEST_CASE("month ends and leap days: fires skip the months without the day, and wait for the next 29 February") {
  SchedulerFixture f;
  f.at("2027-01-31T13:00:00Z");
  const std::string monthly = f.create_deployment({}, cron_schedule("0 12 31 * *"))["id"];
  f.at("2027-03-01T00:00:00Z");
  const std::string leap = f.create_deployment({}, cron_schedule("0 0 29 2 *"))["id"];
  auto s = f.start(f.options());
  CHECK(s->pending_fire(monthly) == nominal("2027-03-31T12:00:00Z"));
  CHECK(s->pending_fire(leap) == nominal("2028-02-29T00:00:00Z"));

  f.at("2027-03-31T12:00:00Z");
  s->run_due();
  CHECK(f.runs(monthly) == Lines{"schedule 2027-03-31T12:00:00Z session"});
  CHECK(s->pending_fire(monthly) == nominal("2027-05-31T12:00:00Z"));

  f.ok_post("/v1/deployments/" + monthly + "/archive");
  f.at("2028-02-29T00:00:00Z");
  s->run_due();
  CHECK(f.runs(leap) == Lines{"schedule 2028-02-29T00:00:00Z session"});
  CHECK(s->pending_fire(leap) == nominal("2032-02-29T00:00:00Z"));
}

TEST_CASE("pause suppresses fires but not manual runs, unpause resumes at the next occurrence, without backfill") {
  SchedulerFixture f;
  const std::string id = f.create_deployment({}, cron_schedule("* * * * *"))["id"];
  auto s = f.start(f.options());
  CHECK(s->pending_fire(id) == nominal("2026-11-27T02:22:00Z"));

  f.ok_post("/v1/deployments/" + id + "/pause");
  s->run_due();
  CHECK(s->armed() == 0);
  f.at("2026-11-27T02:31:30Z");
  s->run_due();
  CHECK(f.runs(id).empty());

  f.ok_post("/v1/deployments/" + id + "/run");  // allowed while paused
  CHECK(f.runs(id) == Lines{"manual session"});
  CHECK(f.deployment(id)["schedule"]["last_run_at"] == nullptr);

  f.ok_post("/v1/deployments/" + id + "/unpause");
  s->run_due();
  CHECK(f.runs(id).size() == 1);                                     // nothing from 02:22-02:31 ran
  CHECK(s->pending_fire(id) == nominal("2026-11-27T02:32:00Z"));  // the next minute after now
  f.at("2026-11-27T02:32:00Z");
  s->run_due();
  CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:32:00Z session", "manual session"});

  // Unpause after a restart: still no backfill, because unpause moved fire_after.
  f.ok_post("/v1/deployments/" + id + "/pause");
  f.at("2026-11-27T02:40:10Z");
  f.ok_post("/v1/deployments/" + id + "/unpause");
  s.reset();
  auto restarted = f.start(f.options());
  CHECK(restarted->pending_fire(id) == nominal("2026-11-27T02:41:00Z"));
  restarted->run_due();
  CHECK(f.runs(id).size() == 2);
}

TEST_CASE("archive ends the fires, update re-arms from now, a manual-only deployment is never armed") {
  SchedulerFixture f;
  const std::string id = f.create_deployment({}, cron_schedule("0 * * * *"))["id"];
  const std::string manual = f.create_deployment({}, nullptr)["id"];
  auto s = f.start(f.options());
  CHECK(s->armed() == 1);
  CHECK(s->pending_fire(manual) == std::nullopt);
  CHECK(s->pending_fire(id) == nominal("2026-11-27T03:00:00Z"));

  f.ok_post("/v1/deployments/" + id, {{"schedule", cron_schedule("*/10 * * * *")}});
  s->run_due();
  CHECK(s->pending_fire(id) == nominal("2026-11-27T02:30:00Z"));
  f.ok_post("/v1/deployments/" + id, {{"schedule", nullptr}});
  s->run_due();
  CHECK(s->armed() == 0);
  f.ok_post("/v1/deployments/" + id, {{"schedule", cron_schedule("*/10 * * * *")}});
  s->run_due();
  CHECK(s->pending_fire(id) == nominal("2026-11-27T02:30:00Z"));

  f.ok_post("/v1/deployments/" + id + "/archive");
  s->run_due();
  CHECK(s->armed() == 0);
  f.at("2026-11-27T05:00:00Z");
  s->run_due();
  CHECK(f.runs(id).empty());
  CHECK(f.deployment(id)["schedule"]["upcoming_runs_at"] == json::array());
}

TEST_CASE("after downtime, only the most recent missed fire within the catch-up window runs") {
  SchedulerFixture f;
  const std::string five = f.create_deployment({}, cron_schedule("*/5 * * * *"))["id"];
  const std::string hourly = f.create_deployment({}, cron_schedule("0 * * * *"))["id"];
  f.start(f.options()).reset();  // the daemon ran, then stopped before 02:25

  SUBCASE("03:03: 02:50, 02:55 and 03:00 are in the window, and only 03:00 runs; 03:00 hourly too") {
    f.at("2026-11-27T03:03:00Z");
    auto s = f.start(f.options());
    CHECK(s->pending_fire(five) == nominal("2026-11-27T03:00:00Z"));
    s->run_due();
    CHECK(f.runs(five) == Lines{"schedule 2026-11-27T03:00:00Z session"});
    CHECK(f.runs(hourly) == Lines{"schedule 2026-11-27T03:00:00Z session"});
    CHECK(s->pending_fire(five) == nominal("2026-11-27T03:05:00Z"));
    CHECK(s->pending_fire(hourly) == nominal("2026-11-27T04:00:00Z"));
  }
  SUBCASE("03:24: the hourly 03:00 fire is older than 15 minutes and is skipped") {
    f.at("2026-11-27T03:24:00Z");
    auto s = f.start(f.options());
    s->run_due();
    CHECK(f.runs(hourly).empty());
    CHECK(s->pending_fire(hourly) == nominal("2026-11-27T04:00:00Z"));
    CHECK(f.runs(five) == Lines{"schedule 2026-11-27T03:20:00Z session"});
  }
  SUBCASE("the window is configurable: with an hour, 03:00 still runs at 03:24") {
    f.at("2026-11-27T03:24:00Z");
    auto s = f.start(f.options(0s, 3600s));
    s->run_due();
    CHECK(f.runs(hourly) == Lines{"schedule 2026-11-27T03:00:00Z session"});
  }
  SUBCASE("a fire still within its jitter is not missed: it runs at nominal + jitter") {
    const auto jitter = *f.start(f.options(60s))->pending_due(five) - utc("2026-11-27T02:25:00Z");
    f.clock.now = utc("2026-11-27T02:25:00Z") + jitter / 2;
    auto s = f.start(f.options(60s));
    CHECK(s->pending_fire(five) == nominal("2026-11-27T02:25:00Z"));
    CHECK(s->next_due() <= utc("2026-11-27T02:25:00Z") + jitter);
  }
}

TEST_CASE("a crash after the run row: the restart finishes that run, and the fire never runs twice") {
  SchedulerFixture f;
  const std::string id = f.create_deployment({}, cron_schedule("*/5 * * * *"))["id"];
  SchedulerOptions crashing = f.options();
  crashing.crash_point_for_test = [](std::string_view point) {
    if (point == kCrashAfterRunRow) throw CrashForTest{std::string(point)};
  };
  auto s = f.start(std::move(crashing));
  f.at("2026-11-27T02:25:00Z");
  CHECK_THROWS_AS(s->run_due(), CrashForTest);
  s.reset();
  CHECK(f.runs(id).empty());  // an unfinished run is never visible
  REQUIRE(f.store().unfinished_runs().value().size() == 1);

  SUBCASE("restarted within the catch-up window: the session is created for that run") {
    f.at("2026-11-27T02:26:00Z");
    auto restarted = f.start(f.options());
    CHECK(f.store().unfinished_runs().value().empty());
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z session"});
    restarted->run_due();
    CHECK(f.runs(id).size() == 1);
    CHECK(restarted->pending_fire(id) == nominal("2026-11-27T02:30:00Z"));
  }
  SUBCASE("restarted after the window: the run is marked unknown_error, and the deployment stays active") {
    f.at("2026-11-27T03:42:00Z");
    auto restarted = f.start(f.options());
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z unknown_error"});
    restarted->run_due();
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T03:40:00Z session", "schedule 2026-11-27T02:25:00Z unknown_error"});
    json failed = f.runs_of(id)[1];
    CHECK(failed["error"]["message"] ==
          "Airlock stopped after recording this run and before creating its session; it was not retried: its fire is "
          "older than the catch-up window of 900 s");
    CHECK(failed["session_id"] == nullptr);
    CHECK(f.deployment(id)["status"] == "active");
  }
}

TEST_CASE("auto-pause: scheduled fires that fail with a listed error pause, rejections and manual runs do not") {
  SchedulerFixture f;
  std::string vault = f.create_vault();
  const std::string id = f.create_deployment({{"vault_ids", {vault}}}, cron_schedule("*/5 * * * *"))["id"];
  auto s = f.start(f.options());

  SUBCASE("environment archived") {
    f.ok_post("/v1/environments/" + f.environment + "/archive");
    f.at("2026-11-27T02:25:00Z");
    s->run_due();
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z environment_archived_error"});
    json paused = f.deployment(id);
    CHECK(paused["status"] == "paused");
    CHECK(paused["paused_reason"] == json{{"type", "error"}, {"error", {{"type", "environment_archived_error"}}}});
    CHECK(s->armed() == 0);
    f.at("2026-11-27T02:40:00Z");
    s->run_due();
    CHECK(f.runs(id).size() == 1);

    // Unpause clears an error pause too, and fires resume (and fail, and pause again).
    json active = f.ok_post("/v1/deployments/" + id + "/unpause");
    CHECK(active["paused_reason"] == nullptr);
    s->run_due();
    CHECK(s->pending_fire(id) == nominal("2026-11-27T02:45:00Z"));
  }
  SUBCASE("vault deleted") {
    f.del("/v1/vaults/" + vault);
    f.at("2026-11-27T02:25:00Z");
    s->run_due();
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z vault_not_found_error"});
    CHECK(f.deployment(id)["paused_reason"]["error"]["type"] == "vault_not_found_error");
  }
  SUBCASE("agent archived") {
    f.ok_post("/v1/agents/" + f.agent + "/archive");
    f.at("2026-11-27T02:25:00Z");
    s->run_due();
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z agent_archived_error"});
    CHECK(f.deployment(id)["paused_reason"]["error"]["type"] == "agent_archived_error");
  }
  SUBCASE("session_creation_rejected_error never pauses: the schedule keeps firing") {
    std::string second = f.create_vault("second");
    f.ok_post("/v1/deployments/" + id, {{"vault_ids", {vault, second}}});
    f.create_env_credential(vault, "METRICS_TOKEN");
    f.create_env_credential(second, "METRICS_TOKEN");  // now both vaults expose METRICS_TOKEN
    f.at("2026-11-27T02:25:00Z");
    s->run_due();
    f.at("2026-11-27T02:30:00Z");
    s->run_due();
    CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:30:00Z session_creation_rejected_error",
                                "schedule 2026-11-27T02:25:00Z session_creation_rejected_error"});
    CHECK(f.deployment(id)["status"] == "active");
    CHECK(s->pending_fire(id) == nominal("2026-11-27T02:35:00Z"));
  }
  SUBCASE("a manual run that fails does not pause") {
    f.ok_post("/v1/vaults/" + vault + "/archive");
    json run = f.ok_post("/v1/deployments/" + id + "/run");
    CHECK(run["error"]["type"] == "vault_archived_error");
    s->run_due();
    CHECK(f.deployment(id)["status"] == "active");
    CHECK(s->armed() == 1);
  }
}

TEST_CASE("many deployments are one ordered set and one timer: nothing runs until the earliest is due") {
  SchedulerFixture f;
  {
    store::Store::Transaction tx(f.store());
    for (int i = 0; i < 500; ++i) {
      store::DeploymentFields fields;
      fields.agent_id = f.agent;
      fields.schedule = store::CronSpec{fmt::format("{} {} * * *", i % 60, (i / 60) % 24), "UTC"};
      fields.doc = json{{"name", "bulk"}, {"environment_id", f.environment}, {"initial_events", json::array()}}.dump();
      REQUIRE(f.store().create_deployment(fields).has_value());
    }
    REQUIRE_FALSE(tx.commit());
  }
  auto s = f.start(f.options());
  CHECK(s->armed() == 500);
  CHECK(s->next_due() == utc("2026-11-27T02:22:00Z"));  // "22 2 * * *", the first after 02:21:22
  CHECK(s->run_due() == utc("2026-11-27T02:22:00Z"));
  CHECK(f.ok_get("/v1/deployment_runs")["data"].empty());
}

TEST_CASE("run(): the loop fires what is due, wakes on a change, and ends on stop()") {
  SchedulerFixture f;
  const std::string id = f.create_deployment({}, cron_schedule("*/5 * * * *"))["id"];
  auto s = f.start(f.options());
  boost::asio::io_context io;
  bool ended = false;
  boost::asio::co_spawn(io, s->run(), [&](std::exception_ptr error) {
    ended = true;
    CHECK_FALSE(error);
  });
  f.at("2026-11-27T02:25:00Z");
  io.poll();
  CHECK(f.runs(id) == Lines{"schedule 2026-11-27T02:25:00Z session"});
  CHECK_FALSE(ended);

  // The loop now sleeps until 02:30; a new deployment wakes it, and it arms it at once.
  const std::string added = f.create_deployment({}, cron_schedule("26 * * * *"))["id"];
  io.poll();
  CHECK(s->pending_fire(added) == nominal("2026-11-27T02:26:00Z"));
  CHECK(s->next_due() == utc("2026-11-27T02:26:00Z"));

  s->stop();
  io.poll();
  CHECK(ended);
}

}  // namespace airlock::control
