// Store::open (connection settings, migrations, the master-key check), transactions and change callbacks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "airlock/store/store.hpp"
#include "errors.hpp"
#include "migrations.hpp"
#include "seal.hpp"
#include "store_impl.hpp"

namespace airlock::store {

namespace {

// How long a write waits for another connection's lock before failing with Errc::io. Only other
// processes (an admin's sqlite3 shell, a backup) can hold it; the store itself is single-threaded.
constexpr int kBusyTimeoutMs = 5000;

constexpr std::string_view kCheckKey = "master_key_check";
constexpr std::string_view kCheckAssociatedData = "meta/master_key_check";
constexpr std::string_view kCheckPlaintext = "airlock master key check v1";

constexpr std::string_view kSelectMeta = "SELECT value FROM meta WHERE key = ?";
constexpr std::string_view kInsertMetaIfAbsent = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING";

// The database is its owner's alone, whatever the umask: the data dir may be traversable by the local
// sandboxes' group (SECURITY.md N6). Created 0600 before SQLite opens it, so its -wal and -shm (which SQLite
// creates with the database's mode) are 0600 too; existing looser files are tightened.
void keep_private(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw StoreError(Errc::io, fmt::format("cannot open the database {}: {}", path.string(),
                                           std::generic_category().message(errno)));
  }
  struct stat info {};
  const bool loose = ::fstat(fd, &info) == 0 && (info.st_mode & 077) != 0;
  const bool tightened = !loose || ::fchmod(fd, 0600) == 0;
  const int error = errno;
  ::close(fd);
  if (!tightened) {
    throw StoreError(Errc::io, fmt::format("cannot make the database {} 0600: {}", path.string(),
                                           std::generic_category().message(error)));
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    std::filesystem::path companion = path;
    companion += suffix;
    if (::lstat(companion.c_str(), &info) == 0 && S_ISREG(info.st_mode) && (info.st_mode & 077) != 0) {
      (void)::chmod(companion.c_str(), 0600);  // SQLite recreates -wal and -shm with the database's mode anyway
    }
  }
}

std::span<const unsigned char> as_bytes(std::string_view text) {
  return {reinterpret_cast<const unsigned char*>(text.data()), text.size()};
}

void must(Database& db, std::error_code ec, const std::filesystem::path& path, std::string_view what) {
  if (ec) throw StoreError(Errc::io, fmt::format("{} ({}): {}", path.string(), what, db.last_error()));
}

std::string query_text(Database& db, const std::string& sql, const std::filesystem::path& path) {
  auto stmt = db.statement(sql);
  must(db, stmt ? std::error_code{} : stmt.error(), path, sql);
  StatementUse use{db, stmt.value()};
  auto row = use.step();
  must(db, row ? std::error_code{} : row.error(), path, sql);
  return row.value() ? use.text(0) : std::string{};
}

void configure(Database& db, const std::filesystem::path& path) {
  must(db, db.exec(fmt::format("PRAGMA busy_timeout = {}", kBusyTimeoutMs)), path, "busy_timeout");
  if (const auto mode = query_text(db, "PRAGMA journal_mode = WAL", path); mode != "wal") {
    throw StoreError(Errc::io,
                     fmt::format("{}: cannot switch to WAL mode (journal_mode is {:?})", path.string(), mode));
  }
  // Durability: in WAL mode a commit survives SIGKILL under NORMAL and FULL alike, but only FULL (an
  // fsync of the WAL at every commit) survives power loss or a kernel crash. A credential is often
  // created once and its value then thrown away by the user, so an acknowledged write must not vanish;
  // control-plane writes are few, and the extra fsync is cheap at that rate.
  must(db, db.exec("PRAGMA synchronous = FULL"), path, "synchronous");
  must(db, db.exec("PRAGMA foreign_keys = ON"), path, "foreign_keys");
  if (query_text(db, "PRAGMA foreign_keys", path) != "1") {
    throw StoreError(Errc::io, fmt::format("{}: this SQLite cannot enforce foreign keys", path.string()));
  }
}

// The meta table holds a value sealed under the master key when the database was created. A key that
// cannot open it would seal new secrets that the old ones can never join, so the store refuses to open.
void check_master_key(Database& db, const Options& options) {
  auto read_check = [&]() -> std::optional<std::vector<unsigned char>> {
    auto stmt = db.statement(kSelectMeta);
    must(db, stmt ? std::error_code{} : stmt.error(), options.path, "read meta");
    StatementUse use{db, stmt.value()};
    use.bind(1, kCheckKey);
    auto row = use.step();
    must(db, row ? std::error_code{} : row.error(), options.path, "read meta");
    if (!row.value()) return std::nullopt;
    const auto blob = use.blob(0);
    return std::vector<unsigned char>(blob.begin(), blob.end());
  };
  auto sealed = read_check();
  if (!sealed) {
    // First open: record the check. ON CONFLICT DO NOTHING and the re-read make two first opens racing
    // with different keys agree on one check value (the loser is refused below).
    const auto fresh = seal(options.master_key, as_bytes(kCheckPlaintext), kCheckAssociatedData);
    auto stmt = db.statement(kInsertMetaIfAbsent);
    must(db, stmt ? std::error_code{} : stmt.error(), options.path, "write meta");
    StatementUse use{db, stmt.value()};
    use.bind(1, kCheckKey).bind_blob(2, fresh);
    must(db, use.run(), options.path, "write meta");
    sealed = read_check();
    if (!sealed) throw StoreError(Errc::io, fmt::format("{}: the master key check vanished", options.path.string()));
  }
  const auto opened = unseal(options.master_key, *sealed, kCheckAssociatedData);
  if (!opened || opened->view() != kCheckPlaintext) {
    const std::string source =
        options.master_key_source.empty() ? std::string{"the configured source"} : options.master_key_source;
    throw StoreError(Errc::wrong_master_key,
                     fmt::format("the master key from {} does not open {}: it was sealed under another key; "
                                 "restore the original master.key or AIRLOCK_MASTER_KEY",
                                 source, options.path.string()));
  }
}

}  // namespace

