// Sessions: create/get/update/status/archive/delete, the list's filters and both orders, active_sessions,
// on_sessions_changed, the proxy token (K3), events, and the upgrade of a step-1 database.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <set>

#include "migrations.hpp"
#include "test_support.hpp"

namespace airlock::store {

using namespace std::chrono_literals;

using testing::StoreFixture;

namespace {

NewSession new_session(std::string agent_id = "agent_01a", int version = 1, std::vector<std::string> vaults = {},
                       std::optional<std::string> deployment = std::nullopt, std::string doc = "{}") {
  NewSession session;
  session.agent_id = std::move(agent_id);
  session.agent_version = version;
  session.environment_id = "env_01e";
  session.deployment_id = std::move(deployment);
  session.vault_ids = std::move(vaults);
  session.doc = std::move(doc);
  return session;
}

std::string create(StoreFixture& f, NewSession session) {
  auto created = f.store->create_session(std::move(session));
  REQUIRE(created.has_value());
  return created.value().id;
}

std::vector<std::string> ids_of(const std::vector<Session>& sessions) {
  std::vector<std::string> ids;
  for (const auto& s : sessions) ids.push_back(s.id);
  return ids;
}

// Follows `next` through every page.
std::vector<std::string> all_ids(Store& store, SessionQuery query, std::vector<std::size_t>* sizes = nullptr) {
  std::vector<std::string> ids;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 100);
    auto page = store.list_sessions(query);
    REQUIRE(page.has_value());
    if (sizes) sizes->push_back(page.value().items.size());
    for (const auto& s : page.value().items) ids.push_back(s.id);
    if (!page.value().next) break;
    CHECK(page.value().next->id == page.value().items.back().id);
    query.after = page.value().next;
  }
  return ids;
}

std::int64_t rows(const StoreFixture& f, const std::string& table) {
  return testing::query_int(f.db_path, "SELECT count(*) FROM " + table);
}

std::vector<NewEvent> events_of(std::initializer_list<std::pair<const char*, const char*>> list) {
  std::vector<NewEvent> out;
  for (const auto& [type, doc] : list) out.push_back({type, doc, {}});
  return out;
}

}  // namespace

