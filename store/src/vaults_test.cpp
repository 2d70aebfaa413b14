// Vaults, and the keyset pagination every list shares: ties in created_at, include_archived, bounds.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

namespace {

using testing::StoreFixture;

std::vector<std::string> create_vaults(Store& store, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    auto vault = store.create_vault(fmt::format(R"({{"n":{}}})", i));
    REQUIRE(vault.has_value());
    ids.push_back(vault.value().id);
  }
  return ids;
}

// Follows `next` from the first page to the last, checking each page's size and order.
std::vector<Document> all_pages(Store& store, ListQuery query, std::size_t* pages = nullptr) {
  std::vector<Document> seen;
  std::size_t count = 0;
  for (;;) {
    auto page = store.list_vaults(query);
    REQUIRE(page.has_value());
    ++count;
    REQUIRE(count < 100);
    CHECK(page.value().items.size() <= query.limit);
    for (const auto& item : page.value().items) seen.push_back(item);
    if (!page.value().next) break;
    CHECK(page.value().items.size() == query.limit);
    CHECK(page.value().next->id == page.value().items.back().id);
    CHECK(page.value().next->created_at == page.value().items.back().created_at);
    query.after = page.value().next;
  }
  if (pages) *pages = count;
  return seen;
}

bool newest_first(const std::vector<Document>& rows) {
  return std::is_sorted(rows.begin(), rows.end(), [](const Document& a, const Document& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });
}

}  // namespace

