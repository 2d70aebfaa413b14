// Store::Transaction: atomic units of several writes, joining, rollback, and when the
// on_credentials_changed callbacks run.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

namespace {

NewCredential env_var(const std::string& vault_id, const std::string& name) {
  SecretFields fields;
  fields.emplace_back("secret_value", SecretValue{std::string_view{"s"}});
  return NewCredential{vault_id, "environment_variable", name, std::nullopt, "{}", std::move(fields)};
}

std::int64_t rows(const StoreFixture& f, const std::string& table) {
  return testing::query_int(f.db_path, "SELECT count(*) FROM " + table);
}

}  // namespace

TEST_CASE("a transaction that is not committed leaves nothing behind") {
  StoreFixture f;
  {
    Store::Transaction tx{*f.store};
    const auto vault = f.store->create_vault("{}").value().id;
    REQUIRE(f.store->create_credential(env_var(vault, "A")).has_value());
    REQUIRE(f.store->create_agent("{}").has_value());
    REQUIRE(f.store->create_environment("{}").has_value());
    IdempotentResponse response{"hash", 200, "{}", ""};
    REQUIRE(f.store->remember_idempotent("key-1", response).has_value());
    CHECK(f.store->get_vault(vault).has_value());  // visible inside the transaction
  }
  for (const auto* table :
       {"vaults", "credentials", "credential_secrets", "agents", "agent_versions", "environments", "idempotency"}) {
    INFO(table);
    CHECK(rows(f, table) == 0);
  }
  CHECK(f.store->list_vaults({}).value().items.empty());
}

TEST_CASE("a committed transaction keeps every write - writes outside commit on their own") {
  StoreFixture f;
  std::string vault;
  {
    Store::Transaction tx{*f.store};
    vault = f.store->create_vault("{}").value().id;
    REQUIRE(f.store->create_credential(env_var(vault, "A")).has_value());
    CHECK(rows(f, "vaults") == 0);  // another connection does not see it yet
    CHECK_FALSE(tx.commit());
    CHECK_FALSE(tx.commit());  // committing twice is harmless
  }
  CHECK(rows(f, "vaults") == 1);
  CHECK(rows(f, "credentials") == 1);
  REQUIRE(f.store->create_vault("{}").has_value());
  CHECK(rows(f, "vaults") == 2);
}

TEST_CASE("a write that fails inside a transaction undoes only itself") {
  StoreFixture f;
  const auto vault = f.store->create_vault("{}").value().id;
  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->create_credential(env_var(vault, "A")).has_value());
    CHECK(f.store->create_credential(env_var(vault, "A")).error() == make_error_code(Errc::conflict));
    REQUIRE(f.store->create_credential(env_var(vault, "B")).has_value());
    CHECK_FALSE(tx.commit());
  }
  CHECK(rows(f, "credentials") == 2);
  CHECK(rows(f, "credential_secrets") == 2);
}

TEST_CASE("a nested transaction is a savepoint of the outer one") {
  StoreFixture f;
  {
    Store::Transaction outer{*f.store};
    REQUIRE(f.store->create_agent("{}").has_value());
    {
      Store::Transaction inner{*f.store};
      REQUIRE(f.store->create_agent("{}").has_value());
    }  // rolled back: only the inner agent goes
    {
      Store::Transaction inner{*f.store};
      REQUIRE(f.store->create_environment("{}").has_value());
      CHECK_FALSE(inner.commit());
    }
    CHECK(rows(f, "agents") == 0);  // nothing is committed before the outer commit
    CHECK_FALSE(outer.commit());
  }
  CHECK(rows(f, "agents") == 1);
  CHECK(rows(f, "environments") == 1);
}

TEST_CASE("on_credentials_changed runs after the outermost commit of a credential or vault change only") {
  StoreFixture f;
  int calls = 0;
  std::size_t seen_active = 0;
  f.store->on_credentials_changed([&] {
    ++calls;
    // The transaction is over: the callback can rebuild its snapshot from the store.
    seen_active = f.store->active_credentials().value().size();
  });

  const auto vault = f.store->create_vault("{}").value().id;
  CHECK(calls == 1);
  REQUIRE(f.store->create_credential(env_var(vault, "A")).has_value());
  CHECK(calls == 2);
  CHECK(seen_active == 1);

  REQUIRE(f.store->create_agent("{}").has_value());
  REQUIRE(f.store->create_environment("{}").has_value());
  CHECK(calls == 2);  // not credential changes

  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->create_credential(env_var(vault, "B")).has_value());
    REQUIRE(f.store->create_credential(env_var(vault, "C")).has_value());
    CHECK(calls == 2);  // nothing before commit
    CHECK_FALSE(tx.commit());
  }
  CHECK(calls == 3);  // once per transaction
  CHECK(seen_active == 3);

  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->create_credential(env_var(vault, "D")).has_value());
  }
  CHECK(calls == 3);  // rolled back: no call

  // A failed write inside a transaction does not count as a change.
  {
    Store::Transaction tx{*f.store};
    CHECK(f.store->create_credential(env_var(vault, "A")).error() == make_error_code(Errc::conflict));
    REQUIRE(f.store->create_agent("{}").has_value());
    CHECK_FALSE(tx.commit());
  }
  CHECK(calls == 3);

  // Archiving an archived credential changes nothing.
  const auto id = f.store->list_credentials(vault, {}).value().items.front().id;
  REQUIRE(f.store->archive_credential(vault, id).has_value());
  CHECK(calls == 4);
  REQUIRE(f.store->archive_credential(vault, id).has_value());
  CHECK(calls == 4);

  // A failed write outside a transaction does not call either.
  CHECK(f.store->create_credential(env_var("vlt_01nope", "Z")).error() == make_error_code(Errc::not_found));
  CHECK(calls == 4);
  REQUIRE(f.store->delete_vault(vault).has_value());
  CHECK(calls == 5);
  CHECK(seen_active == 0);
}

TEST_CASE("a callback that throws leaves the store usable and the change committed") {
  StoreFixture f;
  int calls = 0;
  f.store->on_credentials_changed([&] {
    ++calls;
    throw std::runtime_error("snapshot rebuild failed");
  });
  CHECK_THROWS_AS((void)f.store->create_vault("{}"), std::runtime_error);
  CHECK(calls == 1);
  CHECK(rows(f, "vaults") == 1);
  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->create_agent("{}").has_value());
    CHECK_FALSE(tx.commit());
  }
  CHECK(rows(f, "agents") == 1);
  CHECK(calls == 1);
}

}  // namespace airlock::store
