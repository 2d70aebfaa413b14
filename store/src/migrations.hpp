// Schema migrations: numbered SQL steps, applied at open, tracked in PRAGMA user_version.
#pragma once

#include <filesystem>
#include <span>
#include <string_view>

#include "sqlite.hpp"

namespace airlock::store {

// Step i (0-based) moves the schema from version i to version i + 1. Steps are only ever appended:
// an existing step never changes once released, because databases in the field have already run it.
std::span<const std::string_view> migrations() noexcept;

// Brings the database to the latest version in one BEGIN IMMEDIATE transaction. Throws
// std::system_error: Errc::newer_schema when user_version is beyond what this build knows, Errc::io when a
// step fails (the transaction is rolled back, so the file keeps its old version).
void migrate(Database& db, const std::filesystem::path& path);

}  // namespace airlock::store