TEST_CASE("create a session: idle, ordered vaults, typed columns, timestamps from the clock") {
  StoreFixture f;
  auto created = f.store->create_session(new_session("agent_01a", 3, {"vlt_b", "vlt_a", "vlt_c"}, "depl_1",
                                                     R"({"title":"t"})"));
  REQUIRE(created.has_value());
  const Session& s = created.value();
  CHECK(s.id.substr(0, 7) == "sesn_01");
  CHECK(s.id.size() == 7 + 22);
  CHECK(s.agent_id == "agent_01a");
  CHECK(s.agent_version == 3);
  CHECK(s.environment_id == "env_01e");
  CHECK(s.deployment_id == "depl_1");
  CHECK(s.status == "idle");
  CHECK(s.vault_ids == std::vector<std::string>{"vlt_b", "vlt_a", "vlt_c"});
  CHECK(s.doc == R"({"title":"t"})");
  CHECK(s.created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(s.updated_at == "2026-11-27T02:21:22.123456Z");
  CHECK_FALSE(s.archived_at.has_value());

  auto got = f.store->get_session(s.id);
  REQUIRE(got.has_value());
  CHECK(got.value().vault_ids == s.vault_ids);
  CHECK(got.value().deployment_id == "depl_1");
  CHECK(f.store->get_session("sesn_01nope").error() == make_error_code(Errc::not_found));

  auto plain = f.store->create_session(new_session());
  REQUIRE(plain.has_value());
  CHECK_FALSE(plain.value().deployment_id.has_value());
  CHECK(plain.value().vault_ids.empty());
}

TEST_CASE("a vault listed twice is a conflict, and nothing is written") {
  StoreFixture f;
  auto created = f.store->create_session(new_session("agent_01a", 1, {"vlt_a", "vlt_b", "vlt_a"}));
  CHECK(created.error() == make_error_code(Errc::conflict));
  CHECK(rows(f, "sessions") == 0);
  CHECK(rows(f, "session_vaults") == 0);
}

TEST_CASE("update, set status and archive - unknown ids are not_found") {
  StoreFixture f;
  const auto id = create(f, new_session());
  f.clock.now += 5s;
  auto updated = f.store->update_session(id, R"({"title":"new"})");
  REQUIRE(updated.has_value());
  CHECK(updated.value().doc == R"({"title":"new"})");
  CHECK(updated.value().updated_at == "2026-11-27T02:21:27.123456Z");
  CHECK(updated.value().created_at == "2026-11-27T02:21:22.123456Z");

  f.clock.now += 1s;
  auto running = f.store->set_session_status(id, "running");
  REQUIRE(running.has_value());
  CHECK(running.value().status == "running");
  CHECK(running.value().updated_at == "2026-11-27T02:21:28.123456Z");
  for (const char* status : {"idle", "rescheduling", "terminated"}) {
    CHECK(f.store->set_session_status(id, status).value().status == status);
  }
  CHECK(f.store->set_session_status(id, "paused").error() == std::make_error_code(std::errc::invalid_argument));
  CHECK(f.store->set_session_status(id, "").error() == std::make_error_code(std::errc::invalid_argument));
  CHECK(f.store->get_session(id).value().status == "terminated");

  f.clock.now += 1s;
  auto archived = f.store->archive_session(id);
  REQUIRE(archived.has_value());
  CHECK(archived.value().archived_at == "2026-11-27T02:21:29.123456Z");
  CHECK(archived.value().updated_at == "2026-11-27T02:21:29.123456Z");
  f.clock.now += 1s;
  CHECK(f.store->archive_session(id).value().archived_at == "2026-11-27T02:21:29.123456Z");  // once

  CHECK(f.store->update_session("sesn_01nope", "{}").error() == make_error_code(Errc::not_found));
  CHECK(f.store->set_session_status("sesn_01nope", "idle").error() == make_error_code(Errc::not_found));
  CHECK(f.store->archive_session("sesn_01nope").error() == make_error_code(Errc::not_found));
}

TEST_CASE("delete a session: its vault list, events and egress rows go with it") {
  StoreFixture f;
  const auto id = create(f, new_session("agent_01a", 1, {"vlt_a", "vlt_b"}));
  const auto other = create(f, new_session("agent_01a", 1, {"vlt_a"}));
  REQUIRE(f.store->append_events(id, events_of({{"user.message", "{}"}, {"user.message", "{}"}})).has_value());
  REQUIRE(f.store->append_events(other, events_of({{"user.message", "{}"}})).has_value());
  EgressRow row;
  row.created_at = f.store->get_session(id).value().created_at;
  row.method = "GET";
  row.host = "api.example.com";
  row.port = 443;
  row.path = "/";
  row.status = 200;
  row.decision = "allowed";
  row.session_id = id;
  std::vector<EgressRow> batch{row, row};
  row.session_id = other;
  batch.push_back(row);
  REQUIRE(f.store->record_egress(batch).has_value());
  CHECK(rows(f, "egress") == 3);

  REQUIRE(f.store->delete_session(id).has_value());
  CHECK(f.store->get_session(id).error() == make_error_code(Errc::not_found));
  CHECK(f.store->delete_session(id).error() == make_error_code(Errc::not_found));
  CHECK(rows(f, "session_vaults") == 1);
  CHECK(rows(f, "session_events") == 1);
  CHECK(rows(f, "egress") == 1);
  CHECK(f.store->list_events(id, {}).error() == make_error_code(Errc::not_found));
  CHECK(f.store->get_session(other).value().vault_ids == std::vector<std::string>{"vlt_a"});
}

TEST_CASE("list_sessions: newest first by default, ascending on request, pages of the limit") {
  StoreFixture f;
  std::vector<std::string> created;
  for (int i = 0; i < 7; ++i) {
    created.push_back(create(f, new_session()));
    if (i % 2 == 1) f.clock.now += 1s;  // pairs share created_at: ties are broken by id
  }
  std::vector<std::string> by_time = created;
  std::sort(by_time.begin(), by_time.end(), [&](const std::string& a, const std::string& b) {
    auto ta = f.store->get_session(a).value().created_at;
    auto tb = f.store->get_session(b).value().created_at;
    return std::tie(ta, a) < std::tie(tb, b);
  });

  SessionQuery query;
  query.limit = 3;
  std::vector<std::size_t> sizes;
  auto descending = all_ids(*f.store, query, &sizes);
  CHECK(sizes == std::vector<std::size_t>{3, 3, 1});
  CHECK(descending == std::vector<std::string>(by_time.rbegin(), by_time.rend()));

  query.ascending = true;
  sizes.clear();
  auto ascending = all_ids(*f.store, query, &sizes);
  CHECK(sizes == std::vector<std::size_t>{3, 3, 1});
  CHECK(ascending == by_time);

  query.limit = 7;  // an exact fit: no next page
  auto page = f.store->list_sessions(query);
  REQUIRE(page.has_value());
  CHECK(page.value().items.size() == 7);
  CHECK_FALSE(page.value().next.has_value());
}

TEST_CASE("list_sessions filters: agent (and version), deployment, statuses, archived, created_at") {
  StoreFixture f;
  const auto a1 = create(f, new_session("agent_01a", 1));
  f.clock.now += 1s;
  const auto a2 = create(f, new_session("agent_01a", 2, {}, "depl_x"));
  f.clock.now += 1s;
  const auto b1 = create(f, new_session("agent_01b", 1, {}, "depl_y"));
  f.clock.now += 1s;
  const auto a2_archived = create(f, new_session("agent_01a", 2, {}, "depl_x"));
  REQUIRE(f.store->archive_session(a2_archived).has_value());
  REQUIRE(f.store->set_session_status(a2, "running").has_value());
  REQUIRE(f.store->set_session_status(b1, "terminated").has_value());

  auto list = [&](auto configure) {
    SessionQuery query;
    configure(query);
    return all_ids(*f.store, query);
  };
  using V = std::vector<std::string>;
  CHECK(list([](SessionQuery&) {}) == V{b1, a2, a1});
  CHECK(list([](SessionQuery& q) { q.include_archived = true; }) == V{a2_archived, b1, a2, a1});
  CHECK(list([](SessionQuery& q) { q.agent_id = "agent_01a"; }) == V{a2, a1});
  CHECK(list([](SessionQuery& q) {
          q.agent_id = "agent_01a";
          q.agent_version = 2;
          q.include_archived = true;
        }) == V{a2_archived, a2});
  // agent_version alone does not filter (control refuses it; the store ignores it).
  CHECK(list([](SessionQuery& q) { q.agent_version = 2; }) == V{b1, a2, a1});
  CHECK(list([](SessionQuery& q) { q.deployment_id = "depl_x"; }) == V{a2});
  CHECK(list([](SessionQuery& q) { q.deployment_id = "depl_nope"; }).empty());
  CHECK(list([](SessionQuery& q) { q.statuses = {"idle"}; }) == V{a1});
  CHECK(list([](SessionQuery& q) { q.statuses = {"terminated", "running", "running"}; }) == V{b1, a2});
  CHECK(list([](SessionQuery& q) { q.statuses = {"idle", "running", "rescheduling", "terminated"}; }) == V{b1, a2, a1});
  CHECK(list([](SessionQuery& q) { q.statuses = {"rescheduling"}; }).empty());
  CHECK(list([](SessionQuery& q) { q.statuses = {"bogus"}; }).empty());  // names nothing: matches nothing
  CHECK(list([](SessionQuery& q) { q.statuses = {"bogus", "idle"}; }) == V{a1});
  CHECK(list([](SessionQuery& q) { q.created_gte = "2026-11-27T02:21:23.123456Z"; }) == V{b1, a2});
  CHECK(list([](SessionQuery& q) { q.created_gt = "2026-11-27T02:21:23.123456Z"; }) == V{b1});
  CHECK(list([](SessionQuery& q) { q.created_lt = "2026-11-27T02:21:23.123456Z"; }) == V{a1});
  CHECK(list([](SessionQuery& q) { q.created_lte = "2026-11-27T02:21:23.123456Z"; }) == V{a2, a1});
  CHECK(list([](SessionQuery& q) {
          q.ascending = true;
          q.agent_id = "agent_01a";
          q.statuses = {"idle", "running"};
        }) == V{a1, a2});

  SessionQuery with_vaults;
  auto page = f.store->list_sessions(with_vaults);
  REQUIRE(page.has_value());
  for (const auto& s : page.value().items) CHECK(s.vault_ids.empty());
}

TEST_CASE("list_sessions returns each session's vaults") {
  StoreFixture f;
  const auto one = create(f, new_session("agent_01a", 1, {"vlt_2", "vlt_1"}));
  const auto two = create(f, new_session("agent_01a", 1, {"vlt_3"}));
  auto page = f.store->list_sessions({});
  REQUIRE(page.has_value());
  REQUIRE(page.value().items.size() == 2);
  for (const auto& s : page.value().items) {
    if (s.id == one) CHECK(s.vault_ids == std::vector<std::string>{"vlt_2", "vlt_1"});
    if (s.id == two) CHECK(s.vault_ids == std::vector<std::string>{"vlt_3"});
  }
}

TEST_CASE("active_sessions: every session not archived, oldest first, with its vaults") {
  StoreFixture f;
  const auto first = create(f, new_session("agent_01a", 1, {"vlt_a", "vlt_b"}));
  f.clock.now += 1s;
  const auto archived = create(f, new_session("agent_01a", 1, {"vlt_a"}));
  f.clock.now += 1s;
  const auto bare = create(f, new_session());
  f.clock.now += 1s;
  const auto last = create(f, new_session("agent_01a", 1, {"vlt_c"}));
  REQUIRE(f.store->archive_session(archived).has_value());
  REQUIRE(f.store->set_session_status(last, "terminated").has_value());  // still holds a valid token

  auto active = f.store->active_sessions();
  REQUIRE(active.has_value());
  CHECK(ids_of(active.value()) == std::vector<std::string>{first, bare, last});
  CHECK(active.value()[0].vault_ids == std::vector<std::string>{"vlt_a", "vlt_b"});
  CHECK(active.value()[1].vault_ids.empty());
  CHECK(active.value()[2].vault_ids == std::vector<std::string>{"vlt_c"});
  CHECK(active.value()[2].status == "terminated");
  CHECK(active.value()[0].environment_id == "env_01e");
}

TEST_CASE("on_sessions_changed runs after the outermost commit of create, archive and delete only") {
  StoreFixture f;
  int calls = 0;
  int credential_calls = 0;
  std::size_t seen_active = 0;
  f.store->on_sessions_changed([&] {
    ++calls;
    seen_active = f.store->active_sessions().value().size();  // the transaction is over
  });
  f.store->on_credentials_changed([&] { ++credential_calls; });

  const auto id = create(f, new_session());
  CHECK(calls == 1);
  CHECK(seen_active == 1);

  // Not snapshot inputs: doc, status and events.
  REQUIRE(f.store->update_session(id, R"({"x":1})").has_value());
  REQUIRE(f.store->set_session_status(id, "running").has_value());
  REQUIRE(f.store->append_events(id, events_of({{"user.message", "{}"}})).has_value());
  CHECK(calls == 1);

  REQUIRE(f.store->create_vault("{}").has_value());  // a credential change is not a session change
  CHECK(calls == 1);
  CHECK(credential_calls == 1);

  {
    Store::Transaction tx{*f.store};
    (void)create(f, new_session());
    (void)create(f, new_session());
    CHECK(calls == 1);  // nothing before commit
    CHECK_FALSE(tx.commit());
  }
  CHECK(calls == 2);  // once per transaction
  CHECK(seen_active == 3);
  CHECK(credential_calls == 1);  // and a session change is not a credential change

  {
    Store::Transaction tx{*f.store};
    (void)create(f, new_session());
  }
  CHECK(calls == 2);  // rolled back: no call
  CHECK(f.store->active_sessions().value().size() == 3);

  {
    Store::Transaction tx{*f.store};
    REQUIRE(f.store->create_vault("{}").has_value());
    {
      Store::Transaction inner{*f.store};  // a savepoint that rolls back takes its session change with it
      (void)create(f, new_session());
    }
    CHECK_FALSE(tx.commit());
  }
  CHECK(calls == 2);
  CHECK(credential_calls == 2);

  REQUIRE(f.store->archive_session(id).has_value());
  CHECK(calls == 3);
  CHECK(seen_active == 2);
  REQUIRE(f.store->archive_session(id).has_value());  // already archived: no change, no call
  CHECK(calls == 3);

  REQUIRE(f.store->delete_session(id).has_value());
  CHECK(calls == 4);
  CHECK(f.store->delete_session(id).error() == make_error_code(Errc::not_found));
  CHECK(calls == 4);
}

TEST_CASE("session_proxy_token: keyed BLAKE2b of the session id under a KDF subkey of the master key") {
  StoreFixture f;
  const std::string token = f.store->session_proxy_token("sesn_01abc");
  CHECK(token.size() == 64);
  CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(f.store->session_proxy_token("sesn_01abc") == token);  // derived, stable
  CHECK(f.store->session_proxy_token("sesn_01abd") != token);

  // Computed independently from the fixture's master key (testing::key_of(1)).
  const auto master = testing::key_of(1);
  std::array<unsigned char, 32> subkey{};
  REQUIRE(crypto_kdf_derive_from_key(subkey.data(), subkey.size(), 1, "airlkptk", master.bytes().data()) == 0);
  std::array<unsigned char, 32> digest{};
  const std::string_view id = "sesn_01abc";
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(id.data()), id.size(),
                     subkey.data(), subkey.size());
  std::array<char, 65> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  CHECK(token == std::string(hex.data()));

  // Survives a restart, and another master key gives another token.
  f.reopen();
  CHECK(f.store->session_proxy_token("sesn_01abc") == token);
  testing::TempDir other_dir;
  testing::TestClock clock;
  auto other = testing::open_store(other_dir.path() / "airlock.db", clock, 7);
  CHECK(other->session_proxy_token("sesn_01abc") != token);
}