StoreState::StoreState(Options options, Database db)
    : db_(std::move(db)),
      path_(std::move(options.path)),
      master_key_(std::move(options.master_key)),
      clock_(options.clock ? std::move(options.clock) : Clock{[] { return std::chrono::system_clock::now(); }}) {
  db_.set_after_write_for_test(std::move(options.after_write_for_test));
}

std::unique_ptr<Store> Store::open(Options options) {
  require_sodium();
  if (options.master_key.size() != kMasterKeyBytes) {
    throw StoreError(Errc::wrong_master_key,
                     fmt::format("the master key for {} must be 32 bytes", options.path.string()));
  }
  keep_private(options.path);
  Database db{options.path};
  configure(db, options.path);
  migrate(db, options.path);
  check_master_key(db, options);
  auto impl = std::make_unique<Impl>(std::move(options), std::move(db));
  return std::unique_ptr<Store>(new Store(std::move(impl)));  // the constructor is private: no make_unique
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

int Store::schema_version() noexcept { return static_cast<int>(migrations().size()); }

const std::string& Store::last_error() const noexcept { return impl_->db_.last_error(); }

Store::ConnectionSettings Store::connection_settings() {
  Database& db = impl_->db_;
  const std::filesystem::path& path = impl_->path_;
  return {query_text(db, "PRAGMA journal_mode", path), std::stoi(query_text(db, "PRAGMA synchronous", path)),
          query_text(db, "PRAGMA foreign_keys", path) == "1", std::stoi(query_text(db, "PRAGMA busy_timeout", path))};
}

void Store::on_credentials_changed(std::function<void()> callback) { impl_->callbacks_.push_back(std::move(callback)); }

// --- transactions ---

std::error_code StoreState::begin_write() {
  if (depth_ == 0) {
    if (auto ec = db_.exec("BEGIN IMMEDIATE")) return ec;
    credentials_changed_ = false;
    sessions_changed_ = false;
  } else {
    // After some errors SQLite rolls the whole transaction back on its own. A SAVEPOINT now would start a
    // fresh transaction that commits on its own, outside the caller's atomic unit: refuse instead.
    if (db_.autocommit()) return db_.fail_io("the enclosing transaction was rolled back after an earlier error");
    if (auto ec = db_.exec("SAVEPOINT airlock_write")) return ec;
  }
  changed_before_.push_back(credentials_changed_);
  sessions_changed_before_.push_back(sessions_changed_);
  ++depth_;
  return {};
}

std::error_code StoreState::commit_write() {
  if (depth_ > 1) {
    if (db_.autocommit()) return db_.fail_io("the enclosing transaction was rolled back after an earlier error");
    if (auto ec = db_.exec("RELEASE airlock_write")) return ec;
    changed_before_.pop_back();
    sessions_changed_before_.pop_back();
    --depth_;
    return {};
  }
  if (auto ec = db_.exec("COMMIT")) return ec;  // still open: the caller's guard rolls back
  changed_before_.clear();
  sessions_changed_before_.clear();
  depth_ = 0;
  notify_pending_ = std::exchange(credentials_changed_, false);
  sessions_notify_pending_ = std::exchange(sessions_changed_, false);
  return {};
}

void StoreState::after_commit() {
  if (depth_ != 0) return;
  // Both flags are taken before any callback runs, so one that throws cannot leave the other pending.
  const bool credentials = std::exchange(notify_pending_, false);
  const bool sessions = std::exchange(sessions_notify_pending_, false);
  // By index: a callback may register another one. The guards have closed before this runs, so a
  // callback may read the store (active_credentials) or write to it, and one that throws leaves no
  // transaction half-done.
  // NOLINTBEGIN(modernize-loop-convert): a range-for would break when a callback registers another
  if (credentials) {
    for (std::size_t i = 0; i < callbacks_.size(); ++i) callbacks_[i]();
  }
  if (sessions) {
    for (std::size_t i = 0; i < session_callbacks_.size(); ++i) session_callbacks_[i]();
  }
  // NOLINTEND(modernize-loop-convert)
}

void StoreState::rollback_write() {
  if (depth_ > 1) {
    if (!db_.autocommit()) {
      (void)db_.exec("ROLLBACK TO airlock_write");
      (void)db_.exec("RELEASE airlock_write");
    }
    credentials_changed_ = changed_before_.back();
    changed_before_.pop_back();
    sessions_changed_ = sessions_changed_before_.back();
    sessions_changed_before_.pop_back();
    --depth_;
    return;
  }
  if (!db_.autocommit()) (void)db_.exec("ROLLBACK");
  changed_before_.clear();
  credentials_changed_ = false;
  sessions_changed_before_.clear();
  sessions_changed_ = false;
  depth_ = 0;
}

WriteTransaction::~WriteTransaction() {
  if (open_) impl_->rollback_write();
}

std::error_code WriteTransaction::begin() {
  if (auto ec = impl_->begin_write()) return ec;
  open_ = true;
  return {};
}

std::error_code WriteTransaction::commit() {
  if (auto ec = impl_->commit_write()) return ec;  // still open_: the destructor rolls back
  open_ = false;
  impl_->after_commit();
  return {};
}

Store::Transaction::Transaction(Store& store) : store_(&store) {
  if (auto ec = store_->impl_->begin_write()) {
    throw StoreError(ec, fmt::format("cannot begin a transaction: {}", store_->impl_->db_.last_error()));
  }
}

Store::Transaction::~Transaction() {
  if (!done_) store_->impl_->rollback_write();
}

std::error_code Store::Transaction::commit() {
  if (done_) return {};
  if (auto ec = store_->impl_->commit_write()) return ec;
  done_ = true;
  store_->impl_->after_commit();
  return {};
}

// --- pagination ---

void bind_page(StatementUse& use, const ListQuery& query) {
  use.bind(":all", query.include_archived)
      .bind(":gte", query.created_gte)
      .bind(":lte", query.created_lte)
      .bind(":gt", query.created_gt)
      .bind(":lt", query.created_lt);
  if (query.after) {
    use.bind(":after_created", query.after->created_at).bind(":after_id", query.after->id);
  } else {
    use.bind(":after_created", std::nullopt).bind(":after_id", std::nullopt);
  }
  use.bind(":limit", static_cast<std::int64_t>(page_limit(query) + 1));  // one more: is there a next page?
}

}  // namespace airlock::store
