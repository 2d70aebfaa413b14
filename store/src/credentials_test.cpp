// Credentials: sealing, uniqueness per vault, cascade, the active set, and that no plaintext reaches
// the database files.
#include <doctest/doctest.h>

#include <algorithm>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

namespace {

using testing::StoreFixture;

SecretFields secrets(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  SecretFields out;
  for (const auto& [name, value] : fields) out.emplace_back(std::string{name}, SecretValue{value});
  return out;
}

NewCredential env_var(const std::string& vault_id, const std::string& name, std::string_view value) {
  return NewCredential{vault_id,     "environment_variable", name,
                       std::nullopt, R"({"networking":{}})", secrets({{"secret_value", value}})};
}

NewCredential bearer(const std::string& vault_id, const std::string& url, std::string_view token) {
  return NewCredential{vault_id, "static_bearer", std::nullopt, url, "{}", secrets({{"token", token}})};
}

std::string new_vault(Store& store) {
  auto vault = store.create_vault("{}");
  REQUIRE(vault.has_value());
  return vault.value().id;
}

std::string unsealed(Store& store, const std::string& id, std::string_view field) {
  auto value = store.unseal_secret(id, field);
  REQUIRE(value.has_value());
  return std::string{value.value().view()};
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("create an environment_variable credential: placeholder, sealed field, unseal") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  auto created = f.store->create_credential(env_var(vault, "METRICS_API_TOKEN", "mt-secret-1"));
  REQUIRE(created.has_value());
  const auto& c = created.value();
  CHECK(c.id.substr(0, 7) == "vcrd_01");
  CHECK(c.vault_id == vault);
  CHECK(c.auth_type == "environment_variable");
  CHECK(c.secret_name == "METRICS_API_TOKEN");
  CHECK_FALSE(c.mcp_server_url.has_value());
  REQUIRE(c.placeholder.has_value());
  CHECK(c.placeholder->size() == kPlaceholderLength);
  CHECK(c.placeholder->substr(0, kPlaceholderPrefix.size()) == kPlaceholderPrefix);
  CHECK(c.secret_fields == std::vector<std::string>{"secret_value"});
  CHECK(c.doc == R"({"networking":{}})");
  CHECK(c.created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(unsealed(*f.store, c.id, "secret_value") == "mt-secret-1");

  auto fetched = f.store->get_credential(vault, c.id);
  REQUIRE(fetched.has_value());
  CHECK(fetched.value().placeholder == c.placeholder);
  CHECK(f.store->get_credential("vlt_01other", c.id).error() == make_error_code(Errc::not_found));
  CHECK(f.store->unseal_secret(c.id, "token").error() == make_error_code(Errc::not_found));
  CHECK(f.store->unseal_secret("vcrd_01nope", "secret_value").error() == make_error_code(Errc::not_found));

  // MCP credentials carry no placeholder.
  auto mcp = f.store->create_credential(bearer(vault, "https://mcp.example.com/", "tok"));
  REQUIRE(mcp.has_value());
  CHECK_FALSE(mcp.value().placeholder.has_value());
  CHECK(mcp.value().secret_fields == std::vector<std::string>{"token"});
}

TEST_CASE("a credential needs an existing, active vault") {
  StoreFixture f;
  CHECK(f.store->create_credential(env_var("vlt_01nope", "A", "x")).error() == make_error_code(Errc::not_found));
  const auto vault = new_vault(*f.store);
  REQUIRE(f.store->archive_vault(vault).has_value());
  CHECK(f.store->create_credential(env_var(vault, "A", "x")).error() == make_error_code(Errc::archived));
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM credentials") == 0);
}

TEST_CASE("the schema refuses a credential without the key its auth type needs") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  NewCredential missing_url{vault, "static_bearer", std::nullopt, std::nullopt, "{}", {}};
  CHECK(f.store->create_credential(std::move(missing_url)).error() == make_error_code(Errc::io));
  CHECK(f.store->last_error().find("CHECK constraint failed") != std::string::npos);
  NewCredential unknown{vault, "basic", std::nullopt, "https://x/", "{}", {}};
  CHECK(f.store->create_credential(std::move(unknown)).error() == make_error_code(Errc::io));
}

TEST_CASE("secret_name is unique among a vault's active credentials - archiving frees it") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  const auto other_vault = new_vault(*f.store);
  auto first = f.store->create_credential(env_var(vault, "GITHUB_TOKEN", "one"));
  REQUIRE(first.has_value());
  auto clash = f.store->create_credential(env_var(vault, "GITHUB_TOKEN", "two"));
  CHECK(clash.error() == make_error_code(Errc::conflict));
  CHECK(f.store->last_error() ==
        "step: UNIQUE constraint failed: credentials.vault_id, credentials.secret_name (constraint failed)");
  CHECK(f.store->last_error().find("two") == std::string::npos);
  CHECK(f.store->create_credential(env_var(other_vault, "GITHUB_TOKEN", "three")).has_value());

