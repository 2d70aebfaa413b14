// Opening a store: migrations from an empty file, the file's mode, reopening, refusing a newer schema and a
// wrong key.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include "migrations.hpp"
#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

namespace {

testing::Thrown open_error(const std::filesystem::path& db, unsigned char key, std::string source = "test key") {
  testing::TestClock clock;
  return testing::thrown_by([&] {
    (void)Store::open(Options{db, testing::key_of(key), clock.clock(), std::move(source)});
  });
}

std::string text_of(const std::filesystem::path& db_path, const std::string& sql) {
  Database db{db_path};
  auto stmt = db.statement(sql);
  REQUIRE(stmt.has_value());
  StatementUse use{db, stmt.value()};
  std::string out;
  for (;;) {
    auto row = use.step();
    REQUIRE(row.has_value());
    if (!row.value()) break;
    out += use.text(0) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE("an empty file is migrated to the current schema, in WAL mode") {
  testing::StoreFixture f;
  CHECK(Store::schema_version() == 4);
  CHECK(static_cast<int>(migrations().size()) == Store::schema_version());
  CHECK(testing::query_int(f.db_path, "PRAGMA user_version") == Store::schema_version());
  CHECK(text_of(f.db_path, "PRAGMA journal_mode") == "wal ");
  CHECK(text_of(f.db_path, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name") ==
        "agent_versions agents credential_secrets credentials deployment_runs deployments egress environments idempotency meta session_events "
        "session_vaults sessions sqlite_sequence vaults ");
  CHECK(text_of(f.db_path, "SELECT key FROM meta") == "master_key_check ");
}

// Durability is a promise of every acknowledged write (a credential's value is often thrown away once
// created): a commit fsyncs the WAL (synchronous FULL), not only at checkpoints (NORMAL).
TEST_CASE("the store's connection runs in WAL mode with synchronous FULL, foreign keys and a busy timeout") {
  testing::StoreFixture f;
  const Store::ConnectionSettings settings = f.store->connection_settings();
  CHECK(settings.journal_mode == "wal");
  CHECK(settings.synchronous == 2);
  CHECK(settings.foreign_keys);
  CHECK(settings.busy_timeout_ms == 5000);
}

TEST_CASE("the database and its -wal and -shm are 0600 whatever the umask, a looser file is tightened") {
  const auto mode_of = [](const std::filesystem::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
  };
  const mode_t previous = ::umask(022);
  testing::StoreFixture f;
  (void)f.store->create_vault(R"({"display_name":"Alice"})");  // a write, so the -wal and -shm exist
  CHECK(mode_of(f.db_path) == 0600);
  CHECK(mode_of(f.db_path.string() + "-wal") == 0600);
  CHECK(mode_of(f.db_path.string() + "-shm") == 0600);
  f.store.reset();
  REQUIRE(::chmod(f.db_path.c_str(), 0644) == 0);
  f.reopen();
  CHECK(mode_of(f.db_path) == 0600);
  ::umask(previous);
}

TEST_CASE("reopening keeps the data and does not migrate again") {
  testing::StoreFixture f;
  auto vault = f.store->create_vault(R"({"display_name":"Alice"})");
  REQUIRE(vault.has_value());
  f.reopen();
  auto again = f.store->get_vault(vault.value().id);
  REQUIRE(again.has_value());
  CHECK(again.value().doc == R"({"display_name":"Alice"})");
  CHECK(again.value().created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(testing::query_int(f.db_path, "PRAGMA user_version") == Store::schema_version());
}

TEST_CASE("a database from a newer build is refused with newer_schema, naming both versions") {
  testing::StoreFixture f;
  f.store.reset();
  const int newer = Store::schema_version() + 1;
  testing::exec_sql(f.db_path, fmt::format("PRAGMA user_version = {}", newer));
  const auto error = open_error(f.db_path, 1);
  CHECK(error.code == make_error_code(Errc::newer_schema));
  CHECK(error.message ==
        fmt::format("{} has schema version {}, but this Airlock build knows versions up to {}: it was written by a "
                    "newer Airlock. Run that newer version, or restore a backup of the data dir taken before the "
                    "upgrade",
                    f.db_path.string(), newer, Store::schema_version()));
  CHECK(testing::query_int(f.db_path, "PRAGMA user_version") == newer);  // left as it was
}

TEST_CASE("a failing migration step leaves the file at its old version") {
  testing::TempDir dir;
  const auto path = dir.path() / "airlock.db";
  // A table the first step creates already exists, so step 1 fails and the transaction rolls back.
  testing::exec_sql(path, "CREATE TABLE vaults (x)");
  const auto error = open_error(path, 1);
  CHECK(error.code == make_error_code(Errc::io));
  CHECK(error.message ==
        "migrating " + path.string() + " (step 1) failed: CREATE TABLE meta (: table vaults already exists");
  CHECK(testing::query_int(path, "PRAGMA user_version") == 0);
  CHECK(testing::query_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'credentials'") == 0);
}

TEST_CASE("another master key is refused with wrong_master_key, naming its source and the file") {
  testing::StoreFixture f;
  f.store.reset();
  const auto error = open_error(f.db_path, 2, "AIRLOCK_MASTER_KEY");
  CHECK(error.code == make_error_code(Errc::wrong_master_key));
  CHECK(error.message ==
        "the master key from AIRLOCK_MASTER_KEY does not open " + f.db_path.string() +
            ": it was sealed under another key; restore the original master.key or AIRLOCK_MASTER_KEY");
  f.reopen(1);  // the right key still opens it
  CHECK(f.store->list_vaults({}).has_value());
}

TEST_CASE("a master key that is not 32 bytes is refused") {
  testing::TempDir dir;
  testing::TestClock clock;
  const auto error = testing::thrown_by([&] {
    (void)Store::open(Options{dir.path() / "airlock.db", SecretValue{std::string_view{"short"}}, clock.clock(), ""});
  });
  CHECK(error.code == make_error_code(Errc::wrong_master_key));
  CHECK(error.message == "the master key for " + (dir.path() / "airlock.db").string() + " must be 32 bytes");
}

TEST_CASE("a file that is not a database is an I/O error") {
  testing::TempDir dir;
  const auto path = dir.path() / "airlock.db";
  std::ofstream(path) << std::string(4096, 'x');
  const auto error = open_error(path, 1);
  CHECK(error.code == make_error_code(Errc::io));
  CHECK(error.message == path.string() + " (PRAGMA journal_mode = WAL): prepare: file is not a database");
}

}  // namespace airlock::store
