// End-to-end address checks (SECURITY.md N1, N2): what a sandbox reaches through the proxy when it names
// a loopback, private or metadata address, in any spelling, directly or through a name; Airlock's own
// listeners; and that an allowed range really is connected to. Each refusal is checked by its exact
// status, body and audit row, and by the origin never seeing a connection.
//
// Tests that aim at private, link-local or metadata addresses are in the "netns" suite: they are skipped
// in a plain run and run by proxy/test/netns.sh inside a network namespace that has only loopback (and its
// own /etc/hosts), so that a bug cannot send a packet off the machine.
#include <ifaddrs.h>

#include <memory>

#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

// The tests speak plain HTTP inside their tunnels, so the origin does too.
Origin::Options plain_origin() { return Origin::Options{.tls = false, .fixed_name = {}, .record = true, .handler = {}}; }

std::shared_ptr<const CredentialRule> metrics() {
  return env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret, {"api.example.test"});
}

void use_session(Fixture& f) {
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken), {metrics()}, {})}));
}

ProxyOptions with_allowed(const Fixture& f, std::vector<std::string_view> ranges) {
  ProxyOptions options = f.options();
  options.allow_private.clear();
  for (std::string_view range : ranges) options.allow_private.push_back(policies::Cidr::parse(range).value());
  return options;
}

Response connect_to(Fixture& f, std::string_view authority) {
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: {}\r\n\r\n", authority, authority,
                          proxy_auth()));
  std::string leftover;
  return read_response(stream, leftover, "CONNECT");
}

Response get_absolute(Fixture& f, std::string_view url, std::string_view host) {
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: {}\r\n\r\n", url, host, proxy_auth()));
  std::string leftover;
  return read_response(stream, leftover);
}

// CONNECT to `host` (plain HTTP inside the tunnel, so no certificate is needed) and one GET.
Response get_in_tunnel(Fixture& f, std::string_view host, std::uint16_t port) {
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("CONNECT {}:{} HTTP/1.1\r\nHost: {}:{}\r\nProxy-Authorization: {}\r\n\r\n", host, port, host,
                          port, proxy_auth()));
  std::string leftover;
  const Response established = read_response(stream, leftover, "CONNECT");
  REQUIRE(established.status == 200);
  stream.send(fmt::format("GET /echo HTTP/1.1\r\nHost: {}:{}\r\n\r\n", host, port));
  return read_response(stream, leftover);
}

void check_refused(Fixture& f, const Response& response, std::string_view body) {
  CHECK(response.status == 403);
  CHECK(response.body == body);
  REQUIRE(response.header("Proxy-Status") != nullptr);
  CHECK(*response.header("Proxy-Status") == "airlock; error=destination_ip_prohibited; details=\"address_not_allowed\"");
  REQUIRE(response.header("X-Airlock-Refusal") != nullptr);
  CHECK(*response.header("X-Airlock-Refusal") == "address_not_allowed");
  const auto record = f.sink.wait_for_reason("address_not_allowed");
  REQUIRE(record);
  CHECK(record->decision == "denied");
  CHECK(record->status == 403);
  CHECK(f.origin.connections() == 0);
}

constexpr std::string_view kLoopbackRefused =
    "address_not_allowed: 127.0.0.1 is loopback (127.0.0.0/8); allow it with --allow-private 127.0.0.1/32, or name "
    "the host in a policy rule with internal: true\n";

// True when this process sees no network interface but loopback (the netns suite's precondition).
bool loopback_only() {
  ifaddrs* first = nullptr;
  if (::getifaddrs(&first) != 0) return false;
  const std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> owned(first, &::freeifaddrs);
  for (const ifaddrs* entry = first; entry != nullptr; entry = entry->ifa_next) {
    if (std::string_view(entry->ifa_name) != "lo") return false;
  }
  return true;
}

}  // namespace

