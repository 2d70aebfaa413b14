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

}  // namespace
}  // namespace airlock::control
