// Store::seal_blob / unseal_blob: round trip, and refusal under other associated data, altered bytes or another
// master key.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::store::testing {

TEST_CASE("a sealed blob opens only with its associated data and its master key") {
  StoreFixture f;
  const std::string plaintext = "-----BEGIN PRIVATE KEY----- not really";
  std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size());
  std::string sealed = f.store->seal_blob(bytes, "ca.key");
  CHECK(sealed.find("BEGIN PRIVATE KEY") == std::string::npos);

  auto opened = f.store->unseal_blob(sealed, "ca.key");
  REQUIRE(opened.has_value());
  CHECK(opened.value().view() == plaintext);

  auto other_data = f.store->unseal_blob(sealed, "something.else");
  REQUIRE(!other_data.has_value());
  CHECK(other_data.error() == Errc::wrong_master_key);

  std::string altered = sealed;
  altered.back() = static_cast<char>(altered.back() ^ 1);
  CHECK(!f.store->unseal_blob(altered, "ca.key").has_value());

  TempDir other_dir;  // another database, created under another master key
  TestClock other_clock;
  auto other = open_store(other_dir.path() / "airlock.db", other_clock, 2);
  CHECK(!other->unseal_blob(sealed, "ca.key").has_value());
}

}  // namespace airlock::store::testing
