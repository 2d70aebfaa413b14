// Counts for GET /metrics: one grouped scan of each table, read on the store's thread at each scrape.
#include <boost/outcome/try.hpp>

#include "store_impl.hpp"

namespace airlock::store {
namespace {

constexpr std::string_view kSessionsByStatus = "SELECT status, count(*) FROM sessions GROUP BY status";
constexpr std::string_view kRunsByOutcome =
    "SELECT CASE WHEN session_id IS NOT NULL THEN 'session_created' ELSE error_type END, count(*) "
    "FROM deployment_runs WHERE session_id IS NOT NULL OR error_type IS NOT NULL GROUP BY 1";

Result<std::map<std::string, std::int64_t>> count_by(Database& db, std::string_view query) {
  BOOST_OUTCOME_TRY(auto stmt, db.statement(query));
  StatementUse use{db, stmt};
  std::map<std::string, std::int64_t> out;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    out[use.text(0)] = use.integer(1);
  }
  return out;
}

}  // namespace

Result<std::map<std::string, std::int64_t>> Store::count_sessions_by_status() {
  return count_by(impl_->db_, kSessionsByStatus);
}

Result<std::map<std::string, std::int64_t>> Store::count_runs_by_outcome() {
  return count_by(impl_->db_, kRunsByOutcome);
}

}  // namespace airlock::store
