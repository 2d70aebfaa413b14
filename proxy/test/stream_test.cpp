// End-to-end tests of the connection machinery: keep-alive and the upstream pool, streaming 100 MiB both
// ways with bounded memory, Expect: 100-continue, pipelining, HEAD, WebSocket upgrade and splice,
// passthrough hosts (no interception), plain HTTP inside a CONNECT tunnel, upstream failures after
// CONNECT, and shutdown.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

std::string host_port(std::string_view host, std::uint16_t port) { return fmt::format("{}:{}", host, port); }

void use_session(Fixture& f, std::vector<std::string> credential_hosts, std::vector<std::string> environment_hosts = {}) {
  f.slot.store(snapshot_of(
      {session_entry(std::string(kSession), std::string(kToken),
                     {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret,
                                     std::move(credential_hosts))},
                     std::move(environment_hosts))}));
}

// Reads raw bytes until the end of a head ("\r\n\r\n").
std::string read_head_bytes(Stream& stream) {
  std::string out;
  char c = 0;
  while (out.size() < 65536 && !out.ends_with("\r\n\r\n")) {
    if (stream.recv(&c, 1) == 0) break;
    out += c;
  }
  return out;
}

}  // namespace

TEST_CASE("keep-alive: one upstream connection serves many requests and is pooled for the next tunnel") {
  Fixture f;
  use_session(f, {"localhost"});
  ProxyOptions options = f.options();
  options.threads = 1;  // the pool is per worker: one worker makes the reuse across tunnels certain
  f.start(options);
  const std::string host = host_port("localhost", f.origin.port());
  for (int tunnel = 0; tunnel < 2; ++tunnel) {
    std::string head;
    Stream stream = f.tunnel("localhost", f.origin.port(), head);
    REQUIRE(contains(head, " 200 "));
    std::string leftover;
    for (int i = 0; i < 5; ++i) {
      stream.send(fmt::format("GET /echo?i={} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n", i, host, kPlaceholder));
      const Response response = read_response(stream, leftover);
      CHECK(response.status == 200);
      CHECK(response.keep_alive);
    }
  }
  CHECK(f.origin.connections() == 1);
  REQUIRE(f.sink.wait_for(10));
  const ProxyStats stats = f.proxy->stats();
  CHECK(stats.upstream_connections_opened == 1);
  CHECK(stats.upstream_connections_reused == 9);
  CHECK(stats.requests_allowed == 10);
  CHECK(stats.requests_substituted == 10);
  CHECK(stats.connections_accepted == 2);
  // The one upstream connection is open still: held by the last tunnel, or idle in the pool.
  CHECK(stats.upstream_connections_open == 1);
  f.proxy->stop();  // clears the pools
  CHECK(f.proxy->stats().upstream_connections_open == 0);
}

