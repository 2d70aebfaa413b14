// Deployments and runs: create/get/update, the pause/unpause/archive transitions and their idempotence,
// fire_after and last_run_at, the list filters and pages, on_deployment_changed, and the run rules (one
// run per nominal fire, unfinished runs invisible, finished runs final), including across a reopen.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

namespace {

DeploymentFields fields(std::string agent_id = "agent_01a", int version = 1,
                        std::optional<CronSpec> schedule = CronSpec{"0 9 * * 1-5", "UTC"},
                        std::string doc = R"({"name":"digest"})") {
  DeploymentFields f;
  f.agent_id = std::move(agent_id);
  f.agent_version = version;
  f.schedule = std::move(schedule);
  f.doc = std::move(doc);
  return f;
}

Deployment create(StoreFixture& f, DeploymentFields df = fields()) {
  auto created = f.store->create_deployment(df);
  REQUIRE(created.has_value());
  return created.value();
}

NewRun new_run(const Deployment& d, std::optional<std::string> scheduled_at = std::nullopt) {
  NewRun run;
  run.deployment_id = d.id;
  run.agent_id = d.agent_id;
  run.agent_version = d.agent_version;
  run.scheduled_at = std::move(scheduled_at);
  return run;
}

DeploymentRun begin(StoreFixture& f, const Deployment& d, std::optional<std::string> scheduled_at = std::nullopt) {
  auto run = f.store->begin_run(new_run(d, std::move(scheduled_at)));
  REQUIRE(run.has_value());
  return run.value();
}

template <class T>
std::error_code error_of(const Result<T>& result) {
  REQUIRE_FALSE(result.has_value());
  return result.error();
}

std::string at(std::chrono::seconds offset) { return format_time(testing::test_epoch() + offset); }

std::vector<std::string> deployment_ids(Store& store, DeploymentQuery query) {
  std::vector<std::string> ids;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 100);
    auto page = store.list_deployments(query);
    REQUIRE(page.has_value());
    for (const auto& d : page.value().items) ids.push_back(d.id);
    if (!page.value().next) break;
    query.after = page.value().next;
  }
  return ids;
}

std::vector<std::string> run_ids(Store& store, RunQuery query) {
  std::vector<std::string> ids;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 100);
    auto page = store.list_runs(query);
    REQUIRE(page.has_value());
    for (const auto& r : page.value().items) ids.push_back(r.id);
    if (!page.value().next) break;
    query.after = page.value().next;
  }
  return ids;
}

}  // namespace

