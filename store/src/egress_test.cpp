// The egress audit: batches in one transaction, rows of vanished sessions skipped, invalid decisions
// refused, per-session pages oldest first, and purging by age.
#include <doctest/doctest.h>

#include "store_impl.hpp"
#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

namespace {

std::string new_session(StoreFixture& f) {
  NewSession session;
  session.agent_id = "agent_01a";
  session.agent_version = 1;
  session.environment_id = "env_01e";
  session.doc = "{}";
  auto created = f.store->create_session(std::move(session));
  REQUIRE(created.has_value());
  return created.value().id;
}

EgressRow row_for(const std::string& session_id, const std::string& created_at, const std::string& path) {
  EgressRow row;
  row.session_id = session_id;
  row.created_at = created_at;
  row.method = "POST";
  row.host = "api.example.com";
  row.port = 443;
  row.path = path;
  row.status = 201;
  row.bytes_up = 512;
  row.bytes_down = 2048;
  row.decision = "allowed";
  row.credentials_doc = R"([{"credential_id":"vcrd_1","secret_name":"TOKEN","location":"header"}])";
  return row;
}

std::vector<std::string> paths_of(const Page<EgressEntry>& page) {
  std::vector<std::string> out;
  for (const auto& e : page.items) out.push_back(e.path);
  return out;
}

}  // namespace

TEST_CASE("record_egress stores every field, list_egress returns them oldest first") {
  StoreFixture f;
  const auto id = new_session(f);
  auto denied = row_for(id, "2026-11-27T02:21:23.000000Z", "/b");
  denied.method = "GET";
  denied.host = "evil.example.net";
  denied.port = 8443;
  denied.status = 403;
  denied.bytes_up = 0;
  denied.bytes_down = 120;
  denied.decision = "denied";
  denied.reason = "host_not_allowed";
  denied.credentials_doc = "[]";
  denied.original_destination = "[2001:db8::7]:8443";  // a transparent connection
  REQUIRE(f.store->record_egress({row_for(id, "2026-11-27T02:21:22.000000Z", "/a"), denied}).has_value());

  auto page = f.store->list_egress(id, 100, std::nullopt);
  REQUIRE(page.has_value());
  REQUIRE(page.value().items.size() == 2);
  CHECK_FALSE(page.value().next.has_value());
  const EgressEntry& a = page.value().items[0];
  CHECK(a.id.substr(0, 6) == "egr_01");
  CHECK(a.session_id == id);
  CHECK(a.created_at == "2026-11-27T02:21:22.000000Z");
  CHECK(a.method == "POST");
  CHECK(a.host == "api.example.com");
  CHECK(a.port == 443);
  CHECK(a.path == "/a");
  CHECK(a.status == 201);
  CHECK(a.bytes_up == 512);
  CHECK(a.bytes_down == 2048);
  CHECK(a.decision == "allowed");
  CHECK(a.reason == "");
  CHECK(a.credentials_doc == R"([{"credential_id":"vcrd_1","secret_name":"TOKEN","location":"header"}])");
  const EgressEntry& b = page.value().items[1];
  CHECK(b.seq > a.seq);
  CHECK(b.method == "GET");
  CHECK(b.host == "evil.example.net");
  CHECK(b.port == 8443);
  CHECK(b.status == 403);
  CHECK(b.bytes_up == 0);
  CHECK(b.bytes_down == 120);
  CHECK(b.decision == "denied");
  CHECK(b.reason == "host_not_allowed");
  CHECK(b.credentials_doc == "[]");
  CHECK(a.original_destination == "");
  CHECK(b.original_destination == "[2001:db8::7]:8443");
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM egress WHERE reason IS NULL") == 1);  // "" is NULL
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM egress WHERE original_destination IS NULL") == 1);
}

TEST_CASE("list_egress pages by seq, per session, an unknown session is not_found") {
  StoreFixture f;
  const auto id = new_session(f);
  const auto other = new_session(f);
  std::vector<EgressRow> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(row_for(id, "2026-11-27T02:21:22.000000Z", "/" + std::to_string(i)));
    batch.push_back(row_for(other, "2026-11-27T02:21:22.000000Z", "/other"));
  }
  REQUIRE(f.store->record_egress(batch).has_value());

  std::vector<std::string> seen;
  std::optional<std::int64_t> after;
  std::vector<std::size_t> sizes;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 10);
    auto page = f.store->list_egress(id, 2, after);
    REQUIRE(page.has_value());
    sizes.push_back(page.value().items.size());
    for (const auto& e : page.value().items) {
      CHECK(e.session_id == id);
      seen.push_back(e.path);
    }
    if (!page.value().next) break;
    CHECK(page.value().next->id == std::to_string(page.value().items.back().seq));
    after = std::stoll(page.value().next->id);
  }
  CHECK(seen == std::vector<std::string>{"/0", "/1", "/2", "/3", "/4"});
  CHECK(sizes == std::vector<std::size_t>{2, 2, 1});
  CHECK(f.store->list_egress("sesn_01nope", 10, std::nullopt).error() == make_error_code(Errc::not_found));
}