TEST_CASE("loopback is refused by default, at CONNECT, in every spelling of the address (N1, N2)") {
  Fixture f(plain_origin());
  use_session(f);
  f.start(with_allowed(f, {}));
  const std::uint16_t port = f.origin.port();
  for (const std::string_view host : {"127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1"}) {
    CAPTURE(host);
    f.sink.clear();
    check_refused(f, connect_to(f, fmt::format("{}:{}", host, port)), kLoopbackRefused);
    CHECK(f.sink.wait_for_reason("address_not_allowed")->host == "127.0.0.1");
  }
  for (const std::string_view host : {"[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:127.0.0.1]"}) {
    CAPTURE(host);
    f.sink.clear();
    check_refused(f, connect_to(f, fmt::format("{}:{}", host, port)),
                  "address_not_allowed: ::ffff:127.0.0.1 is loopback (127.0.0.0/8); allow it with --allow-private "
                  "127.0.0.1/32, or name the host in a policy rule with internal: true\n");
  }
  f.sink.clear();
  check_refused(f, connect_to(f, fmt::format("[::1]:{}", port)),
                "address_not_allowed: ::1 is loopback (::1/128); allow it with --allow-private ::1/128, or name the "
                "host in a policy rule with internal: true\n");
}

TEST_CASE("loopback by absolute-form URL, and through a name that resolves to it") {
  Fixture f(plain_origin());
  use_session(f);
  f.start(with_allowed(f, {}));
  const std::uint16_t port = f.origin.port();
  check_refused(f, get_absolute(f, fmt::format("http://0177.0.0.1:{}/echo", port), fmt::format("0177.0.0.1:{}", port)),
                kLoopbackRefused);
  f.sink.clear();
  // "localhost" is mapped to 127.0.0.1 by the fixture's --resolve: the name passes, its address does not.
  check_refused(f, get_in_tunnel(f, "localhost", port),
                "address_not_allowed: localhost resolves to 127.0.0.1, which is loopback (127.0.0.0/8); allow it with "
                "--allow-private 127.0.0.1/32, or name the host in a policy rule with internal: true\n");
  CHECK(f.sink.wait_for_reason("address_not_allowed")->host == "localhost");
}

TEST_CASE("what cannot be parsed as a host or an address is a 400, not a lookup") {
  Fixture f(plain_origin());
  use_session(f);
  f.start(with_allowed(f, {}));
  for (const std::string_view target : {"1.2.3.999:80", "[::ffff:7f00:1:80", "127.0.0.1 :80", "0x1.2.3.4.5:80"}) {
    CAPTURE(target);
    const Response response = connect_to(f, target);
    CHECK(response.status == 400);
  }
  CHECK(f.origin.connections() == 0);
}

TEST_CASE("an allowed range is reached, Airlock's own listeners never are") {
  Fixture f(plain_origin());
  use_session(f);
  // An API-like listener of this process, on the address the allow list opens.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor api(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::acceptor everywhere(io, {boost::asio::ip::make_address("0.0.0.0"), 0});
  ProxyOptions options = with_allowed(f, {"127.0.0.0/8"});
  options.own_listeners = {{api.local_endpoint().address(), api.local_endpoint().port(), "API"},
                           {everywhere.local_endpoint().address(), everywhere.local_endpoint().port(), "transparent"}};
  f.start(options);

  const Response reached = get_in_tunnel(f, "127.0.0.1", f.origin.port());
  CHECK(reached.status == 200);
  CHECK(f.origin.connections() == 1);
  f.sink.clear();

  const auto refuse_self = [&](std::string_view host, std::uint16_t port, std::string_view name) {
    CAPTURE(host);
    CAPTURE(port);
    const Response response = connect_to(f, fmt::format("{}:{}", host, port));
    CHECK(response.status == 403);
    CHECK(response.body == fmt::format("address_not_allowed: {} is Airlock's own {} listener ({}:{}); Airlock never "
                                       "proxies to itself\n",
                                       host, name, host, port));
    f.sink.clear();
  };
  refuse_self("127.0.0.1", f.proxy_port(), "proxy");
  refuse_self("127.0.0.1", api.local_endpoint().port(), "API");
  refuse_self("127.0.0.7", everywhere.local_endpoint().port(), "transparent");  // 0.0.0.0 answers on all of 127/8
  // Another port on the API's address is just loopback, which this proxy allows.
  CHECK(get_in_tunnel(f, "127.0.0.1", f.origin.port()).status == 200);
  CHECK(f.origin.requests().size() == 2);
}

