// The egress audit: one row per request the proxy handled for a session (API.md §10), written in batches
// by the audit writer, listed per session oldest first, and purged by age (audit.retention_days). Rows
// carry names and locations, never a secret value (SECURITY.md S8); the store takes them as given.
//
// A batch is one transaction. The writer may trail the API (a session deleted while its last requests
// were queued), so a row whose session is gone is skipped rather than failing the whole batch.
#include <algorithm>
#include <string>

#include <boost/outcome/try.hpp>

#include "store_impl.hpp"

namespace airlock::store {

namespace {

// Inserts only when the session still exists (the foreign key would otherwise fail the batch).
constexpr std::string_view kInsertEgress =
    "INSERT INTO egress (id, session_id, created_at, method, host, port, path, status, bytes_up, bytes_down, "
    "decision, reason, credentials_doc, original_destination) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
    "?12, ?13, ?14 "
    "WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?2)";
constexpr std::string_view kSessionExists = "SELECT 1 FROM sessions WHERE id = ?";

}  // namespace

// The columns read_entry() reads, in its order: one list for every SELECT of rows (literals concatenate at
// compile time).
#define AIRLOCK_EGRESS_COLUMNS                                                                                 \
  "session_id, created_at, method, host, port, path, status, bytes_up, bytes_down, decision, reason, "         \
  "credentials_doc, id, seq, original_destination"

// `seq > :after` with :after 0 for the first page (seq starts at 1), never `(:after IS NULL OR seq > :after)`:
// with the OR, SQLite searches egress_by_session on session_id alone and walks the session's rows from its
// first one up to the cursor: a page 1,000 rows from the end of a session of 7 million took a second
// (bench/README.md, "Audit at full rate").
const std::string_view kListEgressSql =
    "SELECT " AIRLOCK_EGRESS_COLUMNS " FROM egress WHERE session_id = :session_id AND seq > :after "
    "ORDER BY seq LIMIT :limit";

namespace {

// Walks the primary key backwards over the newest :window rows, whatever their session.
constexpr std::string_view kRecentRefusals =
    "SELECT " AIRLOCK_EGRESS_COLUMNS " FROM (SELECT * FROM egress ORDER BY seq DESC LIMIT :window) "
    "WHERE decision <> 'allowed' ORDER BY seq DESC LIMIT :limit";
#undef AIRLOCK_EGRESS_COLUMNS
// A range of egress_age, so a batch costs the rows it deletes whatever the table holds.
constexpr std::string_view kPurgeEgress =
    "DELETE FROM egress WHERE seq IN (SELECT seq FROM egress WHERE created_at < ?1 LIMIT ?2)";
// The oldest rows by seq: the primary key's order, so the delete walks the front of the table only.
constexpr std::string_view kPurgeOldestEgress =
    "DELETE FROM egress WHERE seq IN (SELECT seq FROM egress ORDER BY seq LIMIT ?)";
constexpr std::string_view kUsedBytes =
    "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()), "
    "(SELECT page_size FROM pragma_page_size())";

bool known_decision(std::string_view decision) {
  return decision == "allowed" || decision == "denied" || decision == "error";
}

EgressEntry read_entry(const StatementUse& use) {
  EgressEntry entry;
  entry.session_id = use.text(0);
  entry.created_at = use.text(1);
  entry.method = use.text(2);
  entry.host = use.text(3);
  entry.port = static_cast<int>(use.integer(4));
  entry.path = use.text(5);
  entry.status = static_cast<int>(use.integer(6));
  entry.bytes_up = use.integer(7);
  entry.bytes_down = use.integer(8);
  entry.decision = use.text(9);
  entry.reason = use.optional_text(10).value_or("");
  entry.credentials_doc = use.text(11);
  entry.id = use.text(12);
  entry.seq = use.integer(13);
  entry.original_destination = use.optional_text(14).value_or("");
  return entry;
}

}  // namespace

Result<void> Store::record_egress(const std::vector<EgressRow>& rows) {
  if (std::any_of(rows.begin(), rows.end(), [](const EgressRow& row) { return !known_decision(row.decision); })) {
    return make_error_code(std::errc::invalid_argument);
  }
  if (rows.empty()) return boost::outcome_v2::success();
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  const auto now = std::chrono::system_clock::now();
  for (const auto& row : rows) {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertEgress));
    StatementUse use{db, stmt};
    std::optional<std::string> reason, original;
    if (!row.reason.empty()) reason = row.reason;
    if (!row.original_destination.empty()) original = row.original_destination;
    use.bind_all(time_ordered_id("egr_", now), row.session_id, row.created_at, row.method, row.host, row.port, row.path,
                 row.status, row.bytes_up, row.bytes_down, row.decision, reason, row.credentials_doc, original);
    if (auto ec = use.run()) return ec;
  }
  if (auto ec = tx.commit()) return ec;
  return boost::outcome_v2::success();
}

Result<Page<EgressEntry>> Store::list_egress(std::string_view session_id, std::size_t limit,
                                             std::optional<std::int64_t> after_seq) {
  auto& db = impl_->db_;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kSessionExists));
    StatementUse use{db, stmt};
    use.bind(1, session_id);
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) return Errc::not_found;
  }
  ListQuery limits;
  limits.limit = limit;
  const std::size_t page_size = page_limit(limits);
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kListEgressSql));
  StatementUse use{db, stmt};
  use.bind(":session_id", session_id).bind(":limit", static_cast<std::int64_t>(page_size + 1));
  use.bind(":after", after_seq.value_or(0));
  Page<EgressEntry> page;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    if (page.items.size() == page_size) {
      page.next = Cursor{page.items.back().created_at, std::to_string(page.items.back().seq)};
      break;
    }
    page.items.push_back(read_entry(use));
  }
  return page;
}

Result<std::vector<EgressEntry>> Store::list_recent_refusals(std::size_t limit, std::size_t window) {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kRecentRefusals));
  StatementUse use{db, stmt};
  use.bind(":window", static_cast<std::int64_t>(window)).bind(":limit", static_cast<std::int64_t>(limit));
  std::vector<EgressEntry> entries;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    entries.push_back(read_entry(use));
  }
  return entries;
}

namespace {

// One DELETE with its parameters, in a transaction of its own; how many rows it removed.
template <class... Parameters>
Result<std::size_t> purge(StoreState& impl, std::string_view sql, const Parameters&... parameters) {
  auto& db = impl.db_;
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(sql));
    StatementUse use{db, stmt};
    use.bind_all(parameters...);
    if (auto ec = use.run()) return ec;
  }
  const auto purged = static_cast<std::size_t>(db.changes());
  if (auto ec = tx.commit()) return ec;
  return purged;
}

}  // namespace

Result<std::size_t> Store::purge_egress_before(std::string_view created_at, std::size_t max_rows) {
  return purge(*impl_, kPurgeEgress, created_at, static_cast<std::int64_t>(max_rows));
}

Result<std::size_t> Store::purge_oldest_egress(std::size_t rows) {
  return purge(*impl_, kPurgeOldestEgress, static_cast<std::int64_t>(rows));
}

Result<std::int64_t> Store::used_bytes() {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kUsedBytes));
  StatementUse use{db, stmt};
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return Errc::io;
  return use.integer(0) * use.integer(1);
}

}  // namespace airlock::store