TEST_CASE("a new deployment is active, unpaused, and fires only after its creation") {
  StoreFixture f;
  const Deployment d = create(f);
  CHECK(d.id.starts_with("depl_01"));
  CHECK(d.id.size() == 29);
  CHECK(d.agent_id == "agent_01a");
  CHECK(d.agent_version == 1);
  REQUIRE(d.schedule.has_value());
  CHECK(d.schedule->expression == "0 9 * * 1-5");
  CHECK(d.schedule->timezone == "UTC");
  CHECK(d.status == "active");
  CHECK(d.paused_reason == std::nullopt);
  CHECK(d.last_run_at == std::nullopt);
  CHECK(d.fire_after == "2026-11-27T02:21:22.123456Z");
  CHECK(d.created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(d.updated_at == d.created_at);
  CHECK(d.archived_at == std::nullopt);
  CHECK(d.doc == R"({"name":"digest"})");

  auto again = f.store->get_deployment(d.id);
  REQUIRE(again.has_value());
  CHECK(again.value().doc == d.doc);
  CHECK(again.value().schedule == d.schedule);

  const Deployment manual = create(f, fields("agent_01b", 3, std::nullopt));
  CHECK(manual.schedule == std::nullopt);
  CHECK(manual.agent_version == 3);

  CHECK(error_of(f.store->get_deployment("depl_01missing")) == Errc::not_found);
}

TEST_CASE("update replaces the fields, fire_after restarts only when the schedule changes") {
  StoreFixture f;
  const Deployment d = create(f);
  f.clock.now += 10min;
  auto same_schedule = f.store->update_deployment(d.id, fields("agent_01z", 2, CronSpec{"0 9 * * 1-5", "UTC"}, "{}"));
  REQUIRE(same_schedule.has_value());
  CHECK(same_schedule.value().agent_id == "agent_01z");
  CHECK(same_schedule.value().agent_version == 2);
  CHECK(same_schedule.value().doc == "{}");
  CHECK(same_schedule.value().updated_at == at(10min));
  CHECK(same_schedule.value().fire_after == at(0s));
  CHECK(same_schedule.value().created_at == at(0s));

  f.clock.now += 5min;
  auto new_zone = f.store->update_deployment(d.id, fields("agent_01z", 2, CronSpec{"0 9 * * 1-5", "Europe/Paris"}));
  REQUIRE(new_zone.has_value());
  CHECK(new_zone.value().schedule->timezone == "Europe/Paris");
  CHECK(new_zone.value().fire_after == at(15min));

  f.clock.now += 5min;
  auto cleared = f.store->update_deployment(d.id, fields("agent_01z", 2, std::nullopt));
  REQUIRE(cleared.has_value());
  CHECK(cleared.value().schedule == std::nullopt);
  CHECK(cleared.value().fire_after == at(20min));

  CHECK(error_of(f.store->update_deployment("depl_01missing", fields())) == Errc::not_found);
  REQUIRE(f.store->archive_deployment(d.id).has_value());
  CHECK(error_of(f.store->update_deployment(d.id, fields())) == Errc::archived);
}

TEST_CASE("pause, unpause and archive: transitions, idempotence and the archived refusals") {
  StoreFixture f;
  const Deployment d = create(f);

  f.clock.now += 1min;
  auto paused = f.store->pause_deployment(d.id, "manual");
  REQUIRE(paused.has_value());
  CHECK(paused.value().status == "paused");
  CHECK(paused.value().paused_reason == "manual");
  CHECK(paused.value().updated_at == at(1min));

  SUBCASE("pausing a paused deployment leaves it unchanged, first reason included") {
    f.clock.now += 1min;
    auto again = f.store->pause_deployment(d.id, "vault_not_found_error");
    REQUIRE(again.has_value());
    CHECK(again.value().paused_reason == "manual");
    CHECK(again.value().updated_at == at(1min));
  }

  SUBCASE("unpause makes it active from now on; unpausing an active one changes nothing") {
    f.clock.now += 2min;
    auto active = f.store->unpause_deployment(d.id);
    REQUIRE(active.has_value());
    CHECK(active.value().status == "active");
    CHECK(active.value().paused_reason == std::nullopt);
    CHECK(active.value().fire_after == at(3min));
    CHECK(active.value().updated_at == at(3min));
    f.clock.now += 2min;
    auto again = f.store->unpause_deployment(d.id);
    REQUIRE(again.has_value());
    CHECK(again.value().fire_after == at(3min));
    CHECK(again.value().updated_at == at(3min));
  }

  SUBCASE("archive is final: it reports active, and pause, unpause and update are refused") {
    f.clock.now += 1min;
    auto archived = f.store->archive_deployment(d.id);
    REQUIRE(archived.has_value());
    CHECK(archived.value().archived_at == at(2min));
    CHECK(archived.value().status == "active");
    CHECK(archived.value().paused_reason == std::nullopt);
    f.clock.now += 1min;
    auto again = f.store->archive_deployment(d.id);
    REQUIRE(again.has_value());
    CHECK(again.value().archived_at == at(2min));
    CHECK(again.value().updated_at == at(2min));
    CHECK(error_of(f.store->pause_deployment(d.id, "manual")) == Errc::archived);
    CHECK(error_of(f.store->unpause_deployment(d.id)) == Errc::archived);
    CHECK(error_of(f.store->begin_run(new_run(d))) == Errc::archived);
  }

  CHECK(error_of(f.store->pause_deployment("depl_01missing", "manual")) == Errc::not_found);
  CHECK(error_of(f.store->unpause_deployment("depl_01missing")) == Errc::not_found);
  CHECK(error_of(f.store->archive_deployment("depl_01missing")) == Errc::not_found);
}

TEST_CASE("the schema refuses a paused deployment without a reason and a half schedule") {
  StoreFixture f;
  const Deployment d = create(f);
  Database db{f.db_path};
  CHECK(db.exec(fmt::format("UPDATE deployments SET status = 'paused' WHERE id = '{}'", d.id)) == Errc::io);
  CHECK(db.exec(fmt::format("UPDATE deployments SET cron_timezone = NULL WHERE id = '{}'", d.id)) == Errc::io);
  CHECK(db.exec(fmt::format("UPDATE deployments SET status = 'paused', paused_reason = 'manual', archived_at = "
                            "'2026-01-01T00:00:00.000000Z' WHERE id = '{}'",
                            d.id)) == Errc::io);
  CHECK(db.exec(fmt::format("UPDATE deployments SET status = 'stopped' WHERE id = '{}'", d.id)) == Errc::io);
}

TEST_CASE("list_deployments: newest first, pages, and the agent, status, archive and created_at filters") {
  StoreFixture f;
  std::vector<std::string> ids;  // oldest first
  for (int i = 0; i < 7; ++i) {
    ids.push_back(create(f, fields(i % 2 == 0 ? "agent_01even" : "agent_01odd")).id);
    f.clock.now += 1s;
  }
  REQUIRE(f.store->pause_deployment(ids[1], "manual").has_value());
  REQUIRE(f.store->pause_deployment(ids[2], "environment_archived_error").has_value());
  REQUIRE(f.store->archive_deployment(ids[3]).has_value());

  DeploymentQuery query;
  query.limit = 2;
  CHECK(deployment_ids(*f.store, query) == std::vector<std::string>{ids[6], ids[5], ids[4], ids[2], ids[1], ids[0]});
  query.include_archived = true;
  CHECK(deployment_ids(*f.store, query) ==
        std::vector<std::string>{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]});

  DeploymentQuery paused;
  paused.status = "paused";
  CHECK(deployment_ids(*f.store, paused) == std::vector<std::string>{ids[2], ids[1]});
  DeploymentQuery active;
  active.status = "active";
  CHECK(deployment_ids(*f.store, active) == std::vector<std::string>{ids[6], ids[5], ids[4], ids[0]});

  DeploymentQuery by_agent;
  by_agent.agent_id = "agent_01odd";
  CHECK(deployment_ids(*f.store, by_agent) == std::vector<std::string>{ids[5], ids[1]});
  by_agent.include_archived = true;
  CHECK(deployment_ids(*f.store, by_agent) == std::vector<std::string>{ids[5], ids[3], ids[1]});

  DeploymentQuery window;
  window.created_gte = at(2s);
  window.created_lte = at(4s);
  CHECK(deployment_ids(*f.store, window) == std::vector<std::string>{ids[4], ids[2]});
}

