// The schema, as numbered migration steps. The schema holds the invariants it can state itself:
//   - a credential belongs to an existing vault and goes with it (ON DELETE CASCADE), and so do its sealed
//     fields;
//   - among a vault's non-archived credentials, secret_name is unique, and so is mcp_server_url (partial
//     UNIQUE indexes), so archiving a credential frees its name;
//   - placeholders are unique across the whole store;
//   - an agent's current version is one of its stored versions (a deferred foreign key, checked at commit);
//   - a sealed value is at least nonce + tag long.
// Sessions, deployments and runs arrive as later steps.
#include "migrations.hpp"

#include <array>
#include <string>

#include <fmt/format.h>

#include "errors.hpp"

namespace airlock::store {

namespace {

constexpr std::string_view kV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE vaults (
  id          TEXT PRIMARY KEY,
  doc         TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  archived_at TEXT
);
CREATE INDEX vaults_newest ON vaults (created_at DESC, id DESC);

CREATE TABLE credentials (
  id             TEXT PRIMARY KEY,
  vault_id       TEXT NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
  auth_type      TEXT NOT NULL,
  secret_name    TEXT,
  mcp_server_url TEXT,
  placeholder    TEXT UNIQUE,
  doc            TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL,
  archived_at    TEXT,
  -- Each auth type is keyed by its own column: environment variables by secret_name (and carry the
  -- placeholder the sandbox sees), MCP credentials by mcp_server_url.
  CHECK (CASE auth_type
           WHEN 'environment_variable' THEN secret_name IS NOT NULL AND placeholder IS NOT NULL
                                            AND mcp_server_url IS NULL
           WHEN 'static_bearer' THEN mcp_server_url IS NOT NULL AND secret_name IS NULL
           WHEN 'mcp_oauth' THEN mcp_server_url IS NOT NULL AND secret_name IS NULL
           ELSE 0
         END)
);
CREATE INDEX credentials_newest ON credentials (vault_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX credentials_active_secret_name ON credentials (vault_id, secret_name)
  WHERE archived_at IS NULL AND secret_name IS NOT NULL;
CREATE UNIQUE INDEX credentials_active_mcp_server_url ON credentials (vault_id, mcp_server_url)
  WHERE archived_at IS NULL AND mcp_server_url IS NOT NULL;

CREATE TABLE credential_secrets (
  credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
  field         TEXT NOT NULL,
  sealed        BLOB NOT NULL CHECK (length(sealed) >= 40),
  PRIMARY KEY (credential_id, field)
) WITHOUT ROWID;

CREATE TABLE agents (
  id          TEXT PRIMARY KEY,
  version     INTEGER NOT NULL CHECK (version >= 1),
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  archived_at TEXT,
  FOREIGN KEY (id, version) REFERENCES agent_versions (agent_id, version) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX agents_newest ON agents (created_at DESC, id DESC);

CREATE TABLE agent_versions (
  agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  version    INTEGER NOT NULL CHECK (version >= 1),
  doc        TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (agent_id, version)
) WITHOUT ROWID;

CREATE TABLE environments (
  id          TEXT PRIMARY KEY,
  doc         TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  archived_at TEXT
);
CREATE INDEX environments_newest ON environments (created_at DESC, id DESC);

CREATE TABLE idempotency (
  key          TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_age ON idempotency (created_at);
)sql";

constexpr std::array<std::string_view, 1> kMigrations = {kV1};

int user_version(Database& db) {
  auto stmt = db.statement("PRAGMA user_version");
  if (!stmt) throw StoreError(stmt.error(), db.last_error());
  StatementUse use{db, stmt.value()};
  auto row = use.step();
  if (!row) throw StoreError(row.error(), db.last_error());
  return row.value() ? static_cast<int>(use.integer(0)) : 0;
}

}  // namespace

std::span<const std::string_view> migrations() noexcept { return kMigrations; }

void migrate(Database& db, const std::filesystem::path& path) {
  const int latest = static_cast<int>(kMigrations.size());
  auto refuse_newer = [&](int found) {
    throw StoreError(
        Errc::newer_schema,
        fmt::format("{} has schema version {}, but this Airlock build knows versions up to {}: it was written by "
                    "a newer Airlock. Run that newer version, or restore a backup of the data dir taken before the "
                    "upgrade",
                    path.string(), found, latest));
  };
  auto check = [&](std::error_code ec, std::string_view step) {
    if (ec) {
      throw StoreError(Errc::io, fmt::format("migrating {} ({}) failed: {}", path.string(), step, db.last_error()));
    }
  };

  if (const int found = user_version(db); found > latest)
    refuse_newer(found);
  else if (found == latest)
    return;

  check(db.exec("BEGIN IMMEDIATE"), "begin");
  try {
    // Read again under the write lock: another process may have migrated since the first look.
    const int found = user_version(db);
    if (found > latest) refuse_newer(found);
    for (int version = found; version < latest; ++version) {
      check(db.exec(std::string{kMigrations[static_cast<std::size_t>(version)]}), fmt::format("step {}", version + 1));
    }
    // PRAGMA user_version is part of the transaction: it commits or rolls back with the steps.
    check(db.exec(fmt::format("PRAGMA user_version = {}", latest)), "user_version");
    check(db.exec("COMMIT"), "commit");
  } catch (...) {
    (void)db.exec("ROLLBACK");
    throw;
  }
}

}  // namespace airlock::store
