// Thin RAII layer over the SQLite C API, private to the store.
//
// Database owns one connection and its prepared statements: each SQL text is prepared once
// (SQLITE_PREPARE_PERSISTENT) and kept until the connection closes. StatementUse borrows a cached
// statement for one execution and resets it and clears its bindings when it goes out of scope, so no
// statement keeps a read snapshot open between calls. Failures become store error codes (a UNIQUE or
// PRIMARY KEY violation is Errc::conflict, anything else Errc::io); SQLite's message for the last one is
// kept in Database::last_error() for the log. Bound values never appear in those messages.
#pragma once

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

#include <sqlite3.h>

#include "airlock/store/store.hpp"

namespace airlock::store {

template <auto Free>
struct CFree {  // calls the C library's own free function
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using SqlitePtr = std::unique_ptr<sqlite3, CFree<sqlite3_close_v2>>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, CFree<sqlite3_finalize>>;

class Database {
 public:
  // Opens (creating if needed) the file; throws std::system_error(Errc::io) naming the path.
  explicit Database(const std::filesystem::path& path);

  sqlite3* handle() const noexcept { return db_.get(); }

  // The cached statement for `sql` (exactly one statement), prepared on first use.
  Result<sqlite3_stmt*> statement(std::string_view sql);

  // Runs SQL text with no parameters and no rows wanted (PRAGMAs, BEGIN, COMMIT, migration steps).
  std::error_code exec(const std::string& sql);

  // Records SQLite's message for `rc` (prefixed with `what`) and returns the matching store error.
  std::error_code fail(int rc, std::string_view what);
  // Records a message of our own for an Errc::io failure that SQLite did not report.
  std::error_code fail_io(std::string message);

  const std::string& last_error() const noexcept { return last_error_; }
  int changes() const noexcept { return sqlite3_changes(db_.get()); }
  // True when no transaction is open (SQLite rolls one back by itself after some errors).
  bool autocommit() const noexcept { return sqlite3_get_autocommit(db_.get()) != 0; }

  // Options::after_write_for_test: called after each statement that writes.
  void set_after_write_for_test(std::function<void(std::string_view sql)> hook) {
    after_write_for_test_ = std::move(hook);
  }
  void wrote(std::string_view sql) const {
    if (after_write_for_test_) after_write_for_test_(sql);
  }

 private:
  // The store error for a SQLite result code (see sqlite.cpp).
  std::error_code code_for(int rc) const;

  std::filesystem::path path_;
  SqlitePtr db_;  // declared before the statements: destroyed after they are finalised
  std::map<std::string, StmtPtr, std::less<>> statements_;
  std::string last_error_;
  std::function<void(std::string_view sql)> after_write_for_test_;
};

// One execution of a cached statement. Bind errors are kept and reported by the first step().
class StatementUse {
 public:
  StatementUse(Database& db, sqlite3_stmt* stmt) noexcept : db_(&db), stmt_(stmt) {}
  ~StatementUse();
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  // Parameters are 1-based, or named (":name"). Text and blobs are copied (SQLITE_TRANSIENT).
  StatementUse& bind(int index, std::string_view text);
  StatementUse& bind(int index, const char* text) { return bind(index, std::string_view{text}); }
  StatementUse& bind(int index, const std::string& text) { return bind(index, std::string_view{text}); }
  StatementUse& bind(int index, const std::optional<std::string>& text);
  StatementUse& bind(int index, std::int64_t value);
  StatementUse& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  StatementUse& bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  StatementUse& bind(int index, std::nullopt_t);
  StatementUse& bind_blob(int index, std::span<const unsigned char> bytes);
  template <class T>
  StatementUse& bind(const char* name, T&& value) {
    return bind(parameter(name), std::forward<T>(value));
  }

  // Binds the arguments to parameters 1..N in order.
  template <class... Args>
  StatementUse& bind_all(Args&&... args) {
    int index = 0;
    (bind(++index, std::forward<Args>(args)), ...);
    return *this;
  }

  // true: a row is available; false: the statement is done.
  Result<bool> step();
  // Runs a statement that returns no rows.
  std::error_code run();

  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  std::int64_t integer(int column) const;
  bool is_null(int column) const;
  std::span<const unsigned char> blob(int column) const;

 private:
  int parameter(const char* name);
  void check_bind(int rc);

  Database* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

}  // namespace airlock::store
