// The transparent listener with real redirects: nftables REDIRECT sends this namespace's outbound TCP
// to the proxy, and real clients (curl, Node, a ClientHello cut into segments) that have no proxy settings
// reach an origin by name through it (docs/sidecar.md).
//
// Suite "transparent" changes the network namespace's nftables rules, so it is skipped in a plain run:
// proxy/test/transparent.sh runs it (--no-skip) inside a namespace of its own that has only loopback
// (SECURITY.md N1 tests: a private address named here can never leave the machine). The redirect rule
// excludes the proxy's own connections by their mark (0x1a1), as a sidecar's rules do.
//
// One case runs anywhere: a connection made straight to a transparent listener is refused.
#include <doctest/doctest.h>

#include <netinet/tcp.h>
#include <openssl/bio.h>

#include <thread>

#include "airlock/testing/skip.hpp"
#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

struct Transparent {
  explicit Transparent(Origin::Options origin_options = {}) : f(std::move(origin_options)) {}

  // Starts the proxy with transparent listeners on 127.0.0.1 and ::1, and redirects this namespace's
  // connections to the origin's port (or `port`) to them, except the proxy's own (marked).
  void start(std::function<void(ProxyOptions&)> adjust = {}) {
    ProxyOptions o = f.options();
    o.transparent_listen = {tcp::endpoint(make_address("127.0.0.1"), 0), tcp::endpoint(make_address("::1"), 0)};
    o.transparent_session = std::string(kSession);
    o.resolve.emplace("private.test", "10.9.9.9");
    o.resolve.emplace("metadata.test", "169.254.169.254");
    if (adjust) adjust(o);
    f.start(std::move(o));
    const auto listeners = f.proxy->transparent_endpoints();
    REQUIRE(listeners.size() == 2);
    redirect(f.origin.port(), listeners[0].port(), listeners[1].port());
  }

  static void redirect(std::uint16_t port, std::uint16_t to_v4, std::uint16_t to_v6) {
    const std::string rules = fmt::format(
        "flush ruleset\n"
        "table inet airlock_test {{\n"
        "  chain out {{\n"
        "    type nat hook output priority -100; policy accept;\n"
        "    meta mark 0x1a1 return\n"
        "    meta nfproto ipv4 tcp dport {0} redirect to :{1}\n"
        "    meta nfproto ipv6 tcp dport {0} redirect to :{2}\n"
        "  }}\n"
        "}}\n",
        port, to_v4, to_v6);
    const auto [status, out] = run_command(fmt::format("printf '%s' '{}' | nft -f - && echo ok", rules));
    REQUIRE_MESSAGE(out == "ok\n", "nft could not install the redirect rule");
  }

  ~Transparent() { run_command("nft flush ruleset"); }

  // curl with no proxy settings at all: only --cacert (Airlock's CA) and --resolve.
  std::pair<int, std::string> curl(const std::string& arguments) const {
    return run_command(fmt::format(
        "env -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy "
        "curl -sS --max-time 20 --cacert '{}' {}",
        f.airlock_ca_file.string(), arguments));
  }

  void use_session(std::vector<std::string> environment_hosts = {}) {
    f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken),
                                            {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder),
                                                            kSecret, {"api.example.test"})},
                                            std::move(environment_hosts))}));
  }

  Fixture f;
};