TEST_CASE("create, get and update a vault - timestamps come from the clock") {
  StoreFixture f;
  auto created = f.store->create_vault(R"({"display_name":"A"})");
  REQUIRE(created.has_value());
  const auto& vault = created.value();
  CHECK(vault.id.substr(0, 6) == "vlt_01");
  CHECK(vault.doc == R"({"display_name":"A"})");
  CHECK(vault.created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(vault.updated_at == "2026-11-27T02:21:22.123456Z");
  CHECK_FALSE(vault.archived_at.has_value());

  f.clock.now += 90s;
  auto updated = f.store->update_vault(vault.id, R"({"display_name":"B"})");
  REQUIRE(updated.has_value());
  CHECK(updated.value().doc == R"({"display_name":"B"})");
  CHECK(updated.value().created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(updated.value().updated_at == "2026-11-27T02:22:52.123456Z");
  CHECK(f.store->get_vault(vault.id).value().doc == R"({"display_name":"B"})");
}

TEST_CASE("unknown vault ids are not_found") {
  StoreFixture f;
  const auto not_found = make_error_code(Errc::not_found);
  CHECK(f.store->get_vault("vlt_01nope").error() == not_found);
  CHECK(f.store->update_vault("vlt_01nope", "{}").error() == not_found);
  CHECK(f.store->archive_vault("vlt_01nope").error() == not_found);
  CHECK(f.store->delete_vault("vlt_01nope").error() == not_found);
}

TEST_CASE("archiving sets archived_at once - archiving again returns the row unchanged") {
  StoreFixture f;
  const auto id = create_vaults(*f.store, 1).front();
  f.clock.now += 1s;
  auto archived = f.store->archive_vault(id);
  REQUIRE(archived.has_value());
  CHECK(archived.value().archived_at == "2026-11-27T02:21:23.123456Z");
  CHECK(archived.value().updated_at == "2026-11-27T02:21:23.123456Z");
  f.clock.now += 1s;
  auto again = f.store->archive_vault(id);
  REQUIRE(again.has_value());
  CHECK(again.value().archived_at == "2026-11-27T02:21:23.123456Z");
  CHECK(again.value().updated_at == "2026-11-27T02:21:23.123456Z");
  // The store lets an archived vault be updated; whether to allow it is control's decision.
  CHECK(f.store->update_vault(id, "{}").has_value());
}

TEST_CASE("delete removes the vault") {
  StoreFixture f;
  const auto id = create_vaults(*f.store, 1).front();
  REQUIRE(f.store->delete_vault(id).has_value());
  CHECK(f.store->get_vault(id).error() == make_error_code(Errc::not_found));
  CHECK(f.store->delete_vault(id).error() == make_error_code(Errc::not_found));
}

TEST_CASE("pagination with every created_at equal visits each row exactly once, newest id first") {
  StoreFixture f;  // the clock never moves: all 10 rows tie on created_at
  const auto ids = create_vaults(*f.store, 10);
  std::size_t pages = 0;
  const auto seen = all_pages(*f.store, testing::list_query(3), &pages);
  CHECK(pages == 4);  // 3 + 3 + 3 + 1
  REQUIRE(seen.size() == 10);
  CHECK(newest_first(seen));
  std::set<std::string> unique;
  for (const auto& row : seen) unique.insert(row.id);
  CHECK(unique == std::set<std::string>(ids.begin(), ids.end()));
}

TEST_CASE("pagination with runs of ties and distinct times, page size dividing the count exactly") {
  StoreFixture f;
  std::vector<std::string> ids;
  for (int batch = 0; batch < 3; ++batch) {
    for (auto& id : create_vaults(*f.store, 3)) ids.push_back(id);  // three ties per instant
    f.clock.now += 1ms;
  }
  std::size_t pages = 0;
  const auto seen = all_pages(*f.store, testing::list_query(3), &pages);
  CHECK(pages == 3);  // exactly 9 rows: the third page says there is no next
  REQUIRE(seen.size() == 9);
  CHECK(newest_first(seen));
  CHECK(seen.front().created_at == "2026-11-27T02:21:22.125456Z");
  CHECK(seen.back().created_at == "2026-11-27T02:21:22.123456Z");
  std::set<std::string> unique;
  for (const auto& row : seen) unique.insert(row.id);
  CHECK(unique.size() == 9);

  // One page holding everything has no next.
  auto whole = f.store->list_vaults(ListQuery{.limit = 9, .include_archived = false});
  REQUIRE(whole.has_value());
  CHECK(whole.value().items.size() == 9);
  CHECK_FALSE(whole.value().next.has_value());
}

TEST_CASE("lists hide archived rows unless include_archived") {
  StoreFixture f;
  const auto ids = create_vaults(*f.store, 5);
  REQUIRE(f.store->archive_vault(ids[1]).has_value());
  REQUIRE(f.store->archive_vault(ids[3]).has_value());
  const auto active = all_pages(*f.store, testing::list_query(2));
  CHECK(active.size() == 3);
  for (const auto& row : active) {
    CHECK(row.id != ids[1]);
    CHECK(row.id != ids[3]);
    CHECK_FALSE(row.archived_at.has_value());
  }
  const auto everything = all_pages(*f.store, testing::list_query(2, true));
  CHECK(everything.size() == 5);
}

TEST_CASE("created_at bounds: gte and lte inclusive, gt and lt exclusive") {
  StoreFixture f;
  std::vector<std::string> times;
  for (int i = 0; i < 5; ++i) {
    create_vaults(*f.store, 1);
    times.push_back(format_time(f.clock.now));
    f.clock.now += 1s;
  }
  using Bound = std::optional<std::string>;
  auto bounded = [](Bound gte, Bound lte, Bound gt, Bound lt) {
    auto query = testing::list_query(2);
    query.created_gte = std::move(gte);
    query.created_lte = std::move(lte);
    query.created_gt = std::move(gt);
    query.created_lt = std::move(lt);
    return query;
  };
  auto count = [&](Bound gte, Bound lte, Bound gt, Bound lt) {
    return all_pages(*f.store, bounded(std::move(gte), std::move(lte), std::move(gt), std::move(lt))).size();
  };
  CHECK(count(times[1], times[3], {}, {}) == 3);
  CHECK(count({}, {}, times[1], times[3]) == 1);
  CHECK(count(times[4], {}, {}, {}) == 1);
  CHECK(count({}, {}, {}, times[0]) == 0);
  CHECK(count({}, {}, times[0], {}) == 4);
  auto middle = all_pages(*f.store, bounded({}, {}, times[1], times[3]));
  REQUIRE(middle.size() == 1);
  CHECK(middle.front().created_at == times[2]);
}

TEST_CASE("a limit of 0 is treated as 1") {
  StoreFixture f;
  create_vaults(*f.store, 2);
  auto page = f.store->list_vaults(ListQuery{.limit = 0});
  REQUIRE(page.has_value());
  CHECK(page.value().items.size() == 1);
  CHECK(page.value().next.has_value());
}

}  // namespace airlock::store
