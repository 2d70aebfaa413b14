// load_master_key: from AIRLOCK_MASTER_KEY (hex, base64), from DATA_DIR/master.key, generated when
// absent, and refused with a message naming the source when malformed.
#include <sys/stat.h>

#include <doctest/doctest.h>

#include <fstream>

#include "airlock/store/store.hpp"
#include "test_support.hpp"

namespace airlock::store {

namespace {

constexpr std::string_view kHex = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

std::string to_hex(std::span<const unsigned char> bytes) {
  std::string out;
  for (const unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

testing::Thrown load_error(const std::filesystem::path& dir, std::string_view env) {
  return testing::thrown_by([&] { (void)load_master_key(dir, env); });
}

}  // namespace

TEST_CASE("AIRLOCK_MASTER_KEY as 64 hex characters wins over the file") {
  testing::TempDir dir;
  auto key = load_master_key(dir.path(), kHex);
  CHECK(to_hex(key.key.bytes()) == kHex);
  CHECK(key.source == "AIRLOCK_MASTER_KEY");
  CHECK_FALSE(key.created);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "master.key"));  // no file when the env sets the key

  auto upper = load_master_key(dir.path(), "  0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20\n");
  CHECK(to_hex(upper.key.bytes()) == kHex);
}

TEST_CASE("AIRLOCK_MASTER_KEY as base64 of 32 bytes, standard or URL-safe") {
  testing::TempDir dir;
  auto standard = load_master_key(dir.path(), "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=");
  CHECK(to_hex(standard.key.bytes()) == kHex);
  CHECK(standard.source == "AIRLOCK_MASTER_KEY");
  auto unpadded = load_master_key(dir.path(), "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA");
  CHECK(to_hex(unpadded.key.bytes()) == kHex);
  auto url_safe = load_master_key(dir.path(), "yMnKy8zNzs_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5uc");
  REQUIRE(url_safe.key.size() == 32);
  CHECK(url_safe.key.bytes()[0] == 200);
  CHECK(url_safe.key.bytes()[31] == 231);
}

TEST_CASE("a malformed AIRLOCK_MASTER_KEY is refused, naming the variable and the form, not the value") {
  testing::TempDir dir;
  for (const std::string_view bad :
       {std::string_view{"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},    // 62 hex
        std::string_view{"zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"},  // not hex
        std::string_view{"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw=="},                      // 31 bytes
        std::string_view{"correct horse battery staple"}}) {
    const auto error = load_error(dir.path(), bad);
    CHECK(error.code == make_error_code(Errc::wrong_master_key));
    const std::string what = error.message;
    CHECK(what.find("AIRLOCK_MASTER_KEY is not a valid master key") != std::string::npos);
    CHECK(what.find("expected 64 hex characters or the base64 of 32 bytes") != std::string::npos);
    CHECK(what.find(std::string{bad}) == std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() / "master.key"));
}

TEST_CASE("without the variable, master.key is generated once (mode 0600, hex and a newline), then read") {
  testing::TempDir dir;
  const auto path = dir.path() / "master.key";
  auto first = load_master_key(dir.path(), "");
  CHECK(first.created);
  CHECK(first.source == path.string());
  REQUIRE(first.key.size() == 32);
  CHECK(mode_of(path) == 0600);
  CHECK(testing::read_file_bytes(path) == to_hex(first.key.bytes()) + "\n");

  auto second = load_master_key(dir.path(), "   ");  // blank counts as unset
  CHECK_FALSE(second.created);
  CHECK(second.source == path.string());
  CHECK(to_hex(second.key.bytes()) == to_hex(first.key.bytes()));

  // Another data dir gets another key.
  testing::TempDir other;
  CHECK(to_hex(load_master_key(other.path(), "").key.bytes()) != to_hex(first.key.bytes()));
}

TEST_CASE("an existing master.key that others may read is tightened to 0600") {
  testing::TempDir dir;
  const auto path = dir.path() / "master.key";
  std::ofstream(path) << kHex << "\n";
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto key = load_master_key(dir.path(), "");
  CHECK(to_hex(key.key.bytes()) == kHex);
  CHECK_FALSE(key.created);
  CHECK(mode_of(path) == 0600);
}

TEST_CASE("a malformed master.key is refused with its path and the expected form") {
  testing::TempDir dir;
  const auto path = dir.path() / "master.key";
  for (const std::string& bad :
       {std::string{""}, std::string{"0102\n"}, std::string{kHex} + std::string{kHex}, std::string(200, 'a')}) {
    std::ofstream(path, std::ios::trunc) << bad;
    const auto error = load_error(dir.path(), "");
    CHECK(error.code == make_error_code(Errc::wrong_master_key));
    const std::string what = error.message;
    CHECK(what.find(path.string() + " is not a valid master key file: expected 64 hex characters followed by a "
                                    "newline") == 0);
    CHECK(testing::read_file_bytes(path) == bad);  // never overwritten
  }
}

TEST_CASE("a data dir that does not exist is an I/O error naming the key file") {
  testing::TempDir dir;
  const auto error = load_error(dir.path() / "missing", "");
  CHECK(error.code == make_error_code(Errc::io));
  CHECK(error.message.find((dir.path() / "missing" / "master.key").string()) != std::string::npos);
}

}  // namespace airlock::store
