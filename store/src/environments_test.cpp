// Environments: the same document use cases as vaults, in their own table.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

TEST_CASE("environment create, get, update, archive, list and delete") {
  StoreFixture f;
  auto created = f.store->create_environment(R"({"config":{"type":"cloud"}})");
  REQUIRE(created.has_value());
  const auto id = created.value().id;
  CHECK(id.substr(0, 6) == "env_01");
  CHECK(f.store->get_environment(id).value().doc == R"({"config":{"type":"cloud"}})");
  CHECK(f.store->get_vault(id).error() == make_error_code(Errc::not_found));  // its own table

  f.clock.now += 2s;
  auto updated = f.store->update_environment(id, R"({"config":{"type":"local"}})");
  REQUIRE(updated.has_value());
  CHECK(updated.value().updated_at == "2026-11-27T02:21:24.123456Z");
  CHECK(f.store->archive_environment(id).value().archived_at == "2026-11-27T02:21:24.123456Z");
  CHECK(f.store->list_environments({}).value().items.empty());
  CHECK(f.store->list_environments(testing::list_query(20, true)).value().items.size() == 1);

  REQUIRE(f.store->delete_environment(id).has_value());
  CHECK(f.store->get_environment(id).error() == make_error_code(Errc::not_found));
  CHECK(f.store->delete_environment(id).error() == make_error_code(Errc::not_found));
  CHECK(f.store->update_environment(id, "{}").error() == make_error_code(Errc::not_found));
}

}  // namespace airlock::store