TEST_CASE("pipelined requests are answered in order, HEAD has no body, Connection: close ends the tunnel") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  stream.send(fmt::format("GET /echo?n=1 HTTP/1.1\r\nHost: {}\r\n\r\nHEAD /echo?n=2 HTTP/1.1\r\nHost: {}\r\n\r\n"
                          "GET /echo?n=3 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                          host, host, host));
  std::string leftover;
  const Response first = read_response(stream, leftover);
  CHECK(first.status == 200);
  CHECK(contains(first.body, "GET /echo?n=1 HTTP/1.1"));
  const Response second = read_response(stream, leftover, "HEAD");
  CHECK(second.status == 200);
  CHECK(second.body.empty());
  REQUIRE(second.header("Content-Length") != nullptr);
  CHECK(*second.header("Content-Length") != "0");
  const Response third = read_response(stream, leftover);
  CHECK(third.status == 200);
  CHECK(contains(third.body, "GET /echo?n=3 HTTP/1.1"));
  CHECK(*third.header("Connection") == "close");
  CHECK_FALSE(third.keep_alive);
  char byte = 0;
  CHECK(stream.recv(&byte, 1) == 0);  // the proxy closed the tunnel
}

TEST_CASE("a pooled connection the origin has closed is replaced before any response byte, and the request resent") {
  Fixture f;
  use_session(f, {"localhost"});
  ProxyOptions options = f.options();
  options.threads = 1;
  f.start(options);
  const std::string host = host_port("localhost", f.origin.port());
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  std::string leftover;
  stream.send(fmt::format("GET /then-close HTTP/1.1\r\nHost: {}\r\n\r\n", host));
  CHECK(read_response(stream, leftover).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the origin's FIN arrives (not required)
  stream.send(fmt::format("GET /echo?second=1 HTTP/1.1\r\nHost: {}\r\n\r\n", host));
  const Response second = read_response(stream, leftover);
  CHECK(second.status == 200);
  CHECK(contains(second.body, "GET /echo?second=1 HTTP/1.1"));
  CHECK(f.origin.connections() == 2);
  REQUIRE(f.sink.wait_for(2));
  CHECK(f.sink.records()[1].decision == "allowed");
}

TEST_CASE("an HTTP/1.0 client gets a redacted body delimited by the connection's end") {
  Fixture f;
  use_session(f, {"localhost"});
  ProxyOptions options = f.options();
  options.max_held_body_bytes = 16;  // too short to hold the echo: it streams
  f.start(options);
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  stream.send(fmt::format("GET /echo HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
                          host_port("localhost", f.origin.port()), kPlaceholder));
  std::string leftover;
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 200);
  CHECK(response.complete);
  CHECK(response.header("Transfer-Encoding") == nullptr);
  CHECK(response.header("Content-Length") == nullptr);
  CHECK(*response.header("Connection") == "close");
  CHECK(contains(response.body, fmt::format("Authorization: Bearer {}", kPlaceholder)));
  CHECK_FALSE(contains(response.body, kSecret));
  CHECK(f.origin.last()->head.version_minor == 1);  // upstream always gets HTTP/1.1
}

TEST_CASE("Expect: 100-continue is answered by the proxy and not forwarded") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  const std::string body = fmt::format("token={}", kPlaceholder);
  stream.send(fmt::format("POST /echo HTTP/1.1\r\nHost: {}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", host,
                          body.size()));
  CHECK(read_head_bytes(stream) == "HTTP/1.1 100 Continue\r\n\r\n");
  stream.send(body);
  std::string leftover;
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 200);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(captured->head.headers.find("Expect") == nullptr);
  CHECK(captured->body == fmt::format("token={}", kSecret));
}

TEST_CASE("100 MiB chunked upload and download stream through with bounded memory") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  constexpr std::uint64_t kTotal = 100ull << 20;
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  REQUIRE(reset_peak_rss());
  const long before = proc_status_kib("VmRSS:");

  // Upload: chunked, with a placeholder at the start, so the body goes through substitution.
  stream.send(fmt::format("POST /count HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n", host));
  const std::string first = std::string(kPlaceholder);
  stream.send(fmt::format("{:x}\r\n{}\r\n", first.size(), first));
  const std::string chunk(64 * 1024, 'u');
  const std::string chunk_head = fmt::format("{:x}\r\n", chunk.size());
  for (std::uint64_t sent = 0; sent < kTotal; sent += chunk.size()) {
    REQUIRE(stream.send(chunk_head + chunk + "\r\n"));
  }
  stream.send("0\r\n\r\n");
  std::string leftover;
  const Response uploaded = read_response(stream, leftover);
  CHECK(uploaded.status == 200);
  CHECK(uploaded.body == fmt::format("received {}", kTotal + kSecret.size()));

  // Download: chunked from the origin, scanned for secrets on the way.
  stream.send(fmt::format("GET /download?bytes={} HTTP/1.1\r\nHost: {}\r\n\r\n", kTotal, host));
  std::uint64_t received = 0;
  {
    http1::ResponseParser parser;
    std::vector<std::string_view> pieces;
    std::vector<char> buffer(64 * 1024);
    bool done = false;
    std::string data = leftover;
    while (!done) {
      std::string_view input = data;
      while (!done) {
        const auto step = parser.parse(input, pieces);
        input.remove_prefix(step.consumed);
        for (auto piece : pieces) received += piece.size();
        pieces.clear();
        if (step.state == http1::State::message_done) done = true;
        if (step.state == http1::State::error) {
          FAIL("bad response");
        }
        if (step.state == http1::State::need_more || step.state == http1::State::body) break;
      }
      if (done) break;
      const std::size_t n = stream.recv(buffer.data(), buffer.size());
      if (n == 0) break;
      data.assign(buffer.data(), n);
    }
  }
  CHECK(received == kTotal);
  const long peak = proc_status_kib("VmHWM:");
  MESSAGE("RSS before " << before << " KiB, peak during 2 x 100 MiB " << peak << " KiB");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine (256 MiB): the resident size says nothing here.
  MESSAGE("[skipped] the memory bound: an AddressSanitizer build keeps freed memory resident");
