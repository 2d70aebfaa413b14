// Deployments and their runs. A deployment row holds the columns the store filters on and the scheduler
// reads (agent, schedule, status, paused_reason, last_run_at, fire_after) and `doc` for the rest.
//
// A run's life, as the scheduler drives it (manual runs do all three steps in the caller's transaction):
//
//   begin_run ──► unfinished (committed on its own: the nominal fire is now claimed, UNIQUE per
//                  (deployment, scheduled_at))
//   unfinished ──finish_run_with_session──► finished (session_id)
//   unfinished ──finish_run_with_error────► finished (error_type, error_message)
//
// Unfinished runs are invisible to get_run and list_runs, so the API never shows a run without exactly
// one of session_id and error; after a crash, unfinished_runs() is what recovery finishes. A finished
// run never changes (a trigger refuses the update).
#include <algorithm>
#include <string>

#include <boost/outcome/try.hpp>
#include <fmt/format.h>

#include "store_impl.hpp"

namespace airlock::store {

namespace {

constexpr std::string_view kDeploymentColumns =
    "t.id, t.agent_id, t.agent_version, t.cron_expression, t.cron_timezone, t.status, t.paused_reason, "
    "t.last_run_at, t.fire_after, t.doc, t.created_at, t.updated_at, t.archived_at";

constexpr std::string_view kInsertDeployment =
    "INSERT INTO deployments (id, agent_id, agent_version, cron_expression, cron_timezone, fire_after, doc, "
    "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6, ?6)";
// ?6: the schedule changed, so fire_after restarts at now (?7).
constexpr std::string_view kUpdateDeployment =
    "UPDATE deployments SET agent_id = ?1, agent_version = ?2, cron_expression = ?3, cron_timezone = ?4, doc = ?5, "
    "fire_after = CASE WHEN ?6 THEN ?7 ELSE fire_after END, updated_at = ?7 WHERE id = ?8";
constexpr std::string_view kPauseDeployment =
    "UPDATE deployments SET status = 'paused', paused_reason = ?1, updated_at = ?2 "
    "WHERE id = ?3 AND status = 'active' AND archived_at IS NULL";
constexpr std::string_view kUnpauseDeployment =
    "UPDATE deployments SET status = 'active', paused_reason = NULL, fire_after = ?1, updated_at = ?1 "
    "WHERE id = ?2 AND status = 'paused'";
constexpr std::string_view kArchiveDeployment =
    "UPDATE deployments SET archived_at = ?1, updated_at = ?1, status = 'active', paused_reason = NULL "
    "WHERE id = ?2 AND archived_at IS NULL";
constexpr std::string_view kDeploymentFilters =
    " (:agent_id IS NULL OR t.agent_id = :agent_id) AND (:status IS NULL OR t.status = :status) AND";

constexpr std::string_view kRunColumns =
    "t.id, t.deployment_id, t.agent_id, t.agent_version, t.scheduled_at, t.session_id, t.error_type, "
    "t.error_message, t.created_at";
constexpr std::string_view kInsertRun =
    "INSERT INTO deployment_runs (id, deployment_id, agent_id, agent_version, scheduled_at, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)";
constexpr std::string_view kStartedScheduledRun =
    "UPDATE deployments SET last_run_at = ?1, fire_after = max(fire_after, ?2) WHERE id = ?3";
constexpr std::string_view kFinishWithSession =
    "UPDATE deployment_runs SET session_id = ?1 WHERE id = ?2 AND session_id IS NULL AND error_type IS NULL";
constexpr std::string_view kFinishWithError =
    "UPDATE deployment_runs SET error_type = ?1, error_message = ?2 "
    "WHERE id = ?3 AND session_id IS NULL AND error_type IS NULL";
constexpr std::string_view kFinished = "(t.session_id IS NOT NULL OR t.error_type IS NOT NULL)";
constexpr std::string_view kRunFilters =
    " (:deployment_id IS NULL OR t.deployment_id = :deployment_id)"
    " AND (:trigger IS NULL OR (:trigger = 'schedule') = (t.scheduled_at IS NOT NULL))"
    " AND (:has_error IS NULL OR (:has_error = 1) = (t.error_type IS NOT NULL)) AND";

// kKeysetPage's archive filter names t.archived_at, which runs do not have: they are listed through a
// subquery that gives every row a NULL one.
constexpr std::string_view kRunsAsPageSource =
    "(SELECT r.*, NULL AS archived_at FROM deployment_runs r WHERE r.session_id IS NOT NULL OR r.error_type IS "
    "NOT NULL)";

Deployment read_deployment(const StatementUse& use) {
  Deployment d;
  d.id = use.text(0);
  d.agent_id = use.text(1);
  d.agent_version = static_cast<int>(use.integer(2));
  if (!use.is_null(3)) d.schedule = CronSpec{use.text(3), use.text(4)};
  d.status = use.text(5);
  d.paused_reason = use.optional_text(6);
  d.last_run_at = use.optional_text(7);
  d.fire_after = use.text(8);
  d.doc = use.text(9);
  d.created_at = use.text(10);
  d.updated_at = use.text(11);
  d.archived_at = use.optional_text(12);
  return d;
}

DeploymentRun read_run(const StatementUse& use) {
  DeploymentRun run;
  run.id = use.text(0);
  run.deployment_id = use.text(1);
  run.agent_id = use.text(2);
  run.agent_version = static_cast<int>(use.integer(3));
  run.scheduled_at = use.optional_text(4);
  run.session_id = use.optional_text(5);
  run.error_type = use.optional_text(6);
  run.error_message = use.optional_text(7);
  run.created_at = use.text(8);
  return run;
}

Result<Deployment> find_deployment(Database& db, std::string_view id) {
  const std::string text = fmt::format("SELECT {} FROM deployments t WHERE t.id = ?", kDeploymentColumns);
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  use.bind(1, id);
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return Errc::not_found;
  return read_deployment(use);
}

// `finished_only`: what the API may see. Recovery reads unfinished rows through unfinished_runs().
Result<DeploymentRun> find_run(Database& db, std::string_view id, bool finished_only) {
  const std::string text = fmt::format("SELECT {} FROM deployment_runs t WHERE t.id = ?{}", kRunColumns,
                                       finished_only ? fmt::format(" AND {}", kFinished) : std::string{});
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  use.bind(1, id);
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return Errc::not_found;
  return read_run(use);
}

void bind_schedule(StatementUse& use, int expression_index, const std::optional<CronSpec>& schedule) {
  if (schedule) {
    use.bind(expression_index, schedule->expression).bind(expression_index + 1, schedule->timezone);
  } else {
    use.bind(expression_index, std::nullopt).bind(expression_index + 1, std::nullopt);
  }
}

void notify(StoreState& impl, const std::string& id) {
  // NOLINTNEXTLINE(modernize-loop-convert): by index, as a listener may register another one.
  for (std::size_t i = 0; i < impl.deployment_callbacks_.size(); ++i) impl.deployment_callbacks_[i](id);
}

// A state change of one deployment row: runs `sql` (bound by `bind`), then reads the row back. When the
// statement changed nothing, `unchanged` decides: the row as it is (idempotent pause, unpause, archive)
// or an error (Errc::archived).
template <class Bind, class Unchanged>
Result<Deployment> change_deployment(StoreState& impl, std::string_view sql, std::string_view id, Bind bind,
                                     Unchanged unchanged) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  BOOST_OUTCOME_TRY(auto current, find_deployment(impl.db_, id));  // Errc::not_found first
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql));
    StatementUse use{impl.db_, stmt};
    bind(use);
    if (auto ec = use.run()) return ec;
  }
  if (impl.db_.changes() == 0) {
    if (auto ec = unchanged(current)) return ec;
    return current;  // the guard ends the (empty) transaction
  }
  BOOST_OUTCOME_TRY(auto changed, find_deployment(impl.db_, id));
  if (auto ec = tx.commit()) return ec;
  notify(impl, changed.id);
  return changed;
}