TEST_CASE("scheduled_deployments: active, not archived, with a schedule") {
  StoreFixture f;
  const Deployment a = create(f);
  const Deployment manual = create(f, fields("agent_01a", 1, std::nullopt));
  const Deployment paused = create(f);
  const Deployment archived = create(f);
  const Deployment b = create(f);
  REQUIRE(f.store->pause_deployment(paused.id, "manual").has_value());
  REQUIRE(f.store->archive_deployment(archived.id).has_value());
  auto scheduled = f.store->scheduled_deployments();
  REQUIRE(scheduled.has_value());
  std::vector<std::string> got;
  for (const auto& d : scheduled.value()) got.push_back(d.id);
  std::vector<std::string> want = {a.id, b.id};
  std::sort(want.begin(), want.end());
  CHECK(got == want);
}

TEST_CASE("on_deployment_changed names each deployment that changed, and not no-op transitions") {
  StoreFixture f;
  std::vector<std::string> changed;
  f.store->on_deployment_changed([&](const std::string& id) { changed.push_back(id); });
  const Deployment d = create(f);
  REQUIRE(f.store->update_deployment(d.id, fields()).has_value());
  REQUIRE(f.store->pause_deployment(d.id, "manual").has_value());
  REQUIRE(f.store->pause_deployment(d.id, "manual").has_value());  // unchanged: no call
  REQUIRE(f.store->unpause_deployment(d.id).has_value());
  REQUIRE(f.store->unpause_deployment(d.id).has_value());  // unchanged
  begin(f, d);                                            // a manual run moves nothing the scheduler reads
  begin(f, d, at(1h));                                    // a scheduled one moves fire_after
  REQUIRE(f.store->archive_deployment(d.id).has_value());
  REQUIRE(f.store->archive_deployment(d.id).has_value());  // unchanged
  CHECK(changed == std::vector<std::string>(6, d.id));
}