#else
  CHECK(peak - before < 32 * 1024);
#endif
}

TEST_CASE("WebSocket: the 101 is passed on and both directions are spliced") {
  Fixture f;
  use_session(f, {"api.example.test"});  // a host the credential does not go to (S11 refuses upgrades there)
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  stream.send(fmt::format("GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                          host));
  std::string leftover;
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 101);
  CHECK(*response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(*response.header("Upgrade") == "websocket");
  const std::string frame = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";  // a masked "Hello" text frame
  for (int i = 0; i < 3; ++i) {
    REQUIRE(stream.send(frame));
    std::string echoed = leftover;
    leftover.clear();
    char buffer[64];
    while (echoed.size() < frame.size()) {
      const std::size_t n = stream.recv(buffer, sizeof buffer);
      REQUIRE(n > 0);
      echoed.append(buffer, n);
    }
    CHECK(echoed == frame);
  }
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Upgrade") == "websocket");
  CHECK(*captured->head.headers.find("Connection") == "Upgrade");
  stream.close();
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->status == 101);
  CHECK(record->bytes_up >= 3 * frame.size());
}

TEST_CASE("passthrough_hosts are tunnelled untouched, still behind auth and the environment policy") {
  Fixture f;
  ProxyOptions options = f.options();
  options.passthrough_hosts = {"passthrough.test"};
  SUBCASE("no interception: the client sees the origin's own certificate; the placeholder passes unchanged") {
    use_session(f, {"passthrough.test"});
    f.start(options);
    Stream stream(connect_tcp(f.proxy_port()));
    stream.send(fmt::format("CONNECT passthrough.test:{} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {}\r\n\r\n",
                            f.origin.port(), proxy_auth()));
    CHECK(read_head_bytes(stream) == "HTTP/1.1 200 Connection Established\r\n\r\n");
    REQUIRE(stream.start_tls(f.origin_ca.certificate_pem(), "passthrough.test", "passthrough.test"));
    stream.send(fmt::format("GET /echo HTTP/1.1\r\nHost: passthrough.test\r\nX-Key: {}\r\n\r\n", kPlaceholder));
    std::string leftover;
    const Response response = read_response(stream, leftover);
    CHECK(response.status == 200);
    CHECK(*f.origin.last()->head.headers.find("X-Key") == kPlaceholder);
    stream.close();
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->method == "CONNECT");
    CHECK(record->host == "passthrough.test");
    CHECK(record->decision == "allowed");
    CHECK(record->status == 200);
    CHECK(record->bytes_up > 0);
    CHECK(record->bytes_down > 0);
    CHECK(f.proxy->stats().tunnels_passthrough == 1);
  }
  SUBCASE("the environment's allowed_hosts still apply") {
    use_session(f, {"localhost"}, {"localhost"});
    f.start(options);
    Stream stream(connect_tcp(f.proxy_port()));
    stream.send(fmt::format("CONNECT passthrough.test:{} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {}\r\n\r\n",
                            f.origin.port(), proxy_auth()));
    std::string leftover;
    CHECK(read_response(stream, leftover, "CONNECT").status == 403);
  }
}

TEST_CASE("plain HTTP inside a CONNECT tunnel follows the plain-HTTP rules") {
  Fixture f(Origin::Options{.tls = false, .fixed_name = {}, .record = true, .handler = {}});
  use_session(f, {"localhost"});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: {}\r\n\r\n", host, host, proxy_auth()));
  CHECK(read_head_bytes(stream) == "HTTP/1.1 200 Connection Established\r\n\r\n");
  stream.send(fmt::format("GET /echo HTTP/1.1\r\nHost: {}\r\n\r\n", host));
  std::string leftover;
  CHECK(read_response(stream, leftover).status == 200);
  stream.send(fmt::format("GET /echo HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n", host, kPlaceholder));
  const Response refused = read_response(stream, leftover);
  CHECK(refused.status == 403);
  CHECK(refused.body.rfind("plaintext_substitution: ", 0) == 0);
}

