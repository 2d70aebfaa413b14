// Crash safety of every multi-statement write: a child process runs the write on a real SQLite file and
// _exit()s after its Nth writing statement (Options::after_write_for_test), for every N until the write
// completes; the parent then reopens the file (WAL recovery) and reads the state, which must be the one
// before the write, or, once the child got past COMMIT, the one after it. Never anything in between.
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace airlock::store {

namespace {

using testing::open_store;
using testing::query_int;
using testing::TempDir;
using testing::TestClock;

constexpr int kCrashed = 86;  // the child's exit status at the crash point
constexpr int kCompleted = 0;
constexpr int kFailed = 1;  // the write returned an error, or something threw

enum class Seen { before, after, torn };

const char* name_of(Seen seen) {
  switch (seen) {
    case Seen::before: return "before";
    case Seen::after: return "after";
    case Seen::torn: return "torn";
  }
  return "?";
}

// What a scenario knows of the database it prepared: ids the write and the check need.
struct Ids {
  std::string vault, credential, session, deployment;
};

struct Scenario {
  std::function<void(Store&, Ids&)> prepare;
  std::function<bool(Store&, const Ids&)> write;  // true when every store call succeeded
  std::function<Seen(Store&, const std::filesystem::path& db, const Ids&)> seen;
};

SecretFields secret(std::string_view field, std::string_view value) {
  SecretFields out;
  out.emplace_back(std::string{field}, SecretValue{value});
  return out;
}

std::int64_t count(const std::filesystem::path& db, const std::string& sql) { return query_int(db, sql); }

// Runs the scenario's write in a child that _exit()s after `crash_after` writing statements. Returns the
// child's exit status and, when it crashed, the statement it had just run.
struct ChildEnd {
  int status = -1;
  std::string last_statement;
};

ChildEnd run_child(const std::filesystem::path& db, TestClock& clock, const Scenario& scenario, const Ids& ids,
                   int crash_after, const std::filesystem::path& report) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child: no doctest assertions here (they would report into the parent's copy of the state);
    // only exit statuses, and the statement it stopped after, through a file.
    int written = 0;
    try {
      Options options{db, testing::key_of(1), clock.clock(), "test key"};
      options.after_write_for_test = [&](std::string_view sql) {
        if (++written < crash_after) return;
        if (FILE* out = std::fopen(report.c_str(), "w")) {
          std::fwrite(sql.data(), 1, sql.size(), out);
          std::fclose(out);
        }
        ::_exit(kCrashed);
      };
      auto store = Store::open(std::move(options));
      ::_exit(scenario.write(*store, ids) ? kCompleted : kFailed);
    } catch (...) {
      ::_exit(kFailed);
    }
  }
  int wait_status = 0;
  REQUIRE(::waitpid(pid, &wait_status, 0) == pid);
  REQUIRE(WIFEXITED(wait_status));
  ChildEnd end{WEXITSTATUS(wait_status), {}};
  if (end.status == kCrashed) end.last_statement = testing::read_file_bytes(report);
  return end;
}

// Crashes the write at each of its writing statements in turn; checks the state after each crash and
// after the complete write. Returns how many crash points there were.
int crash_at_every_statement(const Scenario& scenario) {
  int points = 0;
  for (int crash_after = 1;; ++crash_after) {
    TempDir dir;
    TestClock clock;
    const auto db = dir.path() / "airlock.db";
    Ids ids;
    {
      auto store = open_store(db, clock);
      scenario.prepare(*store, ids);
    }
    const ChildEnd end = run_child(db, clock, scenario, ids, crash_after, dir.path() / "crashed-after.txt");
    REQUIRE_MESSAGE(end.status != kFailed, "the write failed in the child at crash point ", crash_after);
    auto store = open_store(db, clock);  // recovers the WAL the child left
    const Seen seen = scenario.seen(*store, db, ids);
    if (end.status == kCompleted) {
      CHECK_MESSAGE(seen == Seen::after, "the completed write left the state ", name_of(seen));
      return points;
    }
    REQUIRE(end.status == kCrashed);
    ++points;
    // Once COMMIT has returned the write is durable; before it, none of it may show.
    const bool committed = end.last_statement == "COMMIT";
    const Seen expected = committed ? Seen::after : Seen::before;
    INFO("crashed after statement ", crash_after, ": ", end.last_statement);
    CHECK_MESSAGE(seen == expected, "the state is ", name_of(seen), ", expected ", name_of(expected));
  }
}

NewCredential env_var(const std::string& vault_id, std::string_view value) {
  return NewCredential{vault_id, "environment_variable", "API_TOKEN", std::nullopt, R"({"networking":{"v":1}})",
                       secret("secret_value", value)};
}

std::string new_session(Store& store, const Ids& ids) {
  NewSession session;
  session.agent_id = "agent_01a";
  session.environment_id = "env_01a";
  session.vault_ids = {ids.vault};
  session.doc = R"({"title":"crash"})";
  auto created = store.create_session(session);
  return created ? created.value().id : std::string{};
}

Deployment scheduled_deployment(Store& store) {
  DeploymentFields fields;
  fields.agent_id = "agent_01a";
  fields.schedule = CronSpec{"0 9 * * 1-5", "UTC"};
  fields.doc = R"({"name":"digest"})";
  auto created = store.create_deployment(fields);
  REQUIRE(created.has_value());
  return created.value();
}

const std::string kNominal = "2026-11-30T09:00:00.000000Z";

}  // namespace

