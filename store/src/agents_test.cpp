// Agents: versions, the optimistic lock, no-op updates, and the versions list.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

TEST_CASE("an agent starts at version 1 - a changed doc makes a new version") {
  StoreFixture f;
  auto created = f.store->create_agent(R"({"name":"a"})");
  REQUIRE(created.has_value());
  const auto id = created.value().id;
  CHECK(id.substr(0, 8) == "agent_01");
  CHECK(created.value().version == 1);
  CHECK(created.value().doc == R"({"name":"a"})");
  CHECK(created.value().created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(created.value().updated_at == "2026-11-27T02:21:22.123456Z");

  f.clock.now += 10s;
  auto v2 = f.store->update_agent(id, R"({"name":"b"})", 1);
  REQUIRE(v2.has_value());
  CHECK(v2.value().version == 2);
  CHECK(v2.value().doc == R"({"name":"b"})");
  CHECK(v2.value().created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(v2.value().updated_at == "2026-11-27T02:21:32.123456Z");

  f.clock.now += 10s;
  auto v3 = f.store->update_agent(id, R"({"name":"c"})", std::nullopt);  // no lock asked for
  REQUIRE(v3.has_value());
  CHECK(v3.value().version == 3);

  auto latest = f.store->get_agent(id);
  REQUIRE(latest.has_value());
  CHECK(latest.value().version == 3);
  CHECK(latest.value().doc == R"({"name":"c"})");
  auto first = f.store->get_agent(id, 1);
  REQUIRE(first.has_value());
  CHECK(first.value().version == 1);
  CHECK(first.value().doc == R"({"name":"a"})");
  CHECK(first.value().updated_at == "2026-11-27T02:21:22.123456Z");
  auto second = f.store->get_agent(id, 2);
  REQUIRE(second.has_value());
  CHECK(second.value().updated_at == "2026-11-27T02:21:32.123456Z");
  CHECK(f.store->get_agent(id, 4).error() == make_error_code(Errc::not_found));
  CHECK(f.store->get_agent("agent_01nope").error() == make_error_code(Errc::not_found));
}

TEST_CASE("an update with the same doc is a no-op: same version, same updated_at") {
  StoreFixture f;
  const auto id = f.store->create_agent(R"({"name":"a"})").value().id;
  f.clock.now += 1min;
  auto same = f.store->update_agent(id, R"({"name":"a"})", 1);
  REQUIRE(same.has_value());
  CHECK(same.value().version == 1);
  CHECK(same.value().updated_at == "2026-11-27T02:21:22.123456Z");
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM agent_versions") == 1);
}

TEST_CASE("expected_version other than the latest is a version_conflict") {
  StoreFixture f;
  const auto id = f.store->create_agent("{}").value().id;
  REQUIRE(f.store->update_agent(id, R"({"x":1})", 1).has_value());
  CHECK(f.store->update_agent(id, R"({"x":2})", 1).error() == make_error_code(Errc::version_conflict));
  CHECK(f.store->update_agent(id, R"({"x":1})", 3).error() == make_error_code(Errc::version_conflict));
  CHECK(f.store->get_agent(id).value().version == 2);
  CHECK(f.store->update_agent("agent_01nope", "{}", 1).error() == make_error_code(Errc::not_found));
}

TEST_CASE("list_agent_versions pages newest version first, the cursor naming the version") {
  StoreFixture f;
  const auto id = f.store->create_agent(R"({"v":1})").value().id;
  for (int v = 2; v <= 5; ++v) REQUIRE(f.store->update_agent(id, fmt::format(R"({{"v":{}}})", v), v - 1).has_value());

  auto query = testing::list_query(2);
  std::vector<std::vector<int>> pages;
  std::vector<std::string> cursors;
  for (;;) {
    auto page = f.store->list_agent_versions(id, query);
    REQUIRE(page.has_value());
    std::vector<int> versions;
    for (const auto& agent : page.value().items) {
      CHECK(agent.id == id);
      CHECK(agent.doc == fmt::format(R"({{"v":{}}})", agent.version));
      versions.push_back(agent.version);
    }
    pages.push_back(versions);
    if (!page.value().next) break;
    cursors.push_back(page.value().next->id);
    query.after = page.value().next;
  }
  CHECK(pages == std::vector<std::vector<int>>{{5, 4}, {3, 2}, {1}});
  CHECK(cursors == std::vector<std::string>{"4", "2"});
  CHECK(f.store->list_agent_versions("agent_01nope", {}).error() == make_error_code(Errc::not_found));
  auto garbage = f.store->list_agent_versions(id, testing::list_query(20, false, Cursor{"", "x"}));
  REQUIRE(garbage.has_value());
  CHECK(garbage.value().items.empty());
  CHECK_FALSE(garbage.value().next.has_value());
}

TEST_CASE("archive an agent - lists hide it unless include_archived") {
  StoreFixture f;
  const auto a = f.store->create_agent(R"({"a":1})").value().id;
  const auto b = f.store->create_agent(R"({"b":1})").value().id;
  REQUIRE(f.store->update_agent(b, R"({"b":2})", 1).has_value());
  f.clock.now += 1s;
  auto archived = f.store->archive_agent(a);
  REQUIRE(archived.has_value());
  CHECK(archived.value().archived_at == "2026-11-27T02:21:23.123456Z");
  f.clock.now += 1s;
  CHECK(f.store->archive_agent(a).value().archived_at == "2026-11-27T02:21:23.123456Z");
  CHECK(f.store->archive_agent("agent_01nope").error() == make_error_code(Errc::not_found));

  auto active = f.store->list_agents({});
  REQUIRE(active.has_value());
  REQUIRE(active.value().items.size() == 1);
  CHECK(active.value().items[0].id == b);
  CHECK(active.value().items[0].version == 2);
  CHECK(active.value().items[0].doc == R"({"b":2})");
  auto all = f.store->list_agents(testing::list_query(20, true));
  REQUIRE(all.has_value());
  CHECK(all.value().items.size() == 2);

  auto page = f.store->list_agents(testing::list_query(1, true));
  REQUIRE(page.has_value());
  REQUIRE(page.value().next.has_value());
  auto rest = f.store->list_agents(testing::list_query(1, true, page.value().next));
  REQUIRE(rest.has_value());
  REQUIRE(rest.value().items.size() == 1);
  CHECK(rest.value().items[0].id != page.value().items[0].id);
  CHECK_FALSE(rest.value().next.has_value());
}

}  // namespace airlock::store