TEST_CASE("the origin closing without an answer is 502 upstream_closed") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  stream.send(fmt::format("GET /close HTTP/1.1\r\nHost: {}\r\n\r\n", host_port("localhost", f.origin.port())));
  std::string leftover;
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 502);
  CHECK(response.body.rfind("upstream_closed: ", 0) == 0);
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->decision == "error");
  CHECK(record->reason == "upstream_closed");
}

TEST_CASE("deadlines: every wait is bounded") {
  Fixture f;
  use_session(f, {"localhost"});
  ProxyOptions options = f.options();
  options.timeouts.request_head = std::chrono::milliseconds(200);
  options.timeouts.keep_alive_idle = std::chrono::milliseconds(200);
  options.timeouts.client_handshake = std::chrono::milliseconds(200);
  options.timeouts.upstream_response = std::chrono::milliseconds(300);
  f.start(options);
  const std::string host = host_port("localhost", f.origin.port());
  char byte = 0;
  SUBCASE("half a request head: 408") {
    Stream stream(connect_tcp(f.proxy_port()));
    stream.send("CONNECT localhost:443 HTTP/1.1\r\nHost: loc");
    std::string leftover;
    const Response response = read_response(stream, leftover, "CONNECT");
    CHECK(response.status == 408);
    CHECK(response.body.rfind("request_timeout: ", 0) == 0);
  }
  SUBCASE("an idle keep-alive connection is closed") {
    std::string head;
    Stream stream = f.tunnel("localhost", f.origin.port(), head);
    REQUIRE(contains(head, " 200 "));
    std::string leftover;
    stream.send(fmt::format("GET /echo HTTP/1.1\r\nHost: {}\r\n\r\n", host));
    CHECK(read_response(stream, leftover).status == 200);
    CHECK(stream.recv(&byte, 1) == 0);
  }
  SUBCASE("no TLS handshake after the 200: closed") {
    Stream stream(connect_tcp(f.proxy_port()));
    stream.send(fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: {}\r\n\r\n", host, host, proxy_auth()));
    CHECK(read_head_bytes(stream) == "HTTP/1.1 200 Connection Established\r\n\r\n");
    CHECK(stream.recv(&byte, 1) == 0);
  }
  SUBCASE("an upstream that never answers: 504") {
    std::string head;
    Stream stream = f.tunnel("localhost", f.origin.port(), head);
    REQUIRE(contains(head, " 200 "));
    std::string leftover;
    stream.send(fmt::format("GET /stall HTTP/1.1\r\nHost: {}\r\n\r\n", host));
    const Response response = read_response(stream, leftover);
    CHECK(response.status == 504);
    CHECK(response.body.rfind("upstream_response_timeout: ", 0) == 0);
    CHECK(*response.header("Proxy-Status") == "airlock; error=http_response_timeout; details=\"upstream_response_timeout\"");
  }
}

TEST_CASE("stop(): idle connections are closed, the proxy drains and joins") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  std::string head;
  Stream tunnel = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  std::string leftover;
  tunnel.send(fmt::format("GET /echo HTTP/1.1\r\nHost: {}\r\n\r\n", host_port("localhost", f.origin.port())));
  CHECK(read_response(tunnel, leftover).status == 200);
  Stream idle(connect_tcp(f.proxy_port()));
  f.proxy->stop();
  CHECK(f.proxy->stats().connections_open == 0);
  char byte = 0;
  CHECK(tunnel.recv(&byte, 1) == 0);
  CHECK(idle.recv(&byte, 1) == 0);
  f.proxy->stop();  // idempotent
}

TEST_CASE("the constructor reports what it cannot do") {
  Fixture f;
  ProxyOptions options = f.options();
  options.upstream_ca = {f.dir.path() / "missing.pem"};
  CHECK_THROWS_WITH_AS(Proxy(options, f.airlock_ca, f.slot, f.sink),
                       doctest::Contains("cannot read upstream CA file"), std::system_error);
  f.start();
  ProxyOptions taken = f.options();
  taken.listen_port = f.proxy_port();
  const std::string expected = fmt::format("proxy: cannot listen on 127.0.0.1:{}", f.proxy_port());
  CHECK_THROWS_WITH_AS(Proxy(taken, f.airlock_ca, f.slot, f.sink), doctest::Contains(expected.c_str()),
                       std::system_error);
}

}  // namespace airlock::proxy::test