TEST_CASE("runs: one per nominal fire, unfinished ones invisible, finished ones final") {
  StoreFixture f;
  const Deployment d = create(f);
  const std::string nine = "2026-11-30T09:00:00.000000Z";

  f.clock.now += 1h;
  const DeploymentRun scheduled = begin(f, d, nine);
  CHECK(scheduled.id.starts_with("drun_01"));
  CHECK(scheduled.deployment_id == d.id);
  CHECK(scheduled.agent_id == "agent_01a");
  CHECK(scheduled.scheduled_at == nine);
  CHECK(scheduled.session_id == std::nullopt);
  CHECK(scheduled.error_type == std::nullopt);
  CHECK(scheduled.created_at == at(1h));

  // The fire is claimed: last_run_at is the actual start, fire_after the nominal instant.
  auto after_begin = f.store->get_deployment(d.id);
  REQUIRE(after_begin.has_value());
  CHECK(after_begin.value().last_run_at == at(1h));
  CHECK(after_begin.value().fire_after == nine);

  // The same nominal instant again is a conflict, and writes nothing.
  CHECK(error_of(f.store->begin_run(new_run(d, nine))) == Errc::conflict);
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM deployment_runs") == 1);

  // Unfinished: not visible through the API's reads, but listed for recovery.
  CHECK(error_of(f.store->get_run(scheduled.id)) == Errc::not_found);
  CHECK(run_ids(*f.store, RunQuery{}).empty());
  auto unfinished = f.store->unfinished_runs();
  REQUIRE(unfinished.has_value());
  REQUIRE(unfinished.value().size() == 1);
  CHECK(unfinished.value()[0].id == scheduled.id);

  auto finished = f.store->finish_run_with_session(scheduled.id, "sesn_01x");
  REQUIRE(finished.has_value());
  CHECK(finished.value().session_id == "sesn_01x");
  CHECK(finished.value().error_type == std::nullopt);
  CHECK(error_of(f.store->finish_run_with_error(scheduled.id, "unknown_error", "late")) == Errc::conflict);
  CHECK(error_of(f.store->finish_run_with_session(scheduled.id, "sesn_01y")) == Errc::conflict);
  CHECK(error_of(f.store->finish_run_with_session("drun_01missing", "sesn_01y")) == Errc::not_found);
  auto visible = f.store->get_run(scheduled.id);
  REQUIRE(visible.has_value());
  CHECK(visible.value().session_id == "sesn_01x");
  CHECK(f.store->unfinished_runs().value().empty());

  // Manual runs never collide and never move last_run_at or fire_after.
  f.clock.now += 1h;
  const DeploymentRun m1 = begin(f, d);
  const DeploymentRun m2 = begin(f, d);
  CHECK(m1.scheduled_at == std::nullopt);
  CHECK(m1.id != m2.id);
  auto failed = f.store->finish_run_with_error(m1.id, "vault_archived_error", "vault vlt_x is archived");
  REQUIRE(failed.has_value());
  CHECK(failed.value().error_type == "vault_archived_error");
  CHECK(failed.value().error_message == "vault vlt_x is archived");
  CHECK(failed.value().session_id == std::nullopt);
  auto after_manual = f.store->get_deployment(d.id);
  CHECK(after_manual.value().last_run_at == at(1h));
  CHECK(after_manual.value().fire_after == nine);

  // An older nominal instant does not move fire_after back.
  begin(f, d, "2026-11-28T09:00:00.000000Z");
  CHECK(f.store->get_deployment(d.id).value().fire_after == nine);
  CHECK(f.store->get_deployment(d.id).value().last_run_at == at(2h));

  // A finished run never changes, whoever writes; a run never has both a session and an error.
  Database db{f.db_path};
  CHECK(db.exec(fmt::format("UPDATE deployment_runs SET session_id = 'sesn_01z' WHERE id = '{}'", m1.id)) == Errc::io);
  CHECK(db.exec(fmt::format("UPDATE deployment_runs SET error_type = 'x', error_message = 'y', session_id = 's' "
                            "WHERE id = '{}'",
                            m2.id)) == Errc::io);

  CHECK(error_of(f.store->begin_run(NewRun{"depl_01missing", "agent_01a", 1, std::nullopt})) == Errc::not_found);
}