// Pumps a TLS client over `fd` with memory BIOs, so the test decides how its bytes are cut: the
// ClientHello goes out in `piece`-byte TCP segments, a pause between them.
class SegmentedTlsClient {
 public:
  SegmentedTlsClient(int fd, const std::string& ca_pem, const std::string& name) : fd_(fd) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    context_.reset(SSL_CTX_new(TLS_client_method()));
    certs::BioPtr bio{BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()))};
    certs::X509Ptr ca{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
    X509_STORE_add_cert(SSL_CTX_get_cert_store(context_.get()), ca.get());
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
    ssl_.reset(SSL_new(context_.get()));
    SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
    SSL_set1_host(ssl_.get(), name.c_str());
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), in_, out_);
    SSL_set_connect_state(ssl_.get());
  }
  ~SegmentedTlsClient() { ::close(fd_); }

  bool handshake(std::size_t piece) {
    bool first_flight = true;
    for (;;) {
      const int done = SSL_do_handshake(ssl_.get());
      if (!flush(first_flight ? piece : 0)) return false;
      first_flight = false;
      if (done == 1) return true;
      if (SSL_get_error(ssl_.get(), done) != SSL_ERROR_WANT_READ || !fill()) return false;
    }
  }

  std::string exchange(const std::string& request) {
    SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size()));
    flush(0);
    std::string response;
    char buffer[4096];
    for (;;) {
      const int n = SSL_read(ssl_.get(), buffer, sizeof buffer);
      if (n > 0) {
        response.append(buffer, static_cast<std::size_t>(n));
        if (response.find("\r\n\r\n") != std::string::npos && response.find("EOF-MARK") != std::string::npos) break;
        continue;
      }
      if (SSL_get_error(ssl_.get(), n) != SSL_ERROR_WANT_READ || !fill()) break;
    }
    return response;
  }

 private:
  // Sends what OpenSSL wrote; in pieces of `piece` bytes (0: at once).
  bool flush(std::size_t piece) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(out_, &data);
    std::string pending(data, static_cast<std::size_t>(size));
    (void)BIO_reset(out_);
    for (std::size_t at = 0; at < pending.size();) {
      const std::size_t n = piece == 0 ? pending.size() - at : std::min(piece, pending.size() - at);
      if (::send(fd_, pending.data() + at, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return false;
      at += n;
      if (piece != 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    return true;
  }
  bool fill() {
    char buffer[16384];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    BIO_write(in_, buffer, static_cast<int>(n));
    return true;
  }

  int fd_;
  certs::SslCtxPtr context_;
  certs::SslPtr ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
};

}  // namespace

TEST_CASE("transparent: a connection made straight to a transparent listener is refused (not_redirected)") {
  Fixture f;
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken), {})}));
  ProxyOptions o = f.options();
  o.transparent_listen = {tcp::endpoint(make_address("127.0.0.1"), 0)};
  o.transparent_session = std::string(kSession);
  f.start(std::move(o));
  const std::uint16_t port = f.proxy->transparent_endpoints().at(0).port();

  Stream plain(connect_tcp(port));
  plain.send("GET /echo HTTP/1.1\r\nHost: api.example.test\r\n\r\n");
  std::string leftover;
  const Response response = read_response(plain, leftover);
  CHECK(response.status == 400);
  CHECK(contains(response.body, "not_redirected: this is a transparent listener"));
  const auto record = f.sink.wait_for_reason("not_redirected");
  REQUIRE(record);
  CHECK(record->original_destination == fmt::format("127.0.0.1:{}", port));

  // TLS: a fatal access_denied alert (21 3 3 0 2 2 49), nothing else.
  Stream tls(connect_tcp(port));
  CHECK_FALSE(tls.start_tls(f.airlock_ca->certificate_pem(), "api.example.test", "api.example.test"));
  REQUIRE(f.sink.wait_for(2));  // audited (and counted) right after the alert went out
  CHECK(f.sink.records()[1].reason == "not_redirected");
  CHECK(f.proxy->stats().refused.at("not_redirected") == 2);
  CHECK(f.proxy->stats().transparent_connections == 2);
}

TEST_SUITE("transparent" * doctest::skip()) {

TEST_CASE("transparent: curl with no proxy settings reaches a host by name, the origin gets the secret") {
  Transparent t;
  t.use_session();
  t.start();
  const std::uint16_t port = t.f.origin.port();
  for (const char* address : {"127.0.0.1", "::1"}) {
    CAPTURE(address);
    t.f.sink.clear();
    const auto [status, out] = t.curl(fmt::format("--resolve 'api.example.test:{0}:{1}' -H 'Authorization: Bearer {2}' "
                                                  "https://api.example.test:{0}/echo",
                                                  port, address, kPlaceholder));
    CHECK(status == 0);
    CHECK(contains(out, fmt::format("Authorization: Bearer {}", kPlaceholder)));  // redacted on the way back
    CHECK_FALSE(contains(out, kSecret));
    const auto captured = t.f.origin.last();
    REQUIRE(captured);
    CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
    CHECK(captured->sni == "api.example.test");
    const auto record = t.f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->session_id == kSession);
    CHECK(record->host == "api.example.test");
    CHECK(record->port == port);
    CHECK(record->decision == "allowed");
    CHECK(record->original_destination ==
          (std::string(address) == "::1" ? fmt::format("[::1]:{}", port) : fmt::format("127.0.0.1:{}", port)));
    REQUIRE(record->credentials.size() == 1);
    CHECK(record->credentials[0].credential_id == "vcrd_1");
  }
  CHECK(t.f.proxy->stats().transparent_connections == 2);
}

