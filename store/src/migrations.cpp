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

// Step 2: sessions, their events and their egress audit. Self-contained: nothing here refers to a
// deployments table (deployment_id is a plain column), so the deployments step can come after it.
//   - a session's vault list is ordered (position) and has no duplicates; its rows go with the session;
//   - events and egress rows go with their session (ON DELETE CASCADE); their seq is AUTOINCREMENT, so a
//     sequence number is never reused, even after the newest rows are deleted (cursors stay valid);
//   - status and decision take only the values the API names (CHECK).
// No foreign key names an agent, an environment or a vault: a session keeps its snapshot and its ids when
// those are archived or deleted later.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE sessions (
  id             TEXT PRIMARY KEY,
  agent_id       TEXT NOT NULL,
  agent_version  INTEGER NOT NULL CHECK (agent_version >= 1),
  environment_id TEXT NOT NULL,
  deployment_id  TEXT,
  status         TEXT NOT NULL DEFAULT 'idle'
                 CHECK (status IN ('idle', 'running', 'rescheduling', 'terminated')),
  doc            TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL,
  archived_at    TEXT
);
CREATE INDEX sessions_newest ON sessions (created_at DESC, id DESC);
CREATE INDEX sessions_by_agent ON sessions (agent_id, agent_version);
CREATE INDEX sessions_by_deployment ON sessions (deployment_id) WHERE deployment_id IS NOT NULL;

CREATE TABLE session_vaults (
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  position   INTEGER NOT NULL CHECK (position >= 0),
  vault_id   TEXT NOT NULL,
  PRIMARY KEY (session_id, position),
  UNIQUE (session_id, vault_id)
) WITHOUT ROWID;
CREATE INDEX session_vaults_by_vault ON session_vaults (vault_id);

CREATE TABLE session_events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  type         TEXT NOT NULL,
  processed_at TEXT NOT NULL,
  doc          TEXT NOT NULL
);
CREATE INDEX session_events_by_session ON session_events (session_id, seq);

CREATE TABLE egress (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  created_at      TEXT NOT NULL,
  method          TEXT NOT NULL,
  host            TEXT NOT NULL,
  port            INTEGER NOT NULL,
  path            TEXT NOT NULL,
  status          INTEGER NOT NULL,
  bytes_up        INTEGER NOT NULL,
  bytes_down      INTEGER NOT NULL,
  decision        TEXT NOT NULL CHECK (decision IN ('allowed', 'denied', 'error')),
  reason          TEXT,
  credentials_doc TEXT NOT NULL
);
CREATE INDEX egress_by_session ON egress (session_id, seq);
CREATE INDEX egress_age ON egress (created_at);
)sql";

// Step 3: deployments and their runs.
//   - a deployment's schedule is whole (expression and time zone, or neither); paused_reason is set
//     exactly when it is paused; an archived deployment reports "active" (CHECK);
//   - a run belongs to an existing deployment (deployments are never deleted), and there is at most one
//     run per (deployment, scheduled_at): the scheduler writes the row before it creates the session, so
//     this key, not the scheduler's memory, is what keeps a nominal fire from running twice. Manual runs
//     have a NULL scheduled_at, and NULLs never collide in a UNIQUE key;
//   - a run ends with a session or an error, never both; once it has one it never changes (trigger).
// No foreign key names an agent, environment, vault or session: a run and a deployment keep their ids
// when those go away, and the next fire reports it.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE deployments (
  id              TEXT PRIMARY KEY,
  agent_id        TEXT NOT NULL,
  agent_version   INTEGER NOT NULL CHECK (agent_version >= 1),
  cron_expression TEXT,
  cron_timezone   TEXT,
  status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  paused_reason   TEXT,
  last_run_at     TEXT,
  fire_after      TEXT NOT NULL,
  doc             TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  archived_at     TEXT,
  CHECK ((cron_expression IS NULL) = (cron_timezone IS NULL)),
  CHECK ((status = 'paused') = (paused_reason IS NOT NULL)),
  CHECK (archived_at IS NULL OR status = 'active')
);
CREATE INDEX deployments_newest ON deployments (created_at DESC, id DESC);
CREATE INDEX deployments_by_agent ON deployments (agent_id, created_at DESC, id DESC);
CREATE INDEX deployments_scheduled ON deployments (id)
  WHERE archived_at IS NULL AND status = 'active' AND cron_expression IS NOT NULL;

CREATE TABLE deployment_runs (
  id            TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES deployments (id),
  agent_id      TEXT NOT NULL,
  agent_version INTEGER NOT NULL CHECK (agent_version >= 1),
  scheduled_at  TEXT,
  session_id    TEXT,
  error_type    TEXT,
  error_message TEXT,
  created_at    TEXT NOT NULL,
  UNIQUE (deployment_id, scheduled_at),
  CHECK (session_id IS NULL OR error_type IS NULL),
  CHECK ((error_type IS NULL) = (error_message IS NULL))
);
CREATE INDEX deployment_runs_newest ON deployment_runs (created_at DESC, id DESC);
CREATE INDEX deployment_runs_by_deployment ON deployment_runs (deployment_id, created_at DESC, id DESC);
CREATE INDEX deployment_runs_unfinished ON deployment_runs (created_at)
  WHERE session_id IS NULL AND error_type IS NULL;
CREATE TRIGGER deployment_runs_finished_never_change BEFORE UPDATE ON deployment_runs
  WHEN OLD.session_id IS NOT NULL OR OLD.error_type IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, 'a finished deployment run never changes');
END;
)sql";

// Step 4: the address a transparent connection dialled (docs/sidecar.md), recorded beside the host Airlock
// resolved itself; NULL for connections through the forward proxy.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE egress ADD COLUMN original_destination TEXT;
)sql";

constexpr std::array<std::string_view, 4> kMigrations = {kV1, kV2, kV3, kV4};

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