TEST_CASE("crash safety: a credential is created whole or not at all") {
  Scenario scenario;
  scenario.prepare = [](Store& store, Ids& ids) { ids.vault = store.create_vault("{}").value().id; };
  scenario.write = [](Store& store, const Ids& ids) {
    return store.create_credential(env_var(ids.vault, "s3cret-created")).has_value();
  };
  scenario.seen = [](Store& store, const std::filesystem::path& db, const Ids&) {
    const auto rows = count(db, "SELECT count(*) FROM credentials");
    const auto sealed = count(db, "SELECT count(*) FROM credential_secrets");
    if (rows == 0 && sealed == 0) return Seen::before;
    auto active = store.active_credentials();
    if (rows == 1 && sealed == 1 && active && active.value().size() == 1 &&
        active.value()[0].value.view() == "s3cret-created") {
      return Seen::after;
    }
    return Seen::torn;
  };
  CHECK(crash_at_every_statement(scenario) >= 4);  // BEGIN, the row, its sealed field, COMMIT
}

TEST_CASE("crash safety: a rotation changes the doc and the secret together") {
  Scenario scenario;
  scenario.prepare = [](Store& store, Ids& ids) {
    ids.vault = store.create_vault("{}").value().id;
    ids.credential = store.create_credential(env_var(ids.vault, "s3cret-old")).value().id;
  };
  scenario.write = [](Store& store, const Ids& ids) {
    return store
        .update_credential(ids.vault, ids.credential, R"({"networking":{"v":2}})",
                           secret("secret_value", "s3cret-new"))
        .has_value();
  };
  scenario.seen = [](Store& store, const std::filesystem::path&, const Ids& ids) {
    auto row = store.get_credential(ids.vault, ids.credential);
    auto value = store.unseal_secret(ids.credential, "secret_value");
    if (!row || !value) return Seen::torn;
    const bool old_doc = row.value().doc == R"({"networking":{"v":1}})";
    const bool new_doc = row.value().doc == R"({"networking":{"v":2}})";
    if (old_doc && value.value().view() == "s3cret-old") return Seen::before;
    if (new_doc && value.value().view() == "s3cret-new") return Seen::after;
    return Seen::torn;
  };
  CHECK(crash_at_every_statement(scenario) >= 4);
}

TEST_CASE("crash safety: a session, its vaults, its first events and its idempotency record commit together") {
  // What POST /v1/sessions does: one Store::Transaction around the session, its events and the response
  // kept for the Idempotency-Key.
  Scenario scenario;
  scenario.prepare = [](Store& store, Ids& ids) { ids.vault = store.create_vault("{}").value().id; };
  scenario.write = [](Store& store, const Ids& ids) {
    Store::Transaction tx{store};
    const std::string id = new_session(store, ids);
    if (id.empty()) return false;
    if (!store.append_events(id, {{"session.status_idle", "{}", {}}, {"user.message", R"({"content":[]})", {}}})) return false;
    if (!store.remember_idempotent("key-1", IdempotentResponse{"hash", 200, R"({"id":"x"})"})) return false;
    return !tx.commit();
  };
  scenario.seen = [](Store&, const std::filesystem::path& db, const Ids&) {
    const auto sessions = count(db, "SELECT count(*) FROM sessions");
    const auto vaults = count(db, "SELECT count(*) FROM session_vaults");
    const auto events = count(db, "SELECT count(*) FROM session_events");
    const auto kept = count(db, "SELECT count(*) FROM idempotency");
    if (sessions == 0 && vaults == 0 && events == 0 && kept == 0) return Seen::before;
    if (sessions == 1 && vaults == 1 && events == 2 && kept == 1) return Seen::after;
    return Seen::torn;
  };
  CHECK(crash_at_every_statement(scenario) >= 6);
}