TEST_SUITE("netns" * doctest::skip()) {

TEST_CASE("netns: private ranges and cloud metadata are refused before any connect, allowed ones are tried") {
  REQUIRE_MESSAGE(loopback_only(), "run only by proxy/test/netns.sh, inside a network namespace with only loopback");
  Fixture f(plain_origin());
  use_session(f);
  ProxyOptions options = with_allowed(f, {});
  options.resolve = {{"metadata.test", "169.254.169.254"}, {"ecs.test", "169.254.170.2"}};
  f.start(options);
  check_refused(f, connect_to(f, "10.1.2.3:443"),
                "address_not_allowed: 10.1.2.3 is private network (10.0.0.0/8); allow it with --allow-private 10.1.2.3/32, or "
                "name the host in a policy rule with internal: true\n");
  f.sink.clear();
  check_refused(f, connect_to(f, "[fd00::1]:443"),
                "address_not_allowed: fd00::1 is unique local (fc00::/7); allow it with --allow-private fd00::1/128, or "
                "name the host in a policy rule with internal: true\n");
  f.sink.clear();
  check_refused(f, connect_to(f, "169.254.169.254:80"),
                "address_not_allowed: 169.254.169.254 is cloud metadata (169.254.169.254/32); allow it with "
                "--allow-private 169.254.169.254/32 (on its own: a wider range does not open it)\n");
  f.sink.clear();
  check_refused(f, get_in_tunnel(f, "metadata.test", 80),
                "address_not_allowed: metadata.test resolves to 169.254.169.254, which is cloud metadata "
                "(169.254.169.254/32); allow it with --allow-private 169.254.169.254/32 (on its own: a wider range "
                "does not open it)\n");
  f.sink.clear();
  check_refused(f, get_absolute(f, "http://ecs.test/creds", "ecs.test"),
                "address_not_allowed: ecs.test resolves to 169.254.170.2, which is cloud metadata (169.254.170.2/32); "
                "allow it with --allow-private 169.254.170.2/32 (on its own: a wider range does not open it)\n");
}

TEST_CASE("netns: a range opened by --allow-private is connected to, metadata needs its exact address") {
  REQUIRE_MESSAGE(loopback_only(), "run only by proxy/test/netns.sh, inside a network namespace with only loopback");
  Fixture f(plain_origin());
  use_session(f);
  f.start(with_allowed(f, {"10.0.0.0/8", "169.254.0.0/16"}));
  // Allowed: Airlock tries to connect, and with no route out of this namespace that fails (502, not 403).
  const Response tried = get_in_tunnel(f, "10.1.2.3", 80);
  CHECK(tried.status == 502);
  CHECK(tried.body.rfind("upstream_connect_failed: could not connect to 10.1.2.3 port 80 (", 0) == 0);
  f.sink.clear();
  // 169.254/16 is open, yet the metadata address inside it is not.
  check_refused(f, connect_to(f, "169.254.169.254:80"),
                "address_not_allowed: 169.254.169.254 is cloud metadata (169.254.169.254/32); allow it with "
                "--allow-private 169.254.169.254/32 (on its own: a wider range does not open it)\n");
  f.proxy->stop();

  Fixture exact(plain_origin());
  use_session(exact);
  exact.start(with_allowed(exact, {"169.254.169.254/32"}));
  const Response metadata = get_in_tunnel(exact, "169.254.169.254", 80);
  CHECK(metadata.status == 502);
  CHECK(metadata.body.rfind("upstream_connect_failed: ", 0) == 0);
}

TEST_CASE("netns: a name with a public and a private address is refused: every address is checked") {
  REQUIRE_MESSAGE(loopback_only(), "run only by proxy/test/netns.sh, inside a network namespace with only loopback");
  // netns.sh mounts an /etc/hosts that gives mixed.test 192.0.2.10 and 10.9.9.9, and public.test 192.0.2.20.
  Fixture f(plain_origin());
  use_session(f);
  ProxyOptions options = with_allowed(f, {});
  options.resolve.clear();  // the system resolver, reading that /etc/hosts
  f.start(options);
  check_refused(f, get_in_tunnel(f, "mixed.test", 80),
                "address_not_allowed: mixed.test resolves to 10.9.9.9, which is private network (10.0.0.0/8); allow it with "
                "--allow-private 10.9.9.9/32, or name the host in a policy rule with internal: true\n");
  f.sink.clear();
  const Response public_host = get_in_tunnel(f, "public.test", 80);
  CHECK(public_host.status == 502);  // checked and allowed; no route out of the namespace
  CHECK(public_host.body.rfind("upstream_connect_failed: could not connect to public.test port 80 (", 0) == 0);
}

}  // TEST_SUITE

}  // namespace airlock::proxy::test