Result<DeploymentRun> finish_run(StoreState& impl, std::string_view sql, std::string_view id,
                                 const std::function<void(StatementUse&)>& bind) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  BOOST_OUTCOME_TRY(auto run, find_run(impl.db_, id, false));  // Errc::not_found
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql));
    StatementUse use{impl.db_, stmt};
    bind(use);
    if (auto ec = use.run()) return ec;
  }
  if (impl.db_.changes() == 0) return Errc::conflict;  // finished already
  BOOST_OUTCOME_TRY(run, find_run(impl.db_, id, false));
  if (auto ec = tx.commit()) return ec;
  return run;
}

}  // namespace

std::chrono::system_clock::time_point Store::now() const { return impl_->clock_(); }

// --- deployments ---

Result<Deployment> Store::create_deployment(const DeploymentFields& fields) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  const auto id = random_id("depl_");
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertDeployment));
    StatementUse use{db, stmt};
    use.bind(1, id).bind(2, fields.agent_id).bind(3, fields.agent_version);
    bind_schedule(use, 4, fields.schedule);
    use.bind(6, impl_->now()).bind(7, fields.doc);
    if (auto ec = use.run()) return ec;
  }
  BOOST_OUTCOME_TRY(auto created, find_deployment(db, id));
  if (auto ec = tx.commit()) return ec;
  notify(*impl_, created.id);
  return created;
}

Result<Deployment> Store::get_deployment(std::string_view id) { return find_deployment(impl_->db_, id); }

Result<Deployment> Store::update_deployment(std::string_view id, const DeploymentFields& fields) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  BOOST_OUTCOME_TRY(auto current, find_deployment(db, id));
  if (current.archived_at) return Errc::archived;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kUpdateDeployment));
    StatementUse use{db, stmt};
    use.bind(1, fields.agent_id).bind(2, fields.agent_version);
    bind_schedule(use, 3, fields.schedule);
    use.bind(5, fields.doc).bind(6, current.schedule != fields.schedule).bind(7, impl_->now()).bind(8, id);
    if (auto ec = use.run()) return ec;
  }
  BOOST_OUTCOME_TRY(auto updated, find_deployment(db, id));
  if (auto ec = tx.commit()) return ec;
  notify(*impl_, updated.id);
  return updated;
}