TEST_CASE("crash safety: a scheduled run claims its fire and advances fire_after together") {
  Scenario scenario;
  scenario.prepare = [](Store& store, Ids& ids) { ids.deployment = scheduled_deployment(store).id; };
  scenario.write = [](Store& store, const Ids& ids) {
    NewRun run;
    run.deployment_id = ids.deployment;
    run.agent_id = "agent_01a";
    run.scheduled_at = kNominal;
    return store.begin_run(run).has_value();
  };
  scenario.seen = [](Store& store, const std::filesystem::path& db, const Ids& ids) {
    const auto runs = count(db, "SELECT count(*) FROM deployment_runs");
    auto deployment = store.get_deployment(ids.deployment);
    if (!deployment) return Seen::torn;
    const bool advanced = deployment.value().fire_after == kNominal && deployment.value().last_run_at.has_value();
    if (runs == 0 && !advanced && !deployment.value().last_run_at) return Seen::before;
    auto unfinished = store.unfinished_runs();
    if (runs == 1 && advanced && unfinished && unfinished.value().size() == 1) return Seen::after;
    return Seen::torn;
  };
  CHECK(crash_at_every_statement(scenario) >= 4);
}

TEST_CASE("crash safety: a manual run, its session and its finish commit together") {
  // What POST /v1/deployments/{id}/run does: the run, the session it creates and the finish, in one
  // transaction, so a crash never leaves an unfinished manual run or a session without its run.
  Scenario scenario;
  scenario.prepare = [](Store& store, Ids& ids) {
    ids.vault = store.create_vault("{}").value().id;
    ids.deployment = scheduled_deployment(store).id;
  };
  scenario.write = [](Store& store, const Ids& ids) {
    Store::Transaction tx{store};
    NewRun run;
    run.deployment_id = ids.deployment;
    run.agent_id = "agent_01a";
    auto begun = store.begin_run(run);
    if (!begun) return false;
    const std::string session = new_session(store, ids);
    if (session.empty() || !store.finish_run_with_session(begun.value().id, session)) return false;
    return !tx.commit();
  };
  scenario.seen = [](Store&, const std::filesystem::path& db, const Ids&) {
    const auto runs = count(db, "SELECT count(*) FROM deployment_runs");
    const auto finished = count(db, "SELECT count(*) FROM deployment_runs WHERE session_id IS NOT NULL");
    const auto sessions = count(db, "SELECT count(*) FROM sessions");
    if (runs == 0 && sessions == 0) return Seen::before;
    if (runs == 1 && finished == 1 && sessions == 1) return Seen::after;
    return Seen::torn;
  };
  CHECK(crash_at_every_statement(scenario) >= 5);
}

TEST_CASE("crash safety: an audit batch is stored whole or not at all") {
  Scenario scenario;
  scenario.prepare = [](Store& store, Ids& ids) {
    ids.vault = store.create_vault("{}").value().id;
    ids.session = new_session(store, ids);
    REQUIRE_FALSE(ids.session.empty());
  };
  scenario.write = [](Store& store, const Ids& ids) {
    std::vector<EgressRow> rows;
    for (int i = 0; i < 3; ++i) {
      EgressRow row;
      row.session_id = ids.session;
      row.created_at = format_time(testing::test_epoch());
      row.method = "GET";
      row.host = "api.example.com";
      row.port = 443;
      row.path = "/v1/items/" + std::to_string(i);
      row.status = 200;
      row.decision = "allowed";
      rows.push_back(row);
    }
    return store.record_egress(rows).has_value();
  };
  scenario.seen = [](Store&, const std::filesystem::path& db, const Ids&) {
    const auto rows = count(db, "SELECT count(*) FROM egress");
    if (rows == 0) return Seen::before;
    if (rows == 3) return Seen::after;
    return Seen::torn;
  };
  CHECK(crash_at_every_statement(scenario) >= 5);
}

}  // namespace airlock::store