  REQUIRE(f.store->archive_credential(vault, first.value().id).has_value());
  auto second = f.store->create_credential(env_var(vault, "GITHUB_TOKEN", "two"));
  REQUIRE(second.has_value());
  CHECK(unsealed(*f.store, second.value().id, "secret_value") == "two");
  CHECK(unsealed(*f.store, first.value().id, "secret_value") == "one");  // the archived one keeps its value
}

TEST_CASE("mcp_server_url is unique among a vault's active credentials, across MCP auth types") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  auto first = f.store->create_credential(bearer(vault, "https://mcp.example.com/", "a"));
  REQUIRE(first.has_value());
  CHECK(f.store->create_credential(bearer(vault, "https://mcp.example.com/", "b")).error() ==
        make_error_code(Errc::conflict));
  NewCredential oauth{
      vault, "mcp_oauth", std::nullopt, "https://mcp.example.com/", "{}", secrets({{"access_token", "at"}})};
  CHECK(f.store->create_credential(std::move(oauth)).error() == make_error_code(Errc::conflict));
  CHECK(f.store->create_credential(bearer(vault, "https://other.example.com/", "b")).has_value());
  REQUIRE(f.store->archive_credential(vault, first.value().id).has_value());
  CHECK(f.store->create_credential(bearer(vault, "https://mcp.example.com/", "c")).has_value());
}

TEST_CASE("update replaces doc and the named secrets and keeps the others") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  NewCredential oauth{vault,        "mcp_oauth",
                      std::nullopt, "https://mcp.example.com/",
                      R"({"v":1})", secrets({{"access_token", "at-1"}, {"refresh_token", "rt-1"}})};
  auto created = f.store->create_credential(std::move(oauth));
  REQUIRE(created.has_value());
  const auto id = created.value().id;
  CHECK(created.value().secret_fields == std::vector<std::string>{"access_token", "refresh_token"});

  f.clock.now += 5s;
  auto updated = f.store->update_credential(vault, id, R"({"v":2})", secrets({{"access_token", "at-2"}}));
  REQUIRE(updated.has_value());
  CHECK(updated.value().doc == R"({"v":2})");
  CHECK(updated.value().updated_at == "2026-11-27T02:21:27.123456Z");
  CHECK(updated.value().created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(unsealed(*f.store, id, "access_token") == "at-2");
  CHECK(unsealed(*f.store, id, "refresh_token") == "rt-1");

  auto more = f.store->update_credential(vault, id, R"({"v":3})", secrets({{"client_secret", "cs"}}));
  REQUIRE(more.has_value());
  CHECK(more.value().secret_fields == std::vector<std::string>{"access_token", "client_secret", "refresh_token"});
  CHECK(unsealed(*f.store, id, "client_secret") == "cs");

  CHECK(f.store->update_credential("vlt_01nope", id, "{}", {}).error() == make_error_code(Errc::not_found));
  CHECK(f.store->update_credential(vault, "vcrd_01nope", "{}", {}).error() == make_error_code(Errc::not_found));
}

