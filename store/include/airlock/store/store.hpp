// airlock::store — Airlock's durable state: one SQLite database (WAL) in the data dir, schema migrations,
// and secrets sealed with the master key.
//
// The store knows nothing of HTTP or JSON. A resource row has typed columns for what the store must query
// or enforce (ids, owners, unique names, timestamps, archive state) and `doc`, the rest of the resource as
// an opaque string that control serialises and parses. Secret fields never enter `doc`: they are passed as
// SecretValue, sealed with XChaCha20-Poly1305 under the master key (associated data: the credential id),
// and only unsealed on request.
//
// Threading: a Store is used from one thread (the control thread); it is not internally synchronised.
// Every write runs in a transaction (BEGIN IMMEDIATE). Callers group several writes into one atomic unit
// with begin(); writes made while such a transaction is open join it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/outcome/std_result.hpp>

#include "airlock/store/secret.hpp"

namespace airlock::store {

enum class Errc {
  not_found = 1,     // no row with that id (or not in that vault)
  conflict,          // a uniqueness rule: secret_name or mcp_server_url already used by an active credential
  archived,          // the target (or its owner, e.g. the vault of a new credential) is archived
  version_conflict,  // optimistic lock: the agent's version is not the one the caller expected
  newer_schema,      // the database was written by a newer Airlock
  wrong_master_key,  // the master key does not open this database's sealed values
  io,                // SQLite or the file system failed; the message says what
  disk_full,         // the data dir's file system is full (SQLITE_FULL, ENOSPC); the write was rolled back
  read_only,         // the database cannot be written (read-only file system or file); rolled back
};
const std::error_category& error_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

template <class T>
using Result = boost::outcome_v2::std_result<T>;

using Clock = std::function<std::chrono::system_clock::time_point()>;

// Timestamps are RFC 3339 UTC with exactly six fractional digits ("2026-11-27T02:21:22.123456Z"), so
// that text order is time order. format_time is what the store writes; control uses it for filters too.
std::string format_time(std::chrono::system_clock::time_point t);

// An unguessable id: prefix + "01" + 22 base58 characters (about 128 random bits), e.g. "vlt_01CZkZ...".
std::string random_id(std::string_view prefix);
// The same shape, for rows written at a high rate (the egress audit): the first 10 characters after "01"
// are `now` in microseconds, so new ids land at the end of the id index instead of all over it, and 12
// random characters (70 bits) keep ids of one microsecond apart.
std::string time_ordered_id(std::string_view prefix, std::chrono::system_clock::time_point now);

// Loads the 32-byte master key: from `env_value` (AIRLOCK_MASTER_KEY: 64 hex chars or base64) when it is
// non-empty, else from DATA_DIR/master.key, which is generated (mode 0600) when absent. `created` tells
// whether a new key file was written. Throws std::system_error (Errc::io or Errc::wrong_master_key for a
// malformed key) with a message naming the source and the expected form.
struct MasterKey {
  SecretValue key;
  bool created = false;
  std::string source;  // "AIRLOCK_MASTER_KEY" or the file path, for messages
};
MasterKey load_master_key(const std::filesystem::path& data_dir, std::string_view env_value);

// Keyset pagination position: rows are ordered newest first by (created_at, id).
struct Cursor {
  std::string created_at;
  std::string id;
};

struct ListQuery {
  std::size_t limit = 20;
  std::optional<Cursor> after{};  // continue strictly after this row
  bool include_archived = false;
  // Inclusive and exclusive bounds on created_at, already normalised with format_time.
  // (The {} initialisers let designated initialisers omit members without GCC 12's
  // -Wmissing-field-initializers.)
  std::optional<std::string> created_gte{}, created_lte{}, created_gt{}, created_lt{};
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<Cursor> next;  // set when more rows follow the last item
};

// A vault, agent or environment row.
struct Document {
  std::string id;
  std::string doc;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> archived_at;
};

struct Agent : Document {
  int version = 1;
};

struct Credential {
  std::string id;
  std::string vault_id;
  std::string auth_type;                      // environment_variable | static_bearer | mcp_oauth
  std::optional<std::string> secret_name;     // environment_variable: unique among the vault's active ones
  std::optional<std::string> mcp_server_url;  // static_bearer, mcp_oauth: unique among the vault's active ones
  std::optional<std::string> placeholder;     // environment_variable: stable, random, see make_placeholder
  std::vector<std::string> secret_fields;     // names of the sealed fields held, e.g. {"secret_value"}
  std::string doc;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> archived_at;
};

// Write-only fields by name ("secret_value", "token", "access_token", "refresh_token", "client_secret").
using SecretFields = std::vector<std::pair<std::string, SecretValue>>;

struct NewCredential {
  std::string vault_id;
  std::string auth_type;
  std::optional<std::string> secret_name{};
  std::optional<std::string> mcp_server_url{};
  std::string doc{};
  SecretFields secrets{};
};

// Placeholders: kPlaceholderPrefix followed by 40 characters of [A-Za-z0-9]; every character is RFC 3986
// unreserved, so no escaping in URLs, headers or JSON changes one, and the fixed prefix lets the proxy scan
// for candidates with one memmem.
inline constexpr std::string_view kPlaceholderPrefix = "airlock_ph_";
inline constexpr std::size_t kPlaceholderLength = 51;
std::string make_placeholder();

// What the proxy's credential snapshot is built from: every active credential of every active vault.
struct ActiveCredential {
  std::string id;
  std::string vault_id;
  std::string auth_type;
  std::optional<std::string> secret_name;
  std::optional<std::string> mcp_server_url;
  std::optional<std::string> placeholder;
  std::string doc;    // networking, injection_location, ...
  SecretValue value;  // the primary secret, unsealed: secret_value, token or access_token
  // The primary secret as stored, sealed (ciphertext, not a secret). Every write seals with a fresh random
  // nonce, so the same bytes mean the same value: a caller that unsealed them before can keep its copy.
  std::string sealed;
};

// A stored response for an Idempotency-Key, kept 24 h.
struct IdempotentResponse {
  std::string request_hash;  // what the first request was (method, path, body); a different one is a conflict
  int status = 0;
  std::string body;
  std::string created_at{};  // set by the store's clock; ignored by remember_idempotent
};

// ---- Sessions ------------------------------------------------------------------------------------------
// A session row: what control needs to query (agent, deployment, status, archive state) in typed columns,
// the ordered vault list in its own table, and `doc` for the rest (the agent snapshot, resources, metadata,
// title, budget, ...), which only control parses. Sessions start "idle".
struct Session {
  std::string id;  // "sesn_..."
  std::string agent_id;
  int agent_version = 1;
  std::string environment_id;
  std::optional<std::string> deployment_id;
  std::string status = "idle";  // idle | running | rescheduling | terminated
  std::vector<std::string> vault_ids;
  std::string doc;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> archived_at;
};

struct NewSession {
  std::string agent_id;
  int agent_version = 1;
  std::string environment_id;
  std::optional<std::string> deployment_id{};
  std::vector<std::string> vault_ids{};  // in order, without duplicates (Errc::conflict otherwise)
  std::string doc{};
};

// Keyset pages over sessions, newest first unless `ascending`. An empty `statuses` means any status.
struct SessionQuery : ListQuery {
  std::optional<std::string> agent_id{};
  std::optional<int> agent_version{};  // only applies together with agent_id
  std::optional<std::string> deployment_id{};
  std::vector<std::string> statuses{};
  bool ascending = false;
};

// A stored session event. `seq` orders a session's events (and every event, across sessions) in the
// order they were appended; processed_at is the store's clock when it was appended.
// An event to append: its type, its JSON document, and the id it asks for ("" for a new one).
struct NewEvent {
  std::string type;
  std::string doc;
  std::string id;
};

struct Event {
  std::string id;  // "sevt_..."
  std::string session_id;
  std::string type;
  std::string processed_at;
  std::string doc;  // the event's other fields
  std::int64_t seq = 0;
};

// A page of a session's events, oldest first unless !ascending. `types` empty means every type; the
// processed bounds are normalised with format_time. Page::next has the last event's processed_at and
// its seq as text (the id); pass that seq back as after_seq.
struct EventQuery {
  std::size_t limit = 100;
  std::optional<std::int64_t> after_seq{};
  bool ascending = true;
  std::vector<std::string> types{};
  std::optional<std::string> processed_gt{}, processed_gte{}, processed_lt{}, processed_lte{};
};

// One request through the proxy, for the session's egress audit (API.md §10). Never a secret value:
// `path` is without the query string, and `credentials_doc` names credentials (id, secret_name,
// location), as a JSON array that control writes and reads.
struct EgressRow {
  std::string session_id;
  std::string created_at;
  std::string method;
  std::string host;
  int port = 0;
  std::string path;
  int status = 0;
  std::int64_t bytes_up = 0;
  std::int64_t bytes_down = 0;
  std::string decision;  // allowed | denied | error
  std::string reason;    // "" when none
  std::string credentials_doc = "[]";
  std::string original_destination;  // transparent connections: "address:port" as dialled; "" otherwise
};

struct EgressEntry : EgressRow {
  std::string id;  // "egr_..."
  std::int64_t seq = 0;
};
// ---- end of Sessions ----------------------------------------------------------------------------------

// ---- Deployments ---------------------------------------------------------------------------------------
// A deployment row: typed columns for what the store filters on or the scheduler needs (the pinned agent,
// the schedule, status and pause reason, last_run_at, fire_after) and `doc` for the rest (name,
// environment, vaults, resources, initial events, metadata, budget), which only control parses.
//
// States: active <-> paused (pause, unpause; an auto-pause records the run error type as the reason),
// and from either, archived (final). The schema holds the invariants: paused_reason is set exactly when
// paused, and an archived deployment is active (API.md §5: archived ones report status "active").
struct CronSpec {
  std::string expression;
  std::string timezone;
  friend bool operator==(const CronSpec&, const CronSpec&) = default;
};

struct Deployment {
  std::string id;  // "depl_..."
  std::string agent_id;
  int agent_version = 1;
  std::optional<CronSpec> schedule;          // nullopt: manual runs only
  std::string status = "active";             // active | paused
  std::optional<std::string> paused_reason;  // "manual", or the run error type that auto-paused it
  std::optional<std::string> last_run_at;    // when the most recent scheduled run started (its created_at)
  // Scheduled fires count only strictly after this instant: set to now at create, at a schedule change
  // and at unpause (no backfill), and advanced to each scheduled run's nominal time when it begins.
  std::string fire_after;
  std::string doc;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> archived_at;
};

// What create_deployment and update_deployment write: the whole new state of the writable fields.
struct DeploymentFields {
  std::string agent_id;
  int agent_version = 1;
  std::optional<CronSpec> schedule{};
  std::string doc{};
};

struct DeploymentQuery : ListQuery {
  std::optional<std::string> agent_id{};
  std::optional<std::string> status{};  // active | paused
};

// One attempt to start a session for a deployment (API.md §5 DeploymentRun). A run row is written
// before its session is created and finished exactly once, with a session id or an error; until then it
// is "unfinished" and invisible to get_run and list_runs. At most one run exists per (deployment,
// scheduled_at) (a UNIQUE key), so a nominal fire can never run twice, even across a crash.
struct DeploymentRun {
  std::string id;  // "drun_..."
  std::string deployment_id;
  std::string agent_id;
  int agent_version = 1;
  std::optional<std::string> scheduled_at;  // the nominal fire instant (format_time); nullopt: manual
  std::optional<std::string> session_id;
  std::optional<std::string> error_type;
  std::optional<std::string> error_message;
  std::string created_at;
};

struct NewRun {
  std::string deployment_id;
  std::string agent_id;
  int agent_version = 1;
  std::optional<std::string> scheduled_at{};  // format_time of the nominal instant, for a scheduled run
};

struct RunQuery : ListQuery {
  std::optional<std::string> deployment_id{};
  std::optional<std::string> trigger_type{};  // "manual" | "schedule"
  std::optional<bool> has_error{};            // true: finished with an error; false: with a session
};
// ---- end of Deployments --------------------------------------------------------------------------------

struct Options {
  std::filesystem::path path;       // DATA_DIR/airlock.db
  SecretValue master_key;           // 32 bytes
  Clock clock{};                    // default: system_clock::now
  std::string master_key_source{};  // MasterKey::source, named in the wrong-key message
  // Test seam: called with the SQL after every statement that writes (BEGIN, SAVEPOINT, RELEASE and COMMIT
  // included) once open() has returned. The crash-safety tests _exit() in it to stop the process between
  // two statements of one write. Empty outside tests.
  std::function<void(std::string_view sql)> after_write_for_test{};
};

class Store {
 public:
  // Opens (creating if needed) and migrates the database. Startup only, so failures throw
  // std::system_error with a store Errc and a what() that says what to do: a database from a newer build
  // (Errc::newer_schema), a master key that does not match the one the database was created with
  // (Errc::wrong_master_key), or an unusable file (Errc::io, with SQLite's message).
  static std::unique_ptr<Store> open(Options options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The schema version this build writes (PRAGMA user_version).
  static int schema_version() noexcept;

  // What the store's connection runs with, as SQLite reports it: the durability every acknowledged write
  // relies on (for diagnostics, and for the test that pins it).
  struct ConnectionSettings {
    std::string journal_mode;  // "wal"
    int synchronous = 0;       // 2: FULL, an fsync of the WAL at every commit
    bool foreign_keys = false;
    int busy_timeout_ms = 0;
  };
  ConnectionSettings connection_settings();

  // SQLite's (or the store's) description of the most recent failure, for the log next to an Errc::io
  // result. It never contains a bound value, so never a secret.
  const std::string& last_error() const noexcept;

  // An atomic unit of several writes: BEGIN IMMEDIATE now, ROLLBACK on destruction unless committed.
  // Store writes made while it is open join it instead of committing on their own (each as a savepoint,
  // so a write that fails undoes only itself). A Transaction opened inside another one is a savepoint of
  // it. The constructor throws std::system_error (Errc::io) when the write lock cannot be had within the
  // busy timeout. Transactions end in the reverse order of their beginning, before the Store is destroyed.
  class Transaction {
   public:
    explicit Transaction(Store& store);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    std::error_code commit();

   private:
    Store* store_;
    bool done_ = false;
  };

  // Vaults. delete_vault removes its credentials too.
  Result<Document> create_vault(std::string_view doc);
  Result<Document> get_vault(std::string_view id);
  Result<Document> update_vault(std::string_view id, std::string_view doc);
  Result<Document> archive_vault(std::string_view id);
  Result<void> delete_vault(std::string_view id);
  Result<Page<Document>> list_vaults(const ListQuery& query);

  // Credentials, always addressed through their vault. create_credential: Errc::not_found (vault),
  // Errc::archived (vault archived), Errc::conflict (secret_name / mcp_server_url in use). update replaces
  // `doc` and the named secrets it is given (others are kept).
  Result<Credential> create_credential(NewCredential credential);
  Result<Credential> get_credential(std::string_view vault_id, std::string_view id);
  Result<Credential> update_credential(std::string_view vault_id, std::string_view id, std::string_view doc,
                                       SecretFields replaced_secrets);
  Result<Credential> archive_credential(std::string_view vault_id, std::string_view id);
  Result<void> delete_credential(std::string_view vault_id, std::string_view id);
  Result<Page<Credential>> list_credentials(std::string_view vault_id, const ListQuery& query);
  Result<SecretValue> unseal_secret(std::string_view credential_id, std::string_view field);

  // The proxy snapshot's source, and a notification after every committed change that can alter it
  // (credential or vault created, updated, archived, deleted). The callback runs on the store's thread,
  // after the outermost commit (never after a rollback), and may use the store. It should not throw: an
  // exception leaves through the store call (or Transaction::commit) whose commit ran it, though the
  // change stays committed.
  // active_credentials: a credential without its primary secret has an empty value. `still_held`, when
  // given, is asked for each credential before its value is unsealed (with everything but `value` set);
  // when it answers true the value is left empty, because the caller holds it from an earlier call
  // (unsealing every credential at every change made large stores slow).
  Result<std::vector<ActiveCredential>> active_credentials(
      const std::function<bool(const ActiveCredential&)>& still_held = {});
  void on_credentials_changed(std::function<void()> callback);

  // Agents. Versions start at 1; update_agent stores a new version only when `doc` differs from the
  // latest, and fails with Errc::version_conflict when expected_version is set and is not the latest.
  Result<Agent> create_agent(std::string_view doc);
  Result<Agent> get_agent(std::string_view id, std::optional<int> version = std::nullopt);
  Result<Agent> update_agent(std::string_view id, std::string_view doc, std::optional<int> expected_version);
  Result<Agent> archive_agent(std::string_view id);
  Result<Page<Agent>> list_agents(const ListQuery& query);
  // Newest version first; the cursor's created_at is unused and its id is the version number.
  // include_archived and the created_at bounds do not apply to versions.
  Result<Page<Agent>> list_agent_versions(std::string_view id, const ListQuery& query);

  // Environments.
  Result<Document> create_environment(std::string_view doc);
  Result<Document> get_environment(std::string_view id);
  Result<Document> update_environment(std::string_view id, std::string_view doc);
  Result<Document> archive_environment(std::string_view id);
  Result<void> delete_environment(std::string_view id);
  Result<Page<Document>> list_environments(const ListQuery& query);

  // Idempotency-Key records. remember_idempotent joins the caller's transaction, so the resource and the
  // response it produced commit together. Records older than 24 h are ignored and purged, and their key
  // may be remembered again; remembering a key whose record is younger fails with Errc::conflict.
  Result<std::optional<IdempotentResponse>> find_idempotent(std::string_view key);
  Result<void> remember_idempotent(std::string_view key, const IdempotentResponse& response);
  Result<void> purge_idempotent();

  // Sealing other at-rest secrets under the master key (the CA's private key in ca.key.sealed).
  // `associated_data` names what the value is, so a sealed file cannot be swapped for another kind.
  std::string seal_blob(std::span<const unsigned char> plaintext, std::string_view associated_data) const;
  // Errc::wrong_master_key when the value does not open (another key, other data, or altered bytes).
  Result<SecretValue> unseal_blob(std::string_view sealed, std::string_view associated_data) const;
  // What an Idempotency-Key record remembers of its request: a digest keyed from the master key (64 hex).
  std::string request_fingerprint(std::string_view request) const;

  // ---- Sessions ----------------------------------------------------------------------------------------
  // create_session: a new idle session ("sesn_..."); Errc::conflict when vault_ids repeats an id. The store
  // does not check that the agent, environment or vaults exist: control decides that, and a session keeps
  // its ids when they go away later. update_session replaces `doc`; set_session_status takes idle,
  // running, rescheduling or terminated (std::errc::invalid_argument otherwise). Archiving sets
  // archived_at once (again: the row unchanged). delete_session removes its events and egress rows too.
  // Unknown ids are Errc::not_found.
  Result<Session> create_session(NewSession session);
  Result<Session> get_session(std::string_view id);
  Result<Session> update_session(std::string_view id, std::string_view doc);
  Result<Session> set_session_status(std::string_view id, std::string_view status);
  Result<Session> archive_session(std::string_view id);
  Result<void> delete_session(std::string_view id);
  Result<Page<Session>> list_sessions(const SessionQuery& query);
  // Every session not archived, oldest first: what the proxy's session table is built from. Sessions
  // that go away by archive or delete (and new ones) fire on_sessions_changed, after the outermost commit,
  // like on_credentials_changed (same rules: the store's thread, never after a rollback, should not throw).
  Result<std::vector<Session>> active_sessions();
  void on_sessions_changed(std::function<void()> callback);
  // SECURITY.md K3: the session's proxy password, derived and never stored: lowercase hex of BLAKE2b-256
  // (crypto_generichash) over the session id, keyed with a subkey of the master key
  // (crypto_kdf_derive_from_key, context "airlkptk", subkey id 1). 64 characters. It does not check that
  // the session exists; compare with sodium_memcmp.
  std::string session_proxy_token(std::string_view session_id) const;

  // Session events, appended in one transaction, in order, with processed_at = now and each its `id`, or
  // a new "sevt_..." one when that is empty or already taken (a harness names its events; control checks
  // the shape). Errc::not_found for an unknown session (archived sessions take events; control decides).
  Result<std::vector<Event>> append_events(std::string_view session_id, std::vector<NewEvent> events);
  Result<Page<Event>> list_events(std::string_view session_id, const EventQuery& query);
  // The seq of the session's event `event_id`, or nullopt when the session has no such event
  // (Errc::not_found for an unknown session): where a reconnecting stream (Last-Event-ID) goes on from.
  Result<std::optional<std::int64_t>> event_seq(std::string_view session_id, std::string_view event_id);

  // The egress audit. record_egress writes a batch in one transaction (ids "egr_..."); rows whose session
  // no longer exists are skipped (the audit writer may trail a delete); a row with another decision than
  // allowed, denied or error fails the batch with std::errc::invalid_argument before anything is written.
  // list_egress pages a session's rows oldest first (Page::next.id = the last seq as text; Errc::not_found
  // for an unknown session); purge_egress_before deletes at most `max_rows` of the rows created before the
  // instant (format_time text), in one transaction, and returns how many: a caller purges a backlog in
  // turns short enough not to stall the audit writer.
  Result<void> record_egress(const std::vector<EgressRow>& rows);
  Result<Page<EgressEntry>> list_egress(std::string_view session_id, std::size_t limit,
                                        std::optional<std::int64_t> after_seq);
  Result<std::size_t> purge_egress_before(std::string_view created_at, std::size_t max_rows);
  // The newest refusals and failures (decision denied or error) of every session, newest first, at most
  // `limit`, looked for among the newest `window` rows only: the cost is bounded however large the audit.
  Result<std::vector<EgressEntry>> list_recent_refusals(std::size_t limit, std::size_t window);
  // Retention by size: purge_oldest_egress deletes the `rows` oldest rows (by seq) in one transaction and
  // returns how many; used_bytes is what the database's pages hold, (page_count - freelist_count) ×
  // page_size. Deleted rows free pages that SQLite reuses; the file does not shrink.
  Result<std::size_t> purge_oldest_egress(std::size_t rows);
  Result<std::int64_t> used_bytes();
  // ---- end of Sessions ---------------------------------------------------------------------------------

  // ---- Counts, for GET /metrics ------------------------------------------------------------------------
  // Sessions by status, archived ones included. Finished deployment runs by outcome: "session_created"
  // for a run that created its session, else its error type (unfinished runs are not counted).
  Result<std::map<std::string, std::int64_t>> count_sessions_by_status();
  Result<std::map<std::string, std::int64_t>> count_runs_by_outcome();

  // ---- Deployments -------------------------------------------------------------------------------------
  // The store's clock (Options::clock): what "now" is for created_at, and for the deployments' upcoming
  // fires that control computes.
  std::chrono::system_clock::time_point now() const;

  // create_deployment: a new active deployment ("depl_..."), fire_after = now. update_deployment replaces
  // the writable fields; when the schedule changes, fire_after becomes now. pause_deployment records
  // `reason` ("manual" or a run error type); pausing a paused deployment leaves it unchanged (its first
  // reason stays). unpause_deployment makes it active, clears the reason and sets fire_after = now;
  // unpausing an active one leaves it unchanged. archive_deployment sets archived_at once (and status
  // active, reason cleared); again: unchanged. update, pause and unpause of an archived deployment fail
  // with Errc::archived, unknown ids with Errc::not_found. The store does not check that the agent,
  // environment or vaults exist: control decides that.
  Result<Deployment> create_deployment(const DeploymentFields& fields);
  Result<Deployment> get_deployment(std::string_view id);
  Result<Deployment> update_deployment(std::string_view id, const DeploymentFields& fields);
  Result<Deployment> pause_deployment(std::string_view id, std::string_view reason);
  Result<Deployment> unpause_deployment(std::string_view id);
  Result<Deployment> archive_deployment(std::string_view id);
  Result<Page<Deployment>> list_deployments(const DeploymentQuery& query);
  // Every deployment that fires on its own: not archived, active, with a schedule; by id.
  Result<std::vector<Deployment>> scheduled_deployments();
  // `callback(id)` runs after each deployment write above and after begin_run / pause by the scheduler,
  // on the store's thread, as soon as that write's own scope ends: when the write joined a caller's
  // transaction, that transaction may still commit or roll back. A listener therefore only notes the id
  // and reads the row later (the scheduler re-reads it from its own turn of the event loop).
  void on_deployment_changed(std::function<void(const std::string& id)> callback);

  // Runs. begin_run writes an unfinished run (created_at = now): Errc::not_found for an unknown
  // deployment, Errc::archived for an archived one, Errc::conflict when the deployment already has a run
  // for that scheduled_at. A scheduled run also sets the deployment's last_run_at to now and advances its
  // fire_after to scheduled_at. finish_run_with_session / finish_run_with_error finish an unfinished run
  // (Errc::conflict if it is finished already, Errc::not_found if unknown). get_run and list_runs see
  // finished runs only (newest first); unfinished_runs lists the others, oldest first, for recovery
  // after a crash.
  Result<DeploymentRun> begin_run(const NewRun& run);
  Result<DeploymentRun> finish_run_with_session(std::string_view id, std::string_view session_id);
  Result<DeploymentRun> finish_run_with_error(std::string_view id, std::string_view error_type,
                                              std::string_view message);
  Result<DeploymentRun> get_run(std::string_view id);
  Result<Page<DeploymentRun>> list_runs(const RunQuery& query);
  Result<std::vector<DeploymentRun>> unfinished_runs();
  // ---- end of Deployments ------------------------------------------------------------------------------

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::store

template <>
struct std::is_error_code_enum<airlock::store::Errc> : std::true_type {};