TEST_CASE("list_runs: newest first across deployments, pages, and its filters") {
  StoreFixture f;
  const Deployment a = create(f);
  const Deployment b = create(f);
  std::vector<std::string> ids;  // oldest first
  auto finish = [&](const DeploymentRun& run, bool ok) {
    auto done = ok ? f.store->finish_run_with_session(run.id, "sesn_01" + run.id.substr(7))
                   : f.store->finish_run_with_error(run.id, "environment_archived_error", "environment env_x is archived");
    REQUIRE(done.has_value());
    ids.push_back(run.id);
  };
  f.clock.now += 1s;
  finish(begin(f, a), true);                                   // 0: a manual ok
  f.clock.now += 1s;
  finish(begin(f, a, "2026-11-28T09:00:00.000000Z"), false);   // 1: a schedule error
  f.clock.now += 1s;
  finish(begin(f, b, "2026-11-28T09:00:00.000000Z"), true);    // 2: b schedule ok
  f.clock.now += 1s;
  finish(begin(f, b), false);                                  // 3: b manual error
  f.clock.now += 1s;
  finish(begin(f, a, "2026-11-29T09:00:00.000000Z"), true);    // 4: a schedule ok
  f.clock.now += 1s;
  begin(f, a, "2026-11-30T09:00:00.000000Z");                  // unfinished: never listed

  RunQuery all;
  all.limit = 2;
  CHECK(run_ids(*f.store, all) == std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]});

  RunQuery of_a;
  of_a.deployment_id = a.id;
  CHECK(run_ids(*f.store, of_a) == std::vector<std::string>{ids[4], ids[1], ids[0]});
  RunQuery unknown;
  unknown.deployment_id = "depl_01missing";
  CHECK(run_ids(*f.store, unknown).empty());

  RunQuery manual;
  manual.trigger_type = "manual";
  CHECK(run_ids(*f.store, manual) == std::vector<std::string>{ids[3], ids[0]});
  RunQuery schedule;
  schedule.trigger_type = "schedule";
  schedule.deployment_id = b.id;
  CHECK(run_ids(*f.store, schedule) == std::vector<std::string>{ids[2]});

  RunQuery errors;
  errors.has_error = true;
  CHECK(run_ids(*f.store, errors) == std::vector<std::string>{ids[3], ids[1]});
  RunQuery sessions;
  sessions.has_error = false;
  CHECK(run_ids(*f.store, sessions) == std::vector<std::string>{ids[4], ids[2], ids[0]});

  RunQuery window;
  window.created_gt = at(1s);
  window.created_lte = at(4s);
  CHECK(run_ids(*f.store, window) == std::vector<std::string>{ids[3], ids[2], ids[1]});
  RunQuery open_window;
  open_window.created_gte = at(2s);
  open_window.created_lt = at(4s);
  CHECK(run_ids(*f.store, open_window) == std::vector<std::string>{ids[2], ids[1]});
}

TEST_CASE("a begun run is durable on its own: it survives a reopen, and a rolled-back one leaves nothing") {
  StoreFixture f;
  const Deployment d = create(f);
  const DeploymentRun run = begin(f, d, "2026-11-30T09:00:00.000000Z");
  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->begin_run(new_run(d, "2026-12-01T09:00:00.000000Z")).has_value());
    // no commit: rolled back
  }
  f.reopen();
  auto unfinished = f.store->unfinished_runs();
  REQUIRE(unfinished.has_value());
  REQUIRE(unfinished.value().size() == 1);
  CHECK(unfinished.value()[0].id == run.id);
  CHECK(f.store->get_deployment(d.id).value().fire_after == "2026-11-30T09:00:00.000000Z");
  // The claimed nominal instant stays claimed after the reopen.
  CHECK(error_of(f.store->begin_run(new_run(d, "2026-11-30T09:00:00.000000Z"))) == Errc::conflict);
  CHECK(f.store->begin_run(new_run(d, "2026-12-01T09:00:00.000000Z")).has_value());
}

TEST_CASE("count_runs_by_outcome counts finished runs by session or error type, count_sessions_by_status every session") {
  StoreFixture f;
  CHECK(f.store->count_runs_by_outcome().value().empty());
  CHECK(f.store->count_sessions_by_status().value().empty());

  const Deployment d = create(f);
  const DeploymentRun created = begin(f, d, "2026-12-01T09:00:00.000000Z");
  REQUIRE(f.store->finish_run_with_session(created.id, "sesn_01x").has_value());
  for (const char* at : {"2026-12-02T09:00:00.000000Z", "2026-12-03T09:00:00.000000Z"}) {
    const DeploymentRun failed = begin(f, d, at);
    REQUIRE(f.store->finish_run_with_error(failed.id, "agent_not_found_error", "gone").has_value());
  }
  (void)begin(f, d, "2026-12-04T09:00:00.000000Z");  // unfinished: not counted
  CHECK(f.store->count_runs_by_outcome().value() ==
        std::map<std::string, std::int64_t>{{"agent_not_found_error", 2}, {"session_created", 1}});

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    NewSession session;
    session.agent_id = "agent_01a";
    session.agent_version = 1;
    session.environment_id = "env_01e";
    session.doc = "{}";
    auto made = f.store->create_session(std::move(session));
    REQUIRE(made.has_value());
    ids.push_back(made.value().id);
  }
  REQUIRE(f.store->set_session_status(ids[0], "running").has_value());
  REQUIRE(f.store->set_session_status(ids[1], "terminated").has_value());
  REQUIRE(f.store->archive_session(ids[1]).has_value());  // archived ones still count, by status
  CHECK(f.store->count_sessions_by_status().value() ==
        std::map<std::string, std::int64_t>{{"idle", 1}, {"running", 1}, {"terminated", 1}});
}

}  // namespace airlock::store
