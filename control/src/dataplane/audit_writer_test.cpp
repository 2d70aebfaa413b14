// AuditWriter under concurrency: 64 proxy threads recording at once while the writer drains on its own
// thread lose no row (the performance work may batch audit writes; it may never lose them), and every row
// keeps its facts.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/audit_writer.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;

TEST_CASE("audit writer: 64 threads recording while it drains lose no row") {
  ApiFixture f;
  const std::string agent = f.ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  const std::string environment = f.ok_post("/v1/environments", {{"name", "env"}})["id"];
  const std::string session = f.ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}})["id"];

  AuditWriter writer(f.store(), f.log, AuditOptions{});
  boost::asio::io_context io(1);
  boost::asio::co_spawn(io, writer.run(), boost::asio::detached);
  std::thread drainer([&io] { io.run(); });

  constexpr int kThreads = 64;
  constexpr int kPerThread = 150;
  std::atomic<bool> go{false};
  std::vector<std::thread> proxies;
  for (int t = 0; t < kThreads; ++t) {
    proxies.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        proxy::EgressRecord record;
        record.time = std::chrono::system_clock::now();
        record.session_id = session;
        record.method = "GET";
        record.host = "api.example.com";
        record.port = 443;
        record.path = fmt::format("/t{}/r{}", t, i);
        record.status = 200;
        record.decision = "allowed";
        writer.record(std::move(record));
      }
    });
  }
  go = true;
  for (std::thread& thread : proxies) thread.join();
  io.stop();
  drainer.join();
  writer.flush();  // what the last interval left queued, as at shutdown

  CHECK(writer.dropped() == 0);
  std::set<std::string> paths;
  std::optional<std::int64_t> after;
  for (;;) {
    auto page = f.store().list_egress(session, 1000, after);
    REQUIRE(page);
    for (const store::EgressEntry& row : page.value().items) paths.insert(row.path);
    if (!page.value().next) break;
    after = std::stoll(page.value().next->id);
  }
  CHECK(paths.size() == static_cast<std::size_t>(kThreads * kPerThread));
  CHECK(paths.count("/t63/r149") == 1);
}

TEST_CASE("audit writer: retention by age deletes a backlog in turns of kPurgeRowsPerTurn, never all at once") {
  ApiFixture f;
  const std::string agent = f.ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  const std::string environment = f.ok_post("/v1/environments", {{"name", "env"}})["id"];
  const std::string session = f.ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}})["id"];
  const auto now = std::chrono::system_clock::now();
  auto row = [&](std::chrono::system_clock::time_point at, std::string path) {
    store::EgressRow out;
    out.session_id = session;
    out.created_at = store::format_time(at);
    out.method = "GET";
    out.host = "api.example.com";
    out.port = 443;
    out.path = std::move(path);
    out.status = 200;
    out.decision = "allowed";
    return out;
  };
  constexpr std::size_t kOld = 2 * AuditWriter::kPurgeRowsPerTurn + 2000;
  std::vector<store::EgressRow> rows;
  for (std::size_t i = 0; i < kOld; ++i) rows.push_back(row(now - std::chrono::days(40), fmt::format("/old{}", i)));
  rows.push_back(row(now - std::chrono::days(29), "/kept"));
  REQUIRE(f.store().record_egress(rows));

  AuditOptions options;
  options.retention_days = 30;
  AuditWriter writer(f.store(), f.log, options);
  boost::asio::io_context io(1);
  boost::asio::co_spawn(io, writer.run(), boost::asio::detached);
  io.run_for(std::chrono::milliseconds(100));  // the first turn only: the next is kFlushInterval later
  CHECK(writer.stats().rows_purged == AuditWriter::kPurgeRowsPerTurn);
  io.run_for(AuditWriter::kFlushInterval * 4);
  CHECK(writer.stats().rows_purged == kOld);
  auto page = f.store().list_egress(session, 10, std::nullopt);
  REQUIRE(page);
  REQUIRE(page.value().items.size() == 1);
  CHECK(page.value().items[0].path == "/kept");
}

}  // namespace
}  // namespace airlock::control
