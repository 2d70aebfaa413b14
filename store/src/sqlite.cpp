// The SQLite connection, its statement cache and the per-use statement guard (see sqlite.hpp).
#include "sqlite.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "errors.hpp"

namespace airlock::store {

namespace {

// Why the file system holding `dir` cannot take a write, as an errno: asked by writing one byte to an
// unnamed file there (O_TMPFILE, never linked). 0 when it takes it, or when the probe itself is unsupported.
int write_probe_errno(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EROFS || errno == ENOSPC || errno == EDQUOT ? errno : 0;
  const char byte = 0;
  const int result = ::write(fd, &byte, 1) == 1 ? 0 : errno;
  ::close(fd);
  return result;
}

}  // namespace

std::error_code Database::code_for(int rc) const {
  // A uniqueness rule of the schema (partial UNIQUE indexes, primary keys) is a conflict the caller can
  // explain; a full or read-only file system is a state the operator can fix (the API says which); every
  // other failure is an I/O-level problem. SQLite reports a write to a file system that turned read-only
  // after an error as a plain I/O error (its errno is gone by the time a COMMIT returns, and the mount may
  // still say rw), so the file system is asked with a write of its own.
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Errc::conflict;
  const int primary = rc & 0xff;
  if (primary == SQLITE_FULL) return Errc::disk_full;
  if (primary == SQLITE_READONLY) return Errc::read_only;
  if (primary == SQLITE_IOERR) {
    const int why = write_probe_errno(path_.parent_path().empty() ? "." : path_.parent_path());
    if (why == EROFS) return Errc::read_only;
    if (why == ENOSPC || why == EDQUOT) return Errc::disk_full;
  }
  return Errc::io;
}

Database::Database(const std::filesystem::path& path) : path_(path) {
  sqlite3* raw = nullptr;
  // NOMUTEX: a Store is used from one thread, so SQLite's own locking would only cost time.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_.reset(raw);  // even a failed open returns a handle that must be closed
  if (rc != SQLITE_OK) {
    const std::string why = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw StoreError(Errc::io, fmt::format("cannot open the database {}: {}", path.string(), why));
  }
  sqlite3_extended_result_codes(raw, 1);
}

Result<sqlite3_stmt*> Database::statement(std::string_view sql) {
  if (auto found = statements_.find(sql); found != statements_.end()) return found->second.get();
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw, &tail);
  StmtPtr stmt{raw};
  if (rc != SQLITE_OK) return fail(rc, "prepare");
  if (!stmt) return fail_io(fmt::format("prepare: empty SQL: {}", sql));
  if (tail != nullptr &&
      std::string_view{tail, static_cast<std::size_t>(sql.data() + sql.size() - tail)}.find_first_not_of(" \t\r\n") !=
          std::string_view::npos) {
    return fail_io(fmt::format("prepare: more than one statement in: {}", sql));
  }
  auto [where, inserted] = statements_.emplace(std::string{sql}, std::move(stmt));
  return where->second.get();
}

std::error_code Database::exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message);
  std::unique_ptr<char, CFree<sqlite3_free>> owned{message};
  if (rc == SQLITE_OK) {
    wrote(sql);
    return {};
  }
  // Name the statement by its first line (a migration step is a whole script).
  std::string_view head{sql};
  head.remove_prefix(std::min(head.size(), head.find_first_not_of(" \t\r\n")));
  head = head.substr(0, std::min<std::size_t>(head.find('\n'), 40));
  last_error_ = fmt::format("{}: {}", head, message ? message : sqlite3_errstr(rc));
  return code_for(rc);
}

std::error_code Database::fail(int rc, std::string_view what) {
  const std::string_view message = sqlite3_errmsg(db_.get());
  const std::string_view generic = sqlite3_errstr(rc);
  last_error_ =
      message == generic ? fmt::format("{}: {}", what, message) : fmt::format("{}: {} ({})", what, message, generic);
  return code_for(rc);
}

std::error_code Database::fail_io(std::string message) {
  last_error_ = std::move(message);
  return Errc::io;
}

StatementUse::~StatementUse() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void StatementUse::check_bind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

int StatementUse::parameter(const char* name) {
  const int index = sqlite3_bind_parameter_index(stmt_, name);
  if (index == 0) check_bind(SQLITE_RANGE);
  return index;
}

StatementUse& StatementUse::bind(int index, std::string_view text) {
  // A default string_view has no data pointer, which SQLite would bind as NULL; "" is meant.
  const char* data = text.data() != nullptr ? text.data() : "";
  check_bind(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

StatementUse& StatementUse::bind(int index, const std::optional<std::string>& text) {
  if (!text) return bind(index, std::nullopt);
  return bind(index, std::string_view{*text});
}

StatementUse& StatementUse::bind(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

StatementUse& StatementUse::bind(int index, std::nullopt_t) {
  check_bind(sqlite3_bind_null(stmt_, index));
  return *this;
}

StatementUse& StatementUse::bind_blob(int index, std::span<const unsigned char> bytes) {
  static constexpr unsigned char kEmpty = 0;  // a zero-length blob, not NULL
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  check_bind(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT));
  return *this;
}

Result<bool> StatementUse::step() {
  if (bind_rc_ != SQLITE_OK) return db_->fail(bind_rc_, "bind");
  const int rc = sqlite3_step(stmt_);
  if ((rc == SQLITE_ROW || rc == SQLITE_DONE) && sqlite3_stmt_readonly(stmt_) == 0) db_->wrote(sqlite3_sql(stmt_));
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->fail(rc, "step");
}

std::error_code StatementUse::run() {
  auto stepped = step();
  if (!stepped) return stepped.error();
  return {};
}

std::string StatementUse::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  if (data == nullptr) return {};
  return {reinterpret_cast<const char*>(data), size};
}

std::optional<std::string> StatementUse::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

std::int64_t StatementUse::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

bool StatementUse::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::span<const unsigned char> StatementUse::blob(int column) const {
  const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, column));
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  if (data == nullptr) return {};
  return {data, size};
}

}  // namespace airlock::store