TEST_CASE("transparent: Node's https with no proxy settings") {
  AIRLOCK_SKIP_UNLESS(run_command("node --version").first == 0, "node is not installed here (scripts/setup installs it)");
  Transparent t;
  t.use_session();
  t.start();
  const std::string script = fmt::format(
      "const https = require('https'); const fs = require('fs');"
      "https.get({{host: '127.0.0.1', port: {0}, servername: 'api.example.test', path: '/echo',"
      "  headers: {{Host: 'api.example.test:{0}', 'X-Key': '{1}'}}, ca: fs.readFileSync('{2}')}}, (res) => {{"
      "  let body = ''; res.on('data', (c) => body += c);"
      "  res.on('end', () => {{ process.stdout.write(res.statusCode + '\\n' + body); }});"
      "}}).on('error', (e) => {{ process.stdout.write('error ' + e.message); }});",
      t.f.origin.port(), kPlaceholder, t.f.airlock_ca_file.string());
  const auto [status, out] = run_command(fmt::format("env -u HTTPS_PROXY -u https_proxy node -e \"{}\"", script));
  CHECK(status == 0);
  CHECK(out.rfind("200\n", 0) == 0);
  CHECK(contains(out, fmt::format("X-Key: {}", kPlaceholder)));
  const auto captured = t.f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("X-Key") == kSecret);
}

TEST_CASE("transparent: refusals: a host not allowed, a private and a metadata address, an unmapped source") {
  Transparent t;
  t.use_session({"api.example.test"});  // the environment allows this host only
  t.start();
  const std::uint16_t port = t.f.origin.port();

  auto [status, out] = t.curl(fmt::format("-o /dev/null -w '%{{http_code}}' --resolve 'example.test:{0}:127.0.0.1' "
                                          "https://example.test:{0}/echo",
                                          port));
  CHECK(out == "403");
  auto record = t.f.sink.wait_for_reason("host_not_allowed");
  REQUIRE(record);
  CHECK(record->host == "example.test");
  CHECK(record->original_destination == fmt::format("127.0.0.1:{}", port));

  // private.test resolves (for Airlock) to 10.9.9.9 and metadata.test to 169.254.169.254.
  t.use_session();
  for (const char* name : {"private.test", "metadata.test"}) {
    CAPTURE(name);
    t.f.sink.clear();
    std::tie(status, out) = t.curl(fmt::format("-o /dev/null -w '%{{http_code}}' --resolve '{1}:{0}:127.0.0.1' "
                                               "https://{1}:{0}/echo",
                                               port, name));
    CHECK(out == "403");
    record = t.f.sink.wait_for_reason("address_not_allowed");
    REQUIRE(record);
    CHECK(record->host == name);
  }
  CHECK(t.f.origin.requests().empty());

  // The session is archived (gone from the snapshot): the next connection is refused with an alert.
  t.f.slot.store(snapshot_of({}));
  t.f.sink.clear();
  std::tie(status, out) = t.curl(fmt::format("--resolve 'api.example.test:{0}:127.0.0.1' https://api.example.test:{0}/echo", port));
  CHECK(status == 35);  // curl: TLS handshake failed (the alert)
  record = t.f.sink.wait_for_reason("unknown_source");
  REQUIRE(record);
  CHECK(record->decision == "denied");
  CHECK(record->method == "CONNECT");
  CHECK(record->host == "api.example.test");
}

TEST_CASE("transparent: a source map picks the session by the connection's source address") {
  Transparent t;
  t.start([](ProxyOptions& o) { o.transparent_session.clear(); });
  const std::uint16_t port = t.f.origin.port();
  const auto snapshot_with = [&](const char* source) {
    auto snapshot = std::make_shared<CredentialSnapshot>(*snapshot_of(
        {session_entry(std::string(kSession), std::string(kToken),
                       {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret,
                                       {"api.example.test"})}),
         session_entry("sesn_other", std::string(kToken), {})}));
    snapshot->transparent_sources = {{policies::Cidr::parse("127.0.0.0/8").value(), "sesn_other"},
                                     {policies::Cidr::parse(source).value(), std::string(kSession)}};
    return snapshot;
  };
  t.f.slot.store(snapshot_with("127.0.0.1/32"));  // the more specific range wins
  auto [status, out] = t.curl(fmt::format("-H 'X-Key: {1}' http://api.example.test:{0}/echo --resolve "
                                          "'api.example.test:{0}:127.0.0.1' -o /dev/null -w '%{{http_code}}'",
                                          port, kPlaceholder));
  CHECK(out == "403");  // plain HTTP: no substitution, but the right session (it owns the placeholder)
  auto record = t.f.sink.wait_for_reason("plaintext_substitution");
  REQUIRE(record);
  CHECK(record->session_id == kSession);

  t.f.slot.store(snapshot_with("10.0.0.0/8"));  // now only sesn_other covers 127.0.0.1
  t.f.sink.clear();
  std::tie(status, out) = t.curl(fmt::format("http://api.example.test:{0}/echo --resolve 'api.example.test:{0}:127.0.0.1' "
                                             "-o /dev/null -w '%{{http_code}}'",
                                             port));
  CHECK(out == "502");  // sesn_other has no credential; the origin here speaks TLS, so plain HTTP fails upstream
  record = t.f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->session_id == "sesn_other");

  auto unmapped = std::make_shared<CredentialSnapshot>(*snapshot_with("10.0.0.0/8"));
  unmapped->transparent_sources.erase(unmapped->transparent_sources.begin());
  t.f.slot.store(unmapped);
  t.f.sink.clear();
  std::tie(status, out) = t.curl(fmt::format("http://api.example.test:{0}/echo --resolve 'api.example.test:{0}:127.0.0.1'", port));
  CHECK(out.rfind("unknown_source: connections from 127.0.0.1 to Airlock's transparent listener", 0) == 0);
}