TEST_CASE("a page after a cursor is searched from the cursor in egress_by_session, not from the session's first row") {
  StoreFixture f;
  Database db{f.db_path};
  auto plan = db.statement("EXPLAIN QUERY PLAN " + std::string(kListEgressSql));
  REQUIRE(plan.has_value());
  StatementUse use{db, plan.value()};
  std::string details;
  for (;;) {
    auto row = use.step();
    REQUIRE(row.has_value());
    if (!row.value()) break;
    details += use.text(3) + "\n";
  }
  CHECK(details.find("egress_by_session (session_id=? AND seq>?)") != std::string::npos);
  CHECK(details.find("TEMP B-TREE") == std::string::npos);  // the index gives the order

  // Past the last row: an empty page; from 0: the first page.
  const auto id = new_session(f);
  std::vector<EgressRow> rows;
  for (int i = 0; i < 3; ++i) rows.push_back(row_for(id, "2026-11-27T02:21:22.000000Z", "/" + std::to_string(i)));
  REQUIRE(f.store->record_egress(rows).has_value());
  const auto all = f.store->list_egress(id, 10, std::nullopt).value();
  REQUIRE(all.items.size() == 3);
  CHECK(f.store->list_egress(id, 10, all.items.back().seq).value().items.empty());
  CHECK(paths_of(f.store->list_egress(id, 2, 0).value()) == std::vector<std::string>{"/0", "/1"});
  CHECK(paths_of(f.store->list_egress(id, 10, all.items.front().seq).value()) == std::vector<std::string>{"/1", "/2"});
}

TEST_CASE("a batch skips rows of sessions that are gone, a bad decision refuses the whole batch") {
  StoreFixture f;
  const auto id = new_session(f);
  const auto gone = new_session(f);
  REQUIRE(f.store->delete_session(gone).has_value());
  REQUIRE(f.store->record_egress({row_for(gone, "2026-11-27T02:21:22.000000Z", "/gone"),
                                  row_for(id, "2026-11-27T02:21:22.000000Z", "/kept"),
                                  row_for("sesn_01never", "2026-11-27T02:21:22.000000Z", "/never")})
              .has_value());
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM egress") == 1);
  CHECK(paths_of(f.store->list_egress(id, 10, std::nullopt).value()) == std::vector<std::string>{"/kept"});

  auto bad = row_for(id, "2026-11-27T02:21:22.000000Z", "/bad");
  bad.decision = "maybe";
  CHECK(f.store->record_egress({row_for(id, "2026-11-27T02:21:22.000000Z", "/first"), bad}).error() ==
        std::make_error_code(std::errc::invalid_argument));
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM egress") == 1);
  CHECK(f.store->record_egress({}).has_value());
}

TEST_CASE("a batch joins the caller's transaction and rolls back with it") {
  StoreFixture f;
  const auto id = new_session(f);
  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->record_egress({row_for(id, "2026-11-27T02:21:22.000000Z", "/x")}).has_value());
  }
  CHECK(testing::query_int(f.db_path, "SELECT count(*) FROM egress") == 0);
}

TEST_CASE("purge_egress_before deletes at most max_rows a call, older rows only") {
  StoreFixture f;
  const auto id = new_session(f);
  std::vector<EgressRow> rows;
  for (int i = 0; i < 7; ++i) rows.push_back(row_for(id, "2026-10-01T00:00:00.000000Z", "/old" + std::to_string(i)));
  rows.push_back(row_for(id, "2026-11-27T02:21:22.000000Z", "/new"));
  REQUIRE(f.store->record_egress(rows).has_value());
  CHECK(f.store->purge_egress_before("2026-11-01T00:00:00.000000Z", 3).value() == 3);
  CHECK(f.store->purge_egress_before("2026-11-01T00:00:00.000000Z", 3).value() == 3);
  CHECK(f.store->purge_egress_before("2026-11-01T00:00:00.000000Z", 3).value() == 1);
  CHECK(f.store->purge_egress_before("2026-11-01T00:00:00.000000Z", 3).value() == 0);
  CHECK(paths_of(f.store->list_egress(id, 10, std::nullopt).value()) == std::vector<std::string>{"/new"});
}

