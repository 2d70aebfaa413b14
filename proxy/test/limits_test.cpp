// Admission limits (docs/policy.md, Limits): a session's open connections and request rate (429 with
// Retry-After and an audit row), and the proxy's own connection limit (503, then the connection closes).
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "limits.hpp"
#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

Origin::Options plain_origin() { return Origin::Options{.tls = false, .fixed_name = {}, .record = true, .handler = {}}; }

void use_session(Fixture& f) {
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken), {}, {})}));
}

std::string absolute_get(std::uint16_t port, std::string_view path) {
  return fmt::format("GET http://localhost:{}{} HTTP/1.1\r\nHost: localhost:{}\r\nProxy-Authorization: {}\r\n\r\n", port,
                     path, port, proxy_auth());
}

}  // namespace

TEST_CASE("limits: the token bucket holds one second of burst and refills at the rate") {
  SessionLimits limits(0, 3);
  const auto t0 = SessionLimits::Clock::now();
  SessionLimits::Lease lease = limits.connect("sesn_a");
  REQUIRE(lease.held());
  CHECK(limits.request("sesn_a", t0));
  CHECK(limits.request("sesn_a", t0));
  CHECK(limits.request("sesn_a", t0));
  CHECK_FALSE(limits.request("sesn_a", t0));
  CHECK(limits.request("sesn_a", t0 + std::chrono::milliseconds(334)));  // one token back after 1/3 s
  CHECK_FALSE(limits.request("sesn_a", t0 + std::chrono::milliseconds(335)));
  CHECK(limits.request("sesn_b", t0));  // no lease: not limited here (connect() decides first)
  // Reconnecting does not refill the bucket.
  lease = SessionLimits::Lease{};
  SessionLimits::Lease again = limits.connect("sesn_a");
  CHECK_FALSE(limits.request("sesn_a", t0 + std::chrono::milliseconds(336)));
}

TEST_CASE("limits: leases count a session's open connections and give them back") {
  SessionLimits limits(2, 0);
  SessionLimits::Lease first = limits.connect("sesn_a");
  SessionLimits::Lease second = limits.connect("sesn_a");
  CHECK(first.held());
  CHECK(second.held());
  CHECK_FALSE(limits.connect("sesn_a").held());
  CHECK(limits.connect("sesn_b").held());  // another session has its own count
  first = SessionLimits::Lease{};
  SessionLimits::Lease third = limits.connect("sesn_a");
  CHECK(third.held());
  SessionLimits::Lease moved = std::move(third);
  CHECK_FALSE(third.held());  // NOLINT(bugprone-use-after-move): moved-from leases are empty
  CHECK(moved.held());
  CHECK_FALSE(limits.connect("sesn_a").held());
}

TEST_CASE("limits: past max_connections_per_session a CONNECT gets 429 with Retry-After, a closed one frees its slot") {
  Fixture f(plain_origin());
  use_session(f);
  ProxyOptions options = f.options();
  options.max_connections_per_session = 2;
  f.start(options);
  std::vector<std::unique_ptr<Stream>> open;
  for (int i = 0; i < 2; ++i) {
    std::string head;
    open.push_back(std::make_unique<Stream>(f.tunnel("localhost", f.origin.port(), head)));
    REQUIRE(contains(head, " 200 "));
  }
  Stream third(connect_tcp(f.proxy_port()));
  third.send(fmt::format("CONNECT localhost:{} HTTP/1.1\r\nHost: localhost\r\nProxy-Authorization: {}\r\n\r\n",
                         f.origin.port(), proxy_auth()));
  std::string leftover;
  const Response refused = read_response(third, leftover, "CONNECT");
  CHECK(refused.status == 429);
  CHECK(refused.body == fmt::format("session_connection_limit: session {} already holds 2 open connections to the proxy, "
                                    "its limit; close some or reuse them (keep-alive), or raise "
                                    "proxy.max_connections_per_session\n",
                                    kSession));
  REQUIRE(refused.header("Retry-After") != nullptr);
  CHECK(*refused.header("Retry-After") == "1");
  CHECK(*refused.header("X-Airlock-Refusal") == "session_connection_limit");
  const auto record = f.sink.wait_for_reason("session_connection_limit");
  REQUIRE(record);
  CHECK(record->status == 429);
  CHECK(record->session_id == kSession);

  open.front().reset();  // the proxy sees the close and gives the slot back
  bool admitted = false;
  for (int attempt = 0; attempt < 200 && !admitted; ++attempt) {
    std::string head;
    Stream again = f.tunnel("localhost", f.origin.port(), head);
    admitted = contains(head, " 200 ");
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(admitted);
}

TEST_CASE("limits: past max_requests_per_second_per_session a request gets 429 and nothing reaches the origin") {
  Fixture f(plain_origin());
  use_session(f);
  ProxyOptions options = f.options();
  options.max_requests_per_second_per_session = 3;
  f.start(options);
  Stream stream(connect_tcp(f.proxy_port()));
  std::string leftover;
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    stream.send(absolute_get(f.origin.port(), fmt::format("/echo?n={}", i)));
    const Response response = read_response(stream, leftover);
    statuses.push_back(response.status);
    if (response.status != 200) {
      CHECK(response.body == fmt::format("session_rate_limit: session {} is over its limit of 3 requests per second; "
                                         "retry after Retry-After seconds, or raise "
                                         "proxy.max_requests_per_second_per_session\n",
                                         kSession));
      CHECK(*response.header("Retry-After") == "1");
      break;
    }
  }
  CHECK(statuses == std::vector<int>{200, 200, 200, 429});
  CHECK(f.origin.requests().size() == 3);
  CHECK(f.sink.wait_for_reason("session_rate_limit"));
}