TEST_CASE("transparent: plain HTTP by Host, Host naming another host than SNI is 421, no SNI to an IP") {
  {
    Origin::Options plain;
    plain.tls = false;
    Transparent t(plain);
    t.use_session();
    t.start();
    const std::uint16_t port = t.f.origin.port();
    auto [status, out] = t.curl(fmt::format("--resolve 'api.example.test:{0}:127.0.0.1' http://api.example.test:{0}/echo", port));
    CHECK(status == 0);
    CHECK(out.rfind("GET /echo HTTP/1.1\r\n", 0) == 0);
    CHECK(contains(out, fmt::format("Host: api.example.test:{}", port)));
    const auto record = t.f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->host == "api.example.test");
    CHECK(record->path == "/echo");
    // A request with no Host header at all (HTTP/1.0) cannot be placed.
    Stream raw(connect_tcp(port));
    raw.send("GET /echo HTTP/1.0\r\n\r\n");
    std::string leftover;
    const Response response = read_response(raw, leftover);
    CHECK(response.status == 400);
    CHECK(contains(response.body, "needs a Host header"));
  }
  Transparent t;
  t.use_session();
  t.start();
  const std::uint16_t port = t.f.origin.port();
  auto [status, out] = t.curl(fmt::format("-o /dev/null -w '%{{http_code}}' -H 'Host: example.test:{0}' "
                                          "--resolve 'api.example.test:{0}:127.0.0.1' https://api.example.test:{0}/echo",
                                          port));
  CHECK(out == "421");
  REQUIRE(t.f.sink.wait_for_reason("host_mismatch"));
  // No SNI (curl sends none for an IP): the original destination's address is the host, and the
  // upstream's certificate must name that IP.
  t.f.sink.clear();
  std::tie(status, out) = t.curl(fmt::format("https://127.0.0.1:{}/echo", port));
  CHECK(status == 0);
  CHECK(contains(out, "GET /echo HTTP/1.1"));
  const auto record = t.f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->host == "127.0.0.1");
  CHECK(record->decision == "allowed");
}

TEST_CASE("transparent: a ClientHello cut into 5-byte TCP segments, a passthrough host keeps its ClientHello") {
  Transparent t;
  t.use_session();
  t.start([](ProxyOptions& o) { o.passthrough_hosts = {"passthrough.test"}; });
  const std::uint16_t port = t.f.origin.port();
  {
    SegmentedTlsClient client(connect_tcp(port), t.f.airlock_ca->certificate_pem(), "api.example.test");
    REQUIRE(client.handshake(5));
    const std::string response = client.exchange(fmt::format(
        "GET /echo HTTP/1.1\r\nHost: api.example.test:{}\r\nX-Key: {}\r\nX-End: EOF-MARK\r\nConnection: close\r\n\r\n", port,
        kPlaceholder));
    CHECK(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    const auto captured = t.f.origin.last();
    REQUIRE(captured);
    CHECK(*captured->head.headers.find("X-Key") == kSecret);
  }
  REQUIRE(t.f.sink.wait_for(1));  // that exchange's record, before the next one's
  // Passthrough: the origin's own certificate arrives (end-to-end TLS), for the name the client sent.
  t.f.sink.clear();
  const auto [status, out] = run_command(fmt::format(
      "curl -sS --max-time 20 --cacert '{}' --resolve 'passthrough.test:{}:127.0.0.1' https://passthrough.test:{}/echo",
      t.f.origin_ca_file.string(), port, port));
  CHECK(status == 0);
  CHECK(contains(out, "GET /echo HTTP/1.1"));
  const auto captured = t.f.origin.last();
  REQUIRE(captured);
  CHECK(captured->sni == "passthrough.test");
  const auto record = t.f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->method == "CONNECT");
  CHECK(record->host == "passthrough.test");
  CHECK(record->decision == "allowed");
  CHECK(t.f.proxy->stats().tunnels_passthrough == 1);
}

}  // TEST_SUITE

}  // namespace airlock::proxy::test