TEST_CASE("a sealed value moved to another field or credential does not unseal") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  NewCredential oauth{vault,        "mcp_oauth",
                      std::nullopt, "https://mcp.example.com/",
                      "{}",         secrets({{"access_token", "at"}, {"refresh_token", "rt"}})};
  const auto a = f.store->create_credential(std::move(oauth)).value().id;
  const auto b = f.store->create_credential(env_var(vault, "B", "b-secret")).value().id;
  testing::exec_sql(f.db_path, fmt::format("UPDATE credential_secrets SET sealed = (SELECT sealed FROM "
                                           "credential_secrets WHERE credential_id = '{0}' AND field = "
                                           "'access_token') WHERE credential_id = '{0}' AND field = 'refresh_token'",
                                           a));
  testing::exec_sql(f.db_path, fmt::format("UPDATE credential_secrets SET sealed = (SELECT sealed FROM "
                                           "credential_secrets WHERE credential_id = '{0}' AND field = "
                                           "'access_token') WHERE credential_id = '{1}'",
                                           a, b));
  CHECK(unsealed(*f.store, a, "access_token") == "at");
  CHECK(f.store->unseal_secret(a, "refresh_token").error() == make_error_code(Errc::io));
  CHECK(f.store->last_error() ==
        fmt::format("the sealed refresh_token of credential {} does not authenticate: the database was altered", a));
  CHECK(f.store->unseal_secret(b, "secret_value").error() == make_error_code(Errc::io));
  CHECK(f.store->active_credentials().error() == make_error_code(Errc::io));
}

TEST_CASE("archive is idempotent and delete removes the credential and its sealed fields") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  const auto id = f.store->create_credential(env_var(vault, "A", "x")).value().id;
  f.clock.now += 1s;
  auto archived = f.store->archive_credential(vault, id);
  REQUIRE(archived.has_value());
  CHECK(archived.value().archived_at == "2026-11-27T02:21:23.123456Z");
  f.clock.now += 1s;
  CHECK(f.store->archive_credential(vault, id).value().archived_at == "2026-11-27T02:21:23.123456Z");
  CHECK(f.store->archive_credential("vlt_01nope", id).error() == make_error_code(Errc::not_found));

  CHECK(f.store->delete_credential("vlt_01nope", id).error() == make_error_code(Errc::not_found));
  REQUIRE(f.store->delete_credential(vault, id).has_value());
  CHECK(f.store->get_credential(vault, id).error() == make_error_code(Errc::not_found));
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM credential_secrets") == 0);
}

TEST_CASE("deleting a vault deletes its credentials and their sealed fields") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  const auto kept = new_vault(*f.store);
  const auto a = f.store->create_credential(env_var(vault, "A", "x")).value().id;
  REQUIRE(f.store->create_credential(bearer(vault, "https://m/", "y")).has_value());
  REQUIRE(f.store->create_credential(env_var(kept, "A", "z")).has_value());
  REQUIRE(f.store->delete_vault(vault).has_value());
  CHECK(f.store->get_credential(vault, a).error() == make_error_code(Errc::not_found));
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM credentials") == 1);
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM credential_secrets") == 1);
  CHECK(f.store->list_credentials(vault, {}).error() == make_error_code(Errc::not_found));
}

TEST_CASE("list_credentials pages through one vault's credentials, newest first") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  const auto other = new_vault(*f.store);
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(f.store->create_credential(env_var(vault, fmt::format("V{}", i), "x")).value().id);
  }
  REQUIRE(f.store->create_credential(env_var(other, "V0", "x")).has_value());
  REQUIRE(f.store->archive_credential(vault, ids[2]).has_value());

  auto collect = [&](ListQuery query) {
    std::vector<std::string> seen;
    for (;;) {
      auto page = f.store->list_credentials(vault, query);
      REQUIRE(page.has_value());
      for (const auto& c : page.value().items) {
        CHECK(c.vault_id == vault);
        CHECK(c.secret_fields == std::vector<std::string>{"secret_value"});
        seen.push_back(c.id);
      }
      if (!page.value().next) return seen;
      query.after = page.value().next;
    }
  };
  auto active = collect(testing::list_query(2));
  CHECK(active.size() == 6);
  CHECK(std::find(active.begin(), active.end(), ids[2]) == active.end());
  auto all = collect(testing::list_query(2, true));
  std::sort(all.begin(), all.end());
  std::sort(ids.begin(), ids.end());
  CHECK(all == ids);
}