TEST_CASE("append_events: an id asked for is kept, one already taken is replaced") {
  StoreFixture f;
  const auto id = create(f, new_session());
  auto named = f.store->append_events(id, {{"agent.tool_use", "{}", "sevt_harness1"}, {"agent.message", "{}", {}}});
  REQUIRE(named.has_value());
  CHECK(named.value()[0].id == "sevt_harness1");
  CHECK(named.value()[1].id.substr(0, 7) == "sevt_01");
  auto again = f.store->append_events(id, {{"agent.tool_use", "{}", "sevt_harness1"}});
  REQUIRE(again.has_value());
  CHECK(again.value()[0].id != "sevt_harness1");
  CHECK(again.value()[0].id.substr(0, 7) == "sevt_01");
  CHECK(f.store->event_seq(id, "sevt_harness1").value() == named.value()[0].seq);
}

TEST_CASE("append_events: in order, with ids, processed_at and increasing seq") {
  StoreFixture f;
  const auto id = create(f, new_session());
  f.clock.now += 1s;
  auto appended = f.store->append_events(id, events_of({{"user.message", R"({"n":1})"}, {"user.define_outcome", R"({"n":2})"}}));
  REQUIRE(appended.has_value());
  REQUIRE(appended.value().size() == 2);
  const auto& first = appended.value()[0];
  CHECK(first.id.substr(0, 7) == "sevt_01");
  CHECK(first.session_id == id);
  CHECK(first.type == "user.message");
  CHECK(first.doc == R"({"n":1})");
  CHECK(first.processed_at == "2026-11-27T02:21:23.123456Z");
  CHECK(appended.value()[1].type == "user.define_outcome");
  CHECK(appended.value()[1].seq > first.seq);

  CHECK(f.store->append_events("sesn_01nope", events_of({{"user.message", "{}"}})).error() ==
        make_error_code(Errc::not_found));
  auto none = f.store->append_events(id, {});
  REQUIRE(none.has_value());
  CHECK(none.value().empty());
  REQUIRE(f.store->archive_session(id).has_value());
  CHECK(f.store->append_events(id, events_of({{"system.message", "{}"}})).has_value());  // control decides
}

