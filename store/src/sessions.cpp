// Sessions and their events. A session row holds the columns control filters on (agent, deployment,
// status, archive state) and `doc`; its vault ids live in session_vaults, ordered by position. Events are
// append-only rows of session_events, ordered by seq (AUTOINCREMENT: never reused). Creating, archiving
// and deleting a session fire on_sessions_changed after the outermost commit: those are the changes that
// alter active_sessions(), from which the proxy learns which sessions (and tokens) exist.
//
// The proxy token (SECURITY.md K3) is derived from the master key, never stored: BLAKE2b keyed with a
// KDF subkey, so the master key itself never keys anything the sandbox sees.
#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include <boost/outcome/try.hpp>
#include <fmt/format.h>
#include <sodium.h>

#include "seal.hpp"
#include "store_impl.hpp"

namespace airlock::store {

namespace {

constexpr std::array<std::string_view, 4> kStatuses = {"idle", "running", "rescheduling", "terminated"};

// crypto_kdf contexts are exactly 8 bytes.
constexpr char kProxyTokenContext[crypto_kdf_CONTEXTBYTES + 1] = "airlkptk";
constexpr std::uint64_t kProxyTokenSubkeyId = 1;

constexpr std::string_view kSessionColumns =
    "t.id, t.agent_id, t.agent_version, t.environment_id, t.deployment_id, t.status, t.doc, t.created_at, "
    "t.updated_at, t.archived_at";

constexpr std::string_view kInsertSession =
    "INSERT INTO sessions (id, agent_id, agent_version, environment_id, deployment_id, status, doc, created_at, "
    "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'idle', ?6, ?7, ?7)";
constexpr std::string_view kInsertVault = "INSERT INTO session_vaults (session_id, position, vault_id) VALUES (?, ?, ?)";
constexpr std::string_view kSelectVaults = "SELECT vault_id FROM session_vaults WHERE session_id = ? ORDER BY position";
constexpr std::string_view kUpdateSession = "UPDATE sessions SET doc = ?1, updated_at = ?2 WHERE id = ?3";
constexpr std::string_view kSetStatus = "UPDATE sessions SET status = ?1, updated_at = ?2 WHERE id = ?3";
constexpr std::string_view kArchiveSession =
    "UPDATE sessions SET archived_at = ?1, updated_at = ?1 WHERE id = ?2 AND archived_at IS NULL";
constexpr std::string_view kDeleteSession = "DELETE FROM sessions WHERE id = ?";  // events, egress: ON DELETE CASCADE
// Every active session with its vaults, one row per (session, vault) or one row with a NULL vault.
constexpr std::string_view kActiveSessions =
    "SELECT t.id, t.agent_id, t.agent_version, t.environment_id, t.deployment_id, t.status, t.doc, t.created_at, "
    "t.updated_at, t.archived_at, v.vault_id FROM sessions t LEFT JOIN session_vaults v ON v.session_id = t.id "
    "WHERE t.archived_at IS NULL ORDER BY t.created_at, t.id, v.position";
constexpr std::string_view kSessionExists = "SELECT 1 FROM sessions WHERE id = ?";

constexpr std::string_view kInsertEvent =
    "INSERT INTO session_events (id, session_id, type, processed_at, doc) VALUES (?, ?, ?, ?, ?)";
constexpr std::string_view kEventColumns = "t.id, t.session_id, t.type, t.processed_at, t.doc, t.seq";

// The list filters shared by both orders. The status list is bound as :s0..:s3 (at most the four
// statuses there are; see list_sessions).
constexpr std::string_view kSessionFilters =
    " (:all OR t.archived_at IS NULL)"
    " AND (:gte IS NULL OR t.created_at >= :gte) AND (:lte IS NULL OR t.created_at <= :lte)"
    " AND (:gt IS NULL OR t.created_at > :gt) AND (:lt IS NULL OR t.created_at < :lt)"
    " AND (:agent_id IS NULL OR (t.agent_id = :agent_id AND (:agent_version IS NULL OR t.agent_version = :agent_version)))"
    " AND (:deployment_id IS NULL OR t.deployment_id = :deployment_id)"
    " AND (:any_status OR t.status IN (:s0, :s1, :s2, :s3))";

Session read_session(const StatementUse& use) {
  Session session;
  session.id = use.text(0);
  session.agent_id = use.text(1);
  session.agent_version = static_cast<int>(use.integer(2));
  session.environment_id = use.text(3);
  session.deployment_id = use.optional_text(4);
  session.status = use.text(5);
  session.doc = use.text(6);
  session.created_at = use.text(7);
  session.updated_at = use.text(8);
  session.archived_at = use.optional_text(9);
  return session;
}

Event read_event(const StatementUse& use) {
  return Event{use.text(0), use.text(1), use.text(2), use.text(3), use.text(4), use.integer(5)};
}

std::error_code load_vaults(Database& db, Session& session) {
  auto stmt = db.statement(kSelectVaults);
  if (!stmt) return stmt.error();
  StatementUse use{db, stmt.value()};
  use.bind(1, session.id);
  for (;;) {
    auto row = use.step();
    if (!row) return row.error();
    if (!row.value()) return {};
    session.vault_ids.push_back(use.text(0));
  }
}

Result<Session> find_session(Database& db, std::string_view id) {
  Session session;
  {
    const std::string text = fmt::format("SELECT {} FROM sessions t WHERE t.id = ?", kSessionColumns);
    BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
    StatementUse use{db, stmt};
    use.bind(1, id);
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) return Errc::not_found;
    session = read_session(use);
  }
  if (auto ec = load_vaults(db, session)) return ec;
  return session;
}

std::error_code check_session_exists(Database& db, std::string_view id) {
  auto stmt = db.statement(kSessionExists);
  if (!stmt) return stmt.error();
  StatementUse use{db, stmt.value()};
  use.bind(1, id);
  auto row = use.step();
  if (!row) return row.error();
  return row.value() ? std::error_code{} : make_error_code(Errc::not_found);
}

bool known_status(std::string_view status) {
  return std::find(kStatuses.begin(), kStatuses.end(), status) != kStatuses.end();
}

// A write of one statement to one session row, then the row as it is now.
template <class Bind>
Result<Session> write_session(StoreState& impl, std::string_view sql, std::string_view id, Bind bind,
                              bool changes_sessions) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql));
    StatementUse use{impl.db_, stmt};
    bind(use);
    if (auto ec = use.run()) return ec;
  }
  if (changes_sessions && impl.db_.changes() > 0) tx.sessions_changed();
  BOOST_OUTCOME_TRY(auto session, find_session(impl.db_, id));  // Errc::not_found for an unknown id
  if (auto ec = tx.commit()) return ec;
  return session;
}

}  // namespace