TEST_CASE("active_credentials: active credentials of active vaults, each with its primary secret") {
  StoreFixture f;
  const auto vault = new_vault(*f.store);
  const auto archived_vault = new_vault(*f.store);
  const auto env = f.store->create_credential(env_var(vault, "A", "env-secret")).value();
  f.clock.now += 1s;
  const auto tok = f.store->create_credential(bearer(vault, "https://bearer/", "bearer-secret")).value();
  f.clock.now += 1s;
  NewCredential oauth{vault,        "mcp_oauth",
                      std::nullopt, "https://oauth/",
                      R"({"o":1})", secrets({{"access_token", "oauth-access"}, {"refresh_token", "oauth-refresh"}})};
  const auto oa = f.store->create_credential(std::move(oauth)).value();
  const auto gone = f.store->create_credential(env_var(vault, "B", "archived-secret")).value();
  REQUIRE(f.store->archive_credential(vault, gone.id).has_value());
  REQUIRE(f.store->create_credential(env_var(archived_vault, "C", "in-archived-vault")).has_value());
  REQUIRE(f.store->archive_vault(archived_vault).has_value());

  auto active = f.store->active_credentials();
  REQUIRE(active.has_value());
  const auto& list = active.value();
  REQUIRE(list.size() == 3);
  CHECK(list[0].id == env.id);
  CHECK(list[0].vault_id == vault);
  CHECK(list[0].auth_type == "environment_variable");
  CHECK(list[0].secret_name == "A");
  CHECK(list[0].placeholder == env.placeholder);
  CHECK(list[0].doc == R"({"networking":{}})");
  CHECK(list[0].value.view() == "env-secret");
  CHECK(list[1].id == tok.id);
  CHECK(list[1].mcp_server_url == "https://bearer/");
  CHECK(list[1].value.view() == "bearer-secret");
  CHECK(list[2].id == oa.id);
  CHECK(list[2].doc == R"({"o":1})");
  CHECK(list[2].value.view() == "oauth-access");

  // An OAuth credential stored without an access token is active with an empty value.
  NewCredential bare{vault, "mcp_oauth", std::nullopt, "https://bare/", "{}", secrets({{"refresh_token", "r"}})};
  const auto bare_id = f.store->create_credential(std::move(bare)).value().id;
  auto with_bare = f.store->active_credentials();
  REQUIRE(with_bare.has_value());
  REQUIRE(with_bare.value().size() == 4);
  const auto found = std::find_if(with_bare.value().begin(), with_bare.value().end(),
                                  [&](const ActiveCredential& c) { return c.id == bare_id; });
  REQUIRE(found != with_bare.value().end());
  CHECK(found->value.empty());
}

TEST_CASE("no plaintext secret reaches the database or its WAL") {
  StoreFixture f;
  constexpr std::string_view kSecrets[] = {"PLAINTEXT-MARKER-env-4f1c9a", "PLAINTEXT-MARKER-bearer-77d2e0",
                                           "PLAINTEXT-MARKER-refresh-0b5a13", "PLAINTEXT-MARKER-rotated-c3e8f4"};
  const auto vault = new_vault(*f.store);
  const auto env = f.store->create_credential(env_var(vault, "MARKER", kSecrets[0])).value();
  REQUIRE(f.store->create_credential(bearer(vault, "https://m/", kSecrets[1])).has_value());
  NewCredential oauth{
      vault,        "mcp_oauth",
      std::nullopt, "https://o/",
      "{}",         secrets({{"access_token", "PLAINTEXT-MARKER-access"}, {"refresh_token", kSecrets[2]}})};
  REQUIRE(f.store->create_credential(std::move(oauth)).has_value());
  REQUIRE(f.store->update_credential(vault, env.id, "{}", secrets({{"secret_value", kSecrets[3]}})).has_value());
  CHECK(unsealed(*f.store, env.id, "secret_value") == kSecrets[3]);

  auto scan = [&](const char* when) {
    std::string all;
    for (const auto* suffix : {"", "-wal", "-shm", "-journal"}) {
      const auto path = f.db_path.string() + suffix;
      if (std::filesystem::exists(path)) all += testing::read_file_bytes(path);
    }
    INFO(when);
    CHECK(all.size() > 0);
    CHECK(contains(all, "MARKER"));  // the secret_name is stored in the clear, so the scan does see rows
    CHECK_FALSE(contains(all, "PLAINTEXT-MARKER"));
  };
  CHECK(std::filesystem::exists(f.db_path.string() + "-wal"));
  scan("while open (rows in the WAL)");
  f.store.reset();  // the last connection checkpoints the WAL into the main file
  scan("after close (rows checkpointed)");
}

}  // namespace airlock::store
