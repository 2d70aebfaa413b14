// StoreState (what Store::Impl holds), the write-transaction guard and the keyset-pagination functions,
// shared by the files that implement Store's use cases (vaults.cpp, credentials.cpp, agents.cpp,
// environments.cpp, idempotency.cpp).
//
// Transactions. depth_ counts the open write scopes. The outermost one is BEGIN IMMEDIATE (taking the
// write lock up front, so a write never fails half-way with SQLITE_BUSY after busy_timeout) and ends with
// COMMIT or ROLLBACK. A scope opened inside another one, whether a store call inside a Store::Transaction
// or a nested Store::Transaction, is a SAVEPOINT: it joins the outer transaction, and when it fails only its
// own changes are undone, so the caller's transaction stays usable.
//
//   depth 0 --begin--> 1 (BEGIN IMMEDIATE) --begin--> 2.. (SAVEPOINT)
//   depth n --commit--> n-1 (RELEASE, or COMMIT at 1; then after_commit runs the change callbacks)
//   depth n --rollback--> n-1 (ROLLBACK TO + RELEASE, or ROLLBACK at 1)
//
// credentials_changed_ records that the open transaction touched vaults or credentials; after the
// outermost COMMIT the on_credentials_changed callbacks run, and a rollback forgets the flag (a savepoint
// rollback restores the value it had when the savepoint began). sessions_changed_ does the same for
// session rows (create, archive, delete: what the proxy's session table is built from) and the
// on_sessions_changed callbacks. Scopes end in the reverse order of their beginning; a Store::Transaction
// must not outlive its Store.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/store/store.hpp"
#include "sqlite.hpp"

namespace airlock::store {

// Store::Impl is private to Store, so the state lives in this base that the implementation files can name.
struct StoreState {
  StoreState(Options options, Database db);

  std::string now() const { return format_time(clock_()); }

  std::error_code begin_write();
  std::error_code commit_write();
  void rollback_write();
  // Runs the change callbacks once the outermost transaction has committed a credential change.
  void after_commit();

  Database db_;
  std::filesystem::path path_;
  SecretValue master_key_;
  Clock clock_;
  std::vector<std::function<void()>> callbacks_;
  int depth_ = 0;
  bool credentials_changed_ = false;
  std::vector<bool> changed_before_;  // credentials_changed_ when each open scope began
  bool notify_pending_ = false;       // committed a change; callbacks not yet run
  // The same three for sessions (on_sessions_changed).
  std::vector<std::function<void()>> session_callbacks_;
  bool sessions_changed_ = false;
  std::vector<bool> sessions_changed_before_;
  bool sessions_notify_pending_ = false;
  // on_deployment_changed listeners (deployments.cpp), called with the id after each deployment write.
  std::vector<std::function<void(const std::string&)>> deployment_callbacks_;
};

struct Store::Impl : StoreState {
  using StoreState::StoreState;
};

// A write scope for one store call (see the state diagram above). Rolls back unless committed.
class WriteTransaction {
 public:
  explicit WriteTransaction(StoreState& impl) noexcept : impl_(&impl) {}
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  std::error_code begin();
  std::error_code commit();
  // Marks the transaction as one that changes what active_credentials() returns.
  void credentials_changed() noexcept { impl_->credentials_changed_ = true; }
  // Marks the transaction as one that changes what active_sessions() returns.
  void sessions_changed() noexcept { impl_->sessions_changed_ = true; }

 private:
  StoreState* impl_;
  bool open_ = false;
};

// The WHERE clause and ORDER BY shared by every list, for a table aliased `t` with id, created_at and
// archived_at columns. Parameters: :all, :gte, :lte, :gt, :lt, :after_created, :after_id, :limit.
inline constexpr std::string_view kKeysetPage =
    " (:all OR t.archived_at IS NULL)"
    " AND (:gte IS NULL OR t.created_at >= :gte) AND (:lte IS NULL OR t.created_at <= :lte)"
    " AND (:gt IS NULL OR t.created_at > :gt) AND (:lt IS NULL OR t.created_at < :lt)"
    " AND (:after_created IS NULL OR (t.created_at, t.id) < (:after_created, :after_id))"
    " ORDER BY t.created_at DESC, t.id DESC LIMIT :limit";

// Binds the query's parameters to kKeysetPage; the statement fetches one row more than the page holds.
void bind_page(StatementUse& use, const ListQuery& query);

// The page size actually used: at least 1 (a zero limit would return no rows yet promise more), and at
// most kMaxPageLimit (control enforces the API's smaller limits; this only keeps limit + 1 finite).
inline constexpr std::size_t kMaxPageLimit = 100000;
inline std::size_t page_limit(const ListQuery& query) {
  return query.limit == 0 ? 1 : (query.limit > kMaxPageLimit ? kMaxPageLimit : query.limit);
}

// Runs a statement bound with bind_page and reads rows with `read(use) -> T` into a page: the extra row
// only tells whether `next` is set, and `next` is the cursor of the last row returned.
template <class T, class ReadRow>
Result<Page<T>> read_page(StatementUse& use, const ListQuery& query, ReadRow read) {
  const std::size_t limit = page_limit(query);
  Page<T> page;
  for (;;) {
    auto row = use.step();
    if (!row) return row.error();
    if (!row.value()) break;
    if (page.items.size() == limit) {
      page.next = Cursor{page.items.back().created_at, page.items.back().id};
      break;
    }
    page.items.push_back(read(use));
  }
  return page;
}

// The statement of list_egress (egress.cpp), named here so its test can ask SQLite for its plan.
extern const std::string_view kListEgressSql;

}  // namespace airlock::store