Result<Deployment> Store::pause_deployment(std::string_view id, std::string_view reason) {
  const auto now = impl_->now();
  return change_deployment(
      *impl_, kPauseDeployment, id, [&](StatementUse& use) { use.bind_all(reason, now, id); },
      [](const Deployment& d) { return d.archived_at ? make_error_code(Errc::archived) : std::error_code{}; });
}

Result<Deployment> Store::unpause_deployment(std::string_view id) {
  const auto now = impl_->now();
  return change_deployment(
      *impl_, kUnpauseDeployment, id, [&](StatementUse& use) { use.bind_all(now, id); },
      [](const Deployment& d) { return d.archived_at ? make_error_code(Errc::archived) : std::error_code{}; });
}

Result<Deployment> Store::archive_deployment(std::string_view id) {
  const auto now = impl_->now();
  return change_deployment(
      *impl_, kArchiveDeployment, id, [&](StatementUse& use) { use.bind_all(now, id); },
      [](const Deployment&) { return std::error_code{}; });
}

Result<Page<Deployment>> Store::list_deployments(const DeploymentQuery& query) {
  auto& db = impl_->db_;
  const std::string text =
      fmt::format("SELECT {} FROM deployments t WHERE{}{}", kDeploymentColumns, kDeploymentFilters, kKeysetPage);
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  bind_page(use, query);
  use.bind(":agent_id", query.agent_id).bind(":status", query.status);
  return read_page<Deployment>(use, query, read_deployment);
}

Result<std::vector<Deployment>> Store::scheduled_deployments() {
  auto& db = impl_->db_;
  const std::string text = fmt::format(
      "SELECT {} FROM deployments t WHERE t.archived_at IS NULL AND t.status = 'active' AND t.cron_expression IS "
      "NOT NULL ORDER BY t.id",
      kDeploymentColumns);
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  std::vector<Deployment> out;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    out.push_back(read_deployment(use));
  }
  return out;
}

void Store::on_deployment_changed(std::function<void(const std::string& id)> callback) {
  impl_->deployment_callbacks_.push_back(std::move(callback));
}

// --- runs ---

Result<DeploymentRun> Store::begin_run(const NewRun& run) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  BOOST_OUTCOME_TRY(auto deployment, find_deployment(db, run.deployment_id));
  if (deployment.archived_at) return Errc::archived;
  const auto id = random_id("drun_");
  const auto now = impl_->now();
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertRun));
    StatementUse use{db, stmt};
    use.bind_all(id, run.deployment_id, run.agent_id, run.agent_version, run.scheduled_at, now);
    if (auto ec = use.run()) return ec;  // Errc::conflict: this nominal fire has a run already
  }
  if (run.scheduled_at) {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kStartedScheduledRun));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(now, *run.scheduled_at, run.deployment_id).run()) return ec;
  }
  BOOST_OUTCOME_TRY(auto begun, find_run(db, id, false));
  if (auto ec = tx.commit()) return ec;
  if (run.scheduled_at) notify(*impl_, run.deployment_id);  // fire_after moved
  return begun;
}

Result<DeploymentRun> Store::finish_run_with_session(std::string_view id, std::string_view session_id) {
  return finish_run(*impl_, kFinishWithSession, id, [&](StatementUse& use) { use.bind_all(session_id, id); });
}

Result<DeploymentRun> Store::finish_run_with_error(std::string_view id, std::string_view error_type,
                                                   std::string_view message) {
  return finish_run(*impl_, kFinishWithError, id,
                    [&](StatementUse& use) { use.bind_all(error_type, message, id); });
}

Result<DeploymentRun> Store::get_run(std::string_view id) { return find_run(impl_->db_, id, true); }

Result<Page<DeploymentRun>> Store::list_runs(const RunQuery& query) {
  auto& db = impl_->db_;
  const std::string text =
      fmt::format("SELECT {} FROM {} t WHERE{}{}", kRunColumns, kRunsAsPageSource, kRunFilters, kKeysetPage);
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  RunQuery bounded = query;
  bounded.include_archived = true;  // runs are never archived
  bind_page(use, bounded);
  use.bind(":deployment_id", query.deployment_id).bind(":trigger", query.trigger_type);
  if (query.has_error) {
    use.bind(":has_error", *query.has_error);
  } else {
    use.bind(":has_error", std::nullopt);
  }
  return read_page<DeploymentRun>(use, query, read_run);
}

Result<std::vector<DeploymentRun>> Store::unfinished_runs() {
  auto& db = impl_->db_;
  const std::string text = fmt::format(
      "SELECT {} FROM deployment_runs t WHERE t.session_id IS NULL AND t.error_type IS NULL ORDER BY t.created_at, "
      "t.id",
      kRunColumns);
  BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
  StatementUse use{db, stmt};
  std::vector<DeploymentRun> out;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    out.push_back(read_run(use));
  }
  return out;
}

}  // namespace airlock::store