TEST_CASE("event_seq: the seq of the session's own event, nullopt for any other id") {
  StoreFixture f;
  const auto id = create(f, new_session());
  const auto other = create(f, new_session());
  auto mine = f.store->append_events(id, events_of({{"user.message", "{}"}, {"user.message", "{}"}})).value();
  auto theirs = f.store->append_events(other, events_of({{"user.message", "{}"}})).value();
  CHECK(f.store->event_seq(id, mine[1].id).value() == mine[1].seq);
  CHECK(f.store->event_seq(id, theirs[0].id).value() == std::nullopt);
  CHECK(f.store->event_seq(id, "sevt_nope").value() == std::nullopt);
  CHECK(f.store->event_seq("sesn_01nope", mine[0].id).error() == make_error_code(Errc::not_found));
}

TEST_CASE("list_events: oldest first, pages by seq, descending, type and processed_at filters") {
  StoreFixture f;
  const auto id = create(f, new_session());
  const auto other = create(f, new_session());
  std::vector<std::int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    auto appended = f.store->append_events(id, events_of({{i % 2 == 0 ? "user.message" : "system.message", "{}"}}));
    REQUIRE(appended.has_value());
    seqs.push_back(appended.value()[0].seq);
    REQUIRE(f.store->append_events(other, events_of({{"user.message", "{}"}})).has_value());  // interleaved
    f.clock.now += 1s;
  }
  auto seqs_of = [](const Page<Event>& page) {
    std::vector<std::int64_t> out;
    for (const auto& e : page.items) out.push_back(e.seq);
    return out;
  };

  EventQuery query;
  query.limit = 2;
  std::vector<std::int64_t> seen;
  std::vector<std::string> cursors;
  for (;;) {
    auto page = f.store->list_events(id, query);
    REQUIRE(page.has_value());
    for (const auto& e : page.value().items) CHECK(e.session_id == id);
    auto s = seqs_of(page.value());
    seen.insert(seen.end(), s.begin(), s.end());
    if (!page.value().next) break;
    CHECK(page.value().next->created_at == page.value().items.back().processed_at);
    cursors.push_back(page.value().next->id);
    query.after_seq = std::stoll(page.value().next->id);
  }
  CHECK(seen == seqs);
  CHECK(cursors == std::vector<std::string>{std::to_string(seqs[1]), std::to_string(seqs[3])});

  EventQuery descending;
  descending.ascending = false;
  CHECK(seqs_of(f.store->list_events(id, descending).value()) ==
        std::vector<std::int64_t>{seqs[4], seqs[3], seqs[2], seqs[1], seqs[0]});
  descending.after_seq = seqs[2];
  CHECK(seqs_of(f.store->list_events(id, descending).value()) == std::vector<std::int64_t>{seqs[1], seqs[0]});

  EventQuery typed;
  typed.types = {"system.message"};
  CHECK(seqs_of(f.store->list_events(id, typed).value()) == std::vector<std::int64_t>{seqs[1], seqs[3]});
  typed.types = {"system.message", "user.message", "system.message"};
  CHECK(seqs_of(f.store->list_events(id, typed).value()) == seqs);
  typed.types = {"agent.message"};
  CHECK(f.store->list_events(id, typed).value().items.empty());

  EventQuery timed;
  timed.processed_gte = "2026-11-27T02:21:23.123456Z";
  timed.processed_lt = "2026-11-27T02:21:25.123456Z";
  CHECK(seqs_of(f.store->list_events(id, timed).value()) == std::vector<std::int64_t>{seqs[1], seqs[2]});
  EventQuery exclusive;
  exclusive.processed_gt = "2026-11-27T02:21:23.123456Z";
  exclusive.processed_lte = "2026-11-27T02:21:25.123456Z";
  CHECK(seqs_of(f.store->list_events(id, exclusive).value()) == std::vector<std::int64_t>{seqs[2], seqs[3]});

  CHECK(f.store->list_events("sesn_01nope", {}).error() == make_error_code(Errc::not_found));
}

TEST_CASE("a step-1 database is upgraded in place, keeping its rows") {
  testing::TempDir dir;
  const auto path = dir.path() / "airlock.db";
  {
    Database db{path};
    REQUIRE_FALSE(db.exec(std::string{migrations()[0]}));
    REQUIRE_FALSE(db.exec("PRAGMA user_version = 1"));
    REQUIRE_FALSE(db.exec("INSERT INTO vaults (id, doc, created_at, updated_at) VALUES ('vlt_old', '{}', 'a', 'a')"));
  }
  testing::TestClock clock;
  auto store = testing::open_store(path, clock);
  CHECK(testing::query_int(path, "PRAGMA user_version") == Store::schema_version());
  CHECK(store->get_vault("vlt_old").has_value());
  auto session = store->create_session(new_session("agent_01a", 1, {"vlt_old"}));
  REQUIRE(session.has_value());
  CHECK(store->get_session(session.value().id).value().vault_ids == std::vector<std::string>{"vlt_old"});
}

}  // namespace airlock::store