TEST_CASE("purge_egress_before deletes older rows only, and counts them") {
  StoreFixture f;
  const auto id = new_session(f);
  REQUIRE(f.store->record_egress({row_for(id, "2026-10-01T00:00:00.000000Z", "/old1"),
                                  row_for(id, "2026-10-27T02:21:22.123455Z", "/old2"),
                                  row_for(id, "2026-10-27T02:21:22.123456Z", "/edge"),
                                  row_for(id, "2026-11-27T02:21:22.000000Z", "/new")})
              .has_value());
  auto purged = f.store->purge_egress_before("2026-10-27T02:21:22.123456Z", 100);
  REQUIRE(purged.has_value());
  CHECK(purged.value() == 2);
  CHECK(paths_of(f.store->list_egress(id, 10, std::nullopt).value()) == std::vector<std::string>{"/edge", "/new"});
  CHECK(f.store->purge_egress_before("2026-01-01T00:00:00.000000Z", 100).value() == 0);

  // Sequence numbers are never reused, even once every row is gone: a cursor held by a client stays valid.
  const auto last_seq = f.store->list_egress(id, 10, std::nullopt).value().items.back().seq;
  CHECK(f.store->purge_egress_before("2027-01-01T00:00:00.000000Z", 100).value() == 2);
  REQUIRE(f.store->record_egress({row_for(id, "2027-01-02T00:00:00.000000Z", "/later")}).has_value());
  auto after = f.store->list_egress(id, 10, last_seq);
  REQUIRE(after.has_value());
  CHECK(paths_of(after.value()) == std::vector<std::string>{"/later"});
}

TEST_CASE("purge_oldest_egress deletes the oldest rows by seq, and used_bytes counts the pages in use") {
  StoreFixture f;
  const auto id = new_session(f);
  const auto empty = f.store->used_bytes();
  REQUIRE(empty.has_value());
  CHECK(empty.value() > 0);  // the schema's pages
  std::vector<EgressRow> rows;
  for (int i = 0; i < 2000; ++i) rows.push_back(row_for(id, "2026-11-27T02:21:22.000000Z", "/r" + std::to_string(i)));
  REQUIRE(f.store->record_egress(rows).has_value());
  const auto full = f.store->used_bytes().value();
  CHECK(full > empty.value() + 2000 * 100);  // each row takes over 100 bytes

  CHECK(f.store->purge_oldest_egress(1995).value() == 1995);
  CHECK(paths_of(f.store->list_egress(id, 10, std::nullopt).value()) ==
        std::vector<std::string>{"/r1995", "/r1996", "/r1997", "/r1998", "/r1999"});
  CHECK(f.store->used_bytes().value() < full / 2);  // the freed pages are not counted
  CHECK(f.store->purge_oldest_egress(100).value() == 5);
  CHECK(f.store->purge_oldest_egress(100).value() == 0);
}

TEST_CASE("list_recent_refusals: denied and error rows of every session, newest first, within the newest rows") {
  StoreFixture f;
  const auto first = new_session(f);
  const auto second = new_session(f);
  auto refused = [](EgressRow row, std::string decision, std::string reason) {
    row.decision = std::move(decision);
    row.reason = std::move(reason);
    row.status = 403;
    return row;
  };
  REQUIRE(f.store
              ->record_egress({refused(row_for(first, "2026-12-06T10:00:00.000000Z", "/old"), "denied", "host_not_allowed"),
                               row_for(first, "2026-12-06T10:00:01.000000Z", "/ok1"),
                               refused(row_for(second, "2026-12-06T10:00:02.000000Z", "/err"), "error", "upstream_closed"),
                               row_for(second, "2026-12-06T10:00:03.000000Z", "/ok2"),
                               refused(row_for(first, "2026-12-06T10:00:04.000000Z", "/new"), "denied", "rate_limited")})
              .has_value());

  auto all = f.store->list_recent_refusals(10, 1000);
  REQUIRE(all.has_value());
  REQUIRE(all.value().size() == 3);
  CHECK(all.value()[0].path == "/new");
  CHECK(all.value()[0].session_id == first);
  CHECK(all.value()[0].reason == "rate_limited");
  CHECK(all.value()[1].path == "/err");
  CHECK(all.value()[1].session_id == second);
  CHECK(all.value()[1].decision == "error");
  CHECK(all.value()[2].path == "/old");

  CHECK(f.store->list_recent_refusals(1, 1000).value().size() == 1);   // the limit
  auto window = f.store->list_recent_refusals(10, 3);                   // /err, /ok2, /new only
  REQUIRE(window.has_value());
  REQUIRE(window.value().size() == 2);
  CHECK(window.value()[1].path == "/err");
}

}  // namespace airlock::store