// --- sessions ---

Result<Session> Store::create_session(NewSession session) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  const auto id = random_id("sesn_");
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertSession));
    StatementUse use{db, stmt};
    use.bind_all(id, session.agent_id, session.agent_version, session.environment_id, session.deployment_id,
                 session.doc, impl_->now());
    if (auto ec = use.run()) return ec;
  }
  for (std::size_t i = 0; i < session.vault_ids.size(); ++i) {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertVault));
    StatementUse use{db, stmt};
    use.bind_all(id, static_cast<std::int64_t>(i), session.vault_ids[i]);
    if (auto ec = use.run()) return ec;  // Errc::conflict: a vault listed twice
  }
  tx.sessions_changed();
  BOOST_OUTCOME_TRY(auto created, find_session(db, id));
  if (auto ec = tx.commit()) return ec;
  return created;
}

Result<Session> Store::get_session(std::string_view id) { return find_session(impl_->db_, id); }

Result<Session> Store::update_session(std::string_view id, std::string_view doc) {
  const auto now = impl_->now();
  return write_session(*impl_, kUpdateSession, id, [&](StatementUse& use) { use.bind_all(doc, now, id); }, false);
}

Result<Session> Store::set_session_status(std::string_view id, std::string_view status) {
  if (!known_status(status)) return make_error_code(std::errc::invalid_argument);
  const auto now = impl_->now();
  return write_session(*impl_, kSetStatus, id, [&](StatementUse& use) { use.bind_all(status, now, id); }, false);
}

