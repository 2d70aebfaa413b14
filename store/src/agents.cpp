// Agents and their versions. agents holds one row per agent with its current version number; each
// version's doc lives in agent_versions, never changed once written. update_agent is an optimistic lock
// (expected_version) and writes a new version only when the doc actually changes, so a repeated update
// is a no-op that leaves version and updated_at alone.
//
// An Agent read at its current version has the agent's updated_at; one read at an older version has
// that version's created_at as updated_at (when that version was the latest).
#include <charconv>
#include <string>

#include <boost/outcome/try.hpp>

#include "store_impl.hpp"

namespace airlock::store {

namespace {

constexpr std::string_view kInsertAgent =
    "INSERT INTO agents (id, version, created_at, updated_at) VALUES (?1, 1, ?2, ?2)";
constexpr std::string_view kInsertVersion =
    "INSERT INTO agent_versions (agent_id, version, doc, created_at) VALUES (?, ?, ?, ?)";
// ?2 NULL: the current version.
constexpr std::string_view kSelectAgent =
    "SELECT a.id, v.doc, a.created_at, CASE WHEN v.version = a.version THEN a.updated_at ELSE v.created_at END, "
    "a.archived_at, v.version FROM agents a JOIN agent_versions v ON v.agent_id = a.id "
    "WHERE a.id = ?1 AND v.version = coalesce(?2, a.version)";
constexpr std::string_view kSetVersion = "UPDATE agents SET version = ?1, updated_at = ?2 WHERE id = ?3";
constexpr std::string_view kArchiveAgent =
    "UPDATE agents SET archived_at = ?1, updated_at = ?1 WHERE id = ?2 AND archived_at IS NULL";
constexpr std::string_view kListAgents =
    "SELECT t.id, v.doc, t.created_at, t.updated_at, t.archived_at, t.version FROM agents t "
    "JOIN agent_versions v ON v.agent_id = t.id AND v.version = t.version WHERE";
constexpr std::string_view kListVersions =
    "SELECT a.id, v.doc, a.created_at, CASE WHEN v.version = a.version THEN a.updated_at ELSE v.created_at END, "
    "a.archived_at, v.version FROM agent_versions v JOIN agents a ON a.id = v.agent_id "
    "WHERE v.agent_id = :id AND (:before IS NULL OR v.version < :before) ORDER BY v.version DESC LIMIT :limit";

Agent read_agent(const StatementUse& use) {
  Agent agent;
  agent.id = use.text(0);
  agent.doc = use.text(1);
  agent.created_at = use.text(2);
  agent.updated_at = use.text(3);
  agent.archived_at = use.optional_text(4);
  agent.version = static_cast<int>(use.integer(5));
  return agent;
}

Result<Agent> find_agent(Database& db, std::string_view id, std::optional<int> version) {
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kSelectAgent));
  StatementUse use{db, stmt};
  use.bind(1, id);
  if (version)
    use.bind(2, *version);
  else
    use.bind(2, std::nullopt);
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return Errc::not_found;
  return read_agent(use);
}

}  // namespace

Result<Agent> Store::create_agent(std::string_view doc) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  const auto id = random_id("agent_");
  const auto now = impl_->now();
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertAgent));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(id, now).run()) return ec;
  }
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertVersion));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(id, 1, doc, now).run()) return ec;
  }
  BOOST_OUTCOME_TRY(auto created, find_agent(db, id, std::nullopt));
  if (auto ec = tx.commit()) return ec;
  return created;
}

Result<Agent> Store::get_agent(std::string_view id, std::optional<int> version) {
  return find_agent(impl_->db_, id, version);
}

Result<Agent> Store::update_agent(std::string_view id, std::string_view doc, std::optional<int> expected_version) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  BOOST_OUTCOME_TRY(auto current, find_agent(db, id, std::nullopt));
  if (expected_version && *expected_version != current.version) return Errc::version_conflict;
  if (current.doc == doc) return current;  // nothing changed: no new version (the guard ends the transaction)
  const int next = current.version + 1;
  const auto now = impl_->now();
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertVersion));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(id, next, doc, now).run()) return ec;
  }
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kSetVersion));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(next, now, id).run()) return ec;
  }
  BOOST_OUTCOME_TRY(auto updated, find_agent(db, id, std::nullopt));
  if (auto ec = tx.commit()) return ec;
  return updated;
}

Result<Agent> Store::archive_agent(std::string_view id) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kArchiveAgent));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(impl_->now(), id).run()) return ec;
  }
  BOOST_OUTCOME_TRY(auto archived, find_agent(db, id, std::nullopt));  // archiving again returns it as it is
  if (auto ec = tx.commit()) return ec;
  return archived;
}

Result<Page<Agent>> Store::list_agents(const ListQuery& query) {
  auto& db = impl_->db_;
  const std::string text = std::string{kListAgents} + std::string{kKeysetPage};
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  bind_page(use, query);
  return read_page<Agent>(use, query, read_agent);
}

Result<Page<Agent>> Store::list_agent_versions(std::string_view id, const ListQuery& query) {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(find_agent(db, id, std::nullopt));  // Errc::not_found for an unknown agent
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kListVersions));
  StatementUse use{db, stmt};
  use.bind(":id", id);
  if (query.after) {
    int before = 0;
    const auto& text = query.after->id;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), before);
    // A cursor that names no version continues after nothing: an empty last page.
    if (error != std::errc{} || end != text.data() + text.size()) return Page<Agent>{};
    use.bind(":before", before);
  } else {
    use.bind(":before", std::nullopt);
  }
  const std::size_t limit = page_limit(query);
  use.bind(":limit", static_cast<std::int64_t>(limit + 1));
  Page<Agent> page;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    if (page.items.size() == limit) {
      page.next = Cursor{page.items.back().created_at, std::to_string(page.items.back().version)};
      break;
    }
    page.items.push_back(read_agent(use));
  }
  return page;
}

}  // namespace airlock::store
