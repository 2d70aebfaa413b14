// Shared by the store's tests: a temporary directory, a clock the test drives, and a store opened on a
// real SQLite file inside that directory.
#pragma once

#include "airlock/testing/temp_dir.hpp"
#include "airlock/testing/test_clock.hpp"
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "airlock/store/store.hpp"
#include "sqlite.hpp"

namespace airlock::store::testing {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

using TempDir = airlock::testing::TempDir;

using airlock::testing::test_epoch;
using airlock::testing::TestClock;

inline SecretValue key_of(unsigned char fill) {
  auto key = SecretValue::with_size(32);
  for (std::size_t i = 0; i < key.size(); ++i) key.data()[i] = static_cast<unsigned char>(fill + i);
  return key;
}

inline std::unique_ptr<Store> open_store(const std::filesystem::path& db, TestClock& clock, unsigned char key = 1) {
  return Store::open(Options{db, key_of(key), clock.clock(), "test key"});
}

// A fixture: a temp dir, a driven clock, and an open store on DIR/airlock.db.
struct StoreFixture {
  TempDir dir;
  TestClock clock;
  std::filesystem::path db_path = dir.path() / "airlock.db";
  std::unique_ptr<Store> store = open_store(db_path, clock);

  void reopen(unsigned char key = 1) {
    store.reset();
    store = open_store(db_path, clock, key);
  }
};

// ListQuery by position (GCC 12 warns about designated initializers that leave members out).
inline ListQuery list_query(std::size_t limit, bool include_archived = false, std::optional<Cursor> after = {}) {
  ListQuery query;
  query.limit = limit;
  query.include_archived = include_archived;
  query.after = std::move(after);
  return query;
}

// What a thrown std::system_error said (copied out, since the exception itself may not be sliced).
struct Thrown {
  std::error_code code;
  std::string message;
};

template <class F>
Thrown thrown_by(F&& f) {
  try {
    f();
  } catch (const std::system_error& error) {
    return Thrown{error.code(), error.what()};
  }
  FAIL("no std::system_error was thrown");
  return {};
}

inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A single integer from SQL run on a separate connection to the same file.
inline std::int64_t query_int(const std::filesystem::path& db_path, const std::string& sql) {
  Database db{db_path};
  auto stmt = db.statement(sql);
  REQUIRE(stmt.has_value());
  StatementUse use{db, stmt.value()};
  auto row = use.step();
  REQUIRE(row.has_value());
  REQUIRE(row.value());
  return use.integer(0);
}

inline void exec_sql(const std::filesystem::path& db_path, const std::string& sql) {
  Database db{db_path};
  REQUIRE_FALSE(db.exec(sql));
}

}  // namespace airlock::store::testing