Result<Session> Store::archive_session(std::string_view id) {
  const auto now = impl_->now();
  return write_session(*impl_, kArchiveSession, id, [&](StatementUse& use) { use.bind_all(now, id); }, true);
}

Result<void> Store::delete_session(std::string_view id) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kDeleteSession));
    StatementUse use{db, stmt};
    if (auto ec = use.bind(1, id).run()) return ec;
  }
  if (db.changes() == 0) return Errc::not_found;
  tx.sessions_changed();
  if (auto ec = tx.commit()) return ec;
  return boost::outcome_v2::success();
}

Result<Page<Session>> Store::list_sessions(const SessionQuery& query) {
  auto& db = impl_->db_;
  // Statuses the schema can hold, without repeats: at most four, one per :sN. A filter that names only
  // statuses no row can have matches nothing (rather than everything).
  std::vector<std::string_view> statuses;
  for (const auto& status : query.statuses) {
    if (known_status(status) && std::find(statuses.begin(), statuses.end(), status) == statuses.end()) {
      statuses.push_back(status);
    }
  }
  if (!query.statuses.empty() && statuses.empty()) return Page<Session>{};

  const std::string text = fmt::format(
      "SELECT {} FROM sessions t WHERE{} AND (:after_created IS NULL OR (t.created_at, t.id) {} (:after_created, "
      ":after_id)) ORDER BY t.created_at {}, t.id {} LIMIT :limit",
      kSessionColumns, kSessionFilters, query.ascending ? ">" : "<", query.ascending ? "ASC" : "DESC",
      query.ascending ? "ASC" : "DESC");
  Page<Session> page;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
    StatementUse use{db, stmt};
    bind_page(use, query);  // :all, the created_at bounds, the cursor and :limit (one more than the page)
    use.bind(":agent_id", query.agent_id).bind(":deployment_id", query.deployment_id);
    if (query.agent_version) {
      use.bind(":agent_version", *query.agent_version);
    } else {
      use.bind(":agent_version", std::nullopt);
    }
    use.bind(":any_status", statuses.empty());
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      const std::string name = fmt::format(":s{}", i);
      if (i < statuses.size()) {
        use.bind(name.c_str(), statuses[i]);
      } else {
        use.bind(name.c_str(), std::nullopt);
      }
    }
    BOOST_OUTCOME_TRY(page, read_page<Session>(use, query, read_session));
  }
  for (auto& session : page.items) {
    if (auto ec = load_vaults(db, session)) return ec;
  }
  return page;
}

Result<std::vector<Session>> Store::active_sessions() {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kActiveSessions));
  StatementUse use{db, stmt};
  std::vector<Session> sessions;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    // Rows of one session are adjacent (ORDER BY t.id after created_at), one per vault.
    if (sessions.empty() || sessions.back().id != use.text(0)) sessions.push_back(read_session(use));
    if (!use.is_null(10)) sessions.back().vault_ids.push_back(use.text(10));
  }
  return sessions;
}

void Store::on_sessions_changed(std::function<void()> callback) {
  impl_->session_callbacks_.push_back(std::move(callback));
}

std::string Store::session_proxy_token(std::string_view session_id) const {
  return keyed_hex_digest(impl_->master_key_, kProxyTokenSubkeyId, kProxyTokenContext, session_id);
}

// --- events ---