TEST_CASE("limits: past max_connections a new connection gets 503 and is closed, the others keep working") {
  Fixture f(plain_origin());
  use_session(f);
  ProxyOptions options = f.options();
  options.max_connections = 2;
  f.start(options);
  Stream first(connect_tcp(f.proxy_port()));
  Stream second(connect_tcp(f.proxy_port()));
  std::string leftover;
  first.send(absolute_get(f.origin.port(), "/echo"));
  CHECK(read_response(first, leftover).status == 200);  // both are open and counted from here on
  second.send(absolute_get(f.origin.port(), "/echo"));
  CHECK(read_response(second, leftover).status == 200);

  Stream third(connect_tcp(f.proxy_port()));
  third.send(absolute_get(f.origin.port(), "/echo"));
  const Response refused = read_response(third, leftover);
  CHECK(refused.status == 503);
  CHECK(refused.body == "proxy_connection_limit: Airlock's proxy already holds 2 open connections, its limit; retry "
                        "later, or raise proxy.max_connections\n");
  CHECK(*refused.header("Retry-After") == "1");
  CHECK(f.proxy->stats().refused["proxy_connection_limit"] == 1);
  first.send(absolute_get(f.origin.port(), "/echo"));
  CHECK(read_response(first, leftover).status == 200);
}

TEST_CASE("limits: past max_connections_per_source a new connection from that address gets 429, before it says anything") {
  Fixture f(plain_origin());
  use_session(f);
  ProxyOptions options = f.options();
  options.max_connections_per_source = 2;
  f.start(options);
  // Two connections that never send a byte (slowloris) hold the address's share.
  Stream first(connect_tcp(f.proxy_port()));
  Stream second(connect_tcp(f.proxy_port()));
  std::string leftover;
  Stream third(connect_tcp(f.proxy_port()));
  const Response refused = read_response(third, leftover);
  CHECK(refused.status == 429);
  CHECK(refused.body == "source_connection_limit: 127.0.0.1 already holds 2 open connections to Airlock's proxy, the limit "
                        "for one address; close some or reuse them (keep-alive), or raise proxy.max_connections_per_source\n");
  CHECK(*refused.header("Retry-After") == "1");
  CHECK(*refused.header("X-Airlock-Refusal") == "source_connection_limit");
  CHECK(f.proxy->stats().refused["source_connection_limit"] == 1);

  // The held ones still work, and once one closes the address has room again.
  first.send(absolute_get(f.origin.port(), "/echo"));
  CHECK(read_response(first, leftover).status == 200);
  second.close();
  Response fourth;
  for (int attempt = 0; attempt < 100; ++attempt) {  // the proxy sees the close a moment later
    Stream retry(connect_tcp(f.proxy_port()));
    retry.send(absolute_get(f.origin.port(), "/echo"));
    std::string rest;
    fourth = read_response(retry, rest);
    if (fourth.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(fourth.status == 200);
}

TEST_CASE("limits: source leases count per address, free on release, and count nothing when off") {
  SourceLimits limits(2);
  SourceLimits::Lease a1 = limits.connect("10.0.0.1");
  SourceLimits::Lease a2 = limits.connect("10.0.0.1");
  CHECK(a1.held());
  CHECK(a2.held());
  CHECK_FALSE(limits.connect("10.0.0.1").held());
  CHECK(limits.connect("10.0.0.2").held());  // another address has its own share (that lease ends at once)
  CHECK(limits.sources() == 1);
  SourceLimits::Lease moved = std::move(a2);
  a2 = SourceLimits::Lease{};  // releasing a moved-from lease frees nothing
  CHECK_FALSE(limits.connect("10.0.0.1").held());
  moved = SourceLimits::Lease{};
  CHECK(limits.connect("10.0.0.1").held());
  a1 = SourceLimits::Lease{};
  CHECK(limits.sources() == 0);  // an address leaves the table with its last connection

  SourceLimits off(0);
  std::vector<SourceLimits::Lease> many;
  for (int i = 0; i < 5000; ++i) many.push_back(off.connect("10.0.0.1"));
  CHECK(many.back().held());
  CHECK(off.sources() == 0);
}

}  // namespace airlock::proxy::test
