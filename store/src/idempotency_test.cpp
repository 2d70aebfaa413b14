// Idempotency-Key records: kept 24 hours by the store's clock, then ignored and purged.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

TEST_CASE("a remembered response is found for 24 hours, then ignored and purged") {
  StoreFixture f;
  const IdempotentResponse response{"POST /v1/vaults sha256:abc", 200, R"({"id":"vlt_01x"})", ""};
  CHECK_FALSE(f.store->find_idempotent("key-1").value().has_value());
  REQUIRE(f.store->remember_idempotent("key-1", response).has_value());

  auto found = f.store->find_idempotent("key-1");
  REQUIRE(found.has_value());
  REQUIRE(found.value().has_value());
  CHECK(found.value()->request_hash == "POST /v1/vaults sha256:abc");
  CHECK(found.value()->status == 200);
  CHECK(found.value()->body == R"({"id":"vlt_01x"})");
  CHECK(found.value()->created_at == "2026-11-27T02:21:22.123456Z");  // the store's clock

  // A live key is not overwritten.
  CHECK(f.store->remember_idempotent("key-1", IdempotentResponse{"other", 201, "{}", ""}).error() ==
        make_error_code(Errc::conflict));

  f.clock.now += 24h;  // exactly 24 hours old: still kept
  CHECK(f.store->find_idempotent("key-1").value().has_value());
  REQUIRE(f.store->purge_idempotent().has_value());
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM idempotency") == 1);

  f.clock.now += 1us;  // older than 24 hours
  CHECK_FALSE(f.store->find_idempotent("key-1").value().has_value());
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM idempotency") == 1);  // ignored, not yet purged
  REQUIRE(f.store->purge_idempotent().has_value());
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM idempotency") == 0);
}

TEST_CASE("an expired key can be taken by a new request before it is purged") {
  StoreFixture f;
  REQUIRE(f.store->remember_idempotent("key-1", IdempotentResponse{"first", 200, "1", ""}).has_value());
  f.clock.now += 25h;
  REQUIRE(f.store->remember_idempotent("key-1", IdempotentResponse{"second", 201, "2", ""}).has_value());
  auto found = f.store->find_idempotent("key-1").value();
  REQUIRE(found.has_value());
  CHECK(found->request_hash == "second");
  CHECK(found->status == 201);
  CHECK(found->created_at == "2026-11-28T03:21:22.123456Z");
}

TEST_CASE("remember_idempotent joins the caller's transaction") {
  StoreFixture f;
  {
    Store::Transaction tx{*f.store};
    const auto vault = f.store->create_vault("{}").value();
    REQUIRE(f.store->remember_idempotent("key-1", IdempotentResponse{"h", 200, vault.id, ""}).has_value());
  }  // rolled back together
  CHECK_FALSE(f.store->find_idempotent("key-1").value().has_value());
  CHECK(f.store->list_vaults({}).value().items.empty());
  {
    Store::Transaction tx{*f.store};
    const auto vault = f.store->create_vault("{}").value();
    REQUIRE(f.store->remember_idempotent("key-1", IdempotentResponse{"h", 200, vault.id, ""}).has_value());
    CHECK_FALSE(tx.commit());
  }
  CHECK(f.store->find_idempotent("key-1").value().has_value());
  CHECK(f.store->list_vaults({}).value().items.size() == 1);
}

}  // namespace airlock::store