// NOLINTNEXTLINE(performance-unnecessary-value-param): the loop moves from it
Result<std::vector<Event>> Store::append_events(std::string_view session_id, std::vector<NewEvent> events) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  if (auto ec = check_session_exists(db, session_id)) return ec;
  const auto now = impl_->now();
  std::vector<Event> appended;
  appended.reserve(events.size());
  for (NewEvent& wanted : events) {
    std::string id = std::move(wanted.id);
    if (!id.empty()) {
      BOOST_OUTCOME_TRY(auto taken, db.statement("SELECT 1 FROM session_events WHERE id = ?"));
      StatementUse check{db, taken};
      check.bind_all(id);
      BOOST_OUTCOME_TRY(auto row, check.step());
      if (row) id.clear();
    }
    if (id.empty()) id = random_id("sevt_");
    Event event{std::move(id), std::string{session_id}, std::move(wanted.type), now, std::move(wanted.doc), 0};
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertEvent));
    StatementUse use{db, stmt};
    use.bind_all(event.id, event.session_id, event.type, event.processed_at, event.doc);
    if (auto ec = use.run()) return ec;
    event.seq = sqlite3_last_insert_rowid(db.handle());
    appended.push_back(std::move(event));
  }
  if (auto ec = tx.commit()) return ec;
  return appended;
}

Result<std::optional<std::int64_t>> Store::event_seq(std::string_view session_id, std::string_view event_id) {
  auto& db = impl_->db_;
  if (auto ec = check_session_exists(db, session_id)) return ec;
  BOOST_OUTCOME_TRY(auto stmt, db.statement("SELECT seq FROM session_events WHERE id = ? AND session_id = ?"));
  StatementUse use{db, stmt};
  use.bind_all(event_id, session_id);
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{use.integer(0)};
}

Result<Page<Event>> Store::list_events(std::string_view session_id, const EventQuery& query) {
  auto& db = impl_->db_;
  if (auto ec = check_session_exists(db, session_id)) return ec;

  // Types are bound one parameter each (:t0, :t1, ...), so each distinct count is its own cached
  // statement; control bounds the count.
  std::vector<std::string_view> types;
  for (const auto& type : query.types) {
    if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
  }
  std::string type_filter;
  if (!types.empty()) {
    type_filter = " AND t.type IN (";
    for (std::size_t i = 0; i < types.size(); ++i) type_filter += fmt::format("{}:t{}", i == 0 ? "" : ", ", i);
    type_filter += ")";
  }
  const std::string text = fmt::format(
      "SELECT {} FROM session_events t WHERE t.session_id = :session_id"
      " AND t.seq {} :after"
      " AND (:gt IS NULL OR t.processed_at > :gt) AND (:gte IS NULL OR t.processed_at >= :gte)"
      " AND (:lt IS NULL OR t.processed_at < :lt) AND (:lte IS NULL OR t.processed_at <= :lte){}"
      " ORDER BY t.seq {} LIMIT :limit",
      kEventColumns, query.ascending ? ">" : "<", type_filter, query.ascending ? "ASC" : "DESC");
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  use.bind(":session_id", session_id)
      .bind(":gt", query.processed_gt)
      .bind(":gte", query.processed_gte)
      .bind(":lt", query.processed_lt)
      .bind(":lte", query.processed_lte);
  // Always a bound, never `:after IS NULL OR ...`, which keeps SQLite from searching
  // session_events_by_session from the cursor (bench/README.md, "Audit at full rate": egress had the same).
  use.bind(":after", query.after_seq.value_or(query.ascending ? std::int64_t{0} : std::numeric_limits<std::int64_t>::max()));
  for (std::size_t i = 0; i < types.size(); ++i) use.bind(fmt::format(":t{}", i).c_str(), types[i]);
  ListQuery limits;
  limits.limit = query.limit;
  const std::size_t limit = page_limit(limits);
  use.bind(":limit", static_cast<std::int64_t>(limit + 1));  // one more: is there a next page?

  Page<Event> page;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    if (page.items.size() == limit) {
      page.next = Cursor{page.items.back().processed_at, std::to_string(page.items.back().seq)};
      break;
    }
    page.items.push_back(read_event(use));
  }
  return page;
}

}  // namespace airlock::store
