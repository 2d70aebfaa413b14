// Real TLS handshakes over 127.0.0.1: the cached server context against the upstream client context,
// verification failures and their reasons, ALPN, SNI and session resumption.
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/certs/leaf_cache.hpp"
#include "airlock/certs/upstream.hpp"
#include "test_support.hpp"

namespace airlock::certs {
namespace {

UpstreamTlsOptions trusting(std::vector<std::filesystem::path> files) {
  UpstreamTlsOptions options;
  options.extra_ca_files = std::move(files);
  return options;
}

struct Fixture {
  Fixture() {
    auto generated = RootCa::generate();
    REQUIRE(generated);
    ca = std::make_shared<const RootCa>(std::move(*generated));
    auto made = LeafCache::create(ca);
    REQUIRE(made);
    cache = std::move(*made);
    ca_file = dir.path() / "ca.pem";
    test::write_file(ca_file, ca->certificate_pem());
  }

  ServerContext server(std::string_view host) {
    auto context = cache->server_context(host);
    REQUIRE_MESSAGE(context, (context ? "" : context.error().message));
    return *context;
  }
  ClientContext client(UpstreamTlsOptions options) {
    auto context = make_upstream_context(options);
    REQUIRE_MESSAGE(context, (context ? "" : context.error().message));
    return *context;
  }
  ClientContext trusting_ca() { return client(trusting({ca_file})); }

  test::TempDir dir;
  std::shared_ptr<const RootCa> ca;
  std::unique_ptr<LeafCache> cache;
  std::filesystem::path ca_file;
};

ValidatedHost host(std::string_view text) {
  auto validated = validate_host(text);
  REQUIRE(validated);
  return *validated;
}

TEST_CASE("a client trusting the CA file completes a handshake with a cached leaf") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  const test::Handshake result = test::handshake(f.server("localhost").get(), client.get(), host("localhost"));
  CHECK(result.client.ok);
  CHECK(result.server.ok);
  CHECK(result.client.alpn == "http/1.1");
  CHECK(result.client.verify_reason == std::nullopt);
  CHECK(result.server.sni == "localhost");
  CHECK(result.client.received == "ok");
}

TEST_CASE("an IP literal is verified against the iPAddress SAN and sent without SNI") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  const test::Handshake result = test::handshake(f.server("127.0.0.1").get(), client.get(), host("127.0.0.1"));
  CHECK(result.client.ok);
  CHECK(result.server.ok);
  CHECK(result.client.alpn == "http/1.1");
  CHECK(result.client.verify_reason == std::nullopt);
  CHECK(result.server.sni == "");
}

TEST_CASE("a client trusting only the system store refuses Airlock's leaf, with the reason") {
  Fixture f;
  const ClientContext client = f.client({});
  const test::Handshake result = test::handshake(f.server("localhost").get(), client.get(), host("localhost"));
  CHECK_FALSE(result.client.ok);
  CHECK_FALSE(result.server.ok);
  CHECK(result.client.verify_reason == "self-signed certificate in certificate chain (X509 error 19)");
}

TEST_CASE("the system trust bundle (SSL_CERT_FILE here) is read into memory once, not looked up per connection") {
  Fixture f;
  const std::filesystem::path bundle = f.dir.path() / "bundle.pem";
  test::write_file(bundle, f.ca->certificate_pem());
  const char* before = std::getenv("SSL_CERT_FILE");
  const std::optional<std::string> saved = before != nullptr ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("SSL_CERT_FILE", bundle.c_str(), 1);
  const ClientContext client = f.client({});
  if (saved) {
    ::setenv("SSL_CERT_FILE", saved->c_str(), 1);
  } else {
    ::unsetenv("SSL_CERT_FILE");
  }
  std::filesystem::remove(bundle);  // gone: only what was read at start can verify now
  const test::Handshake result = test::handshake(f.server("localhost").get(), client.get(), host("localhost"));
  CHECK(result.client.ok);
  CHECK(result.client.verify_reason == std::nullopt);
}

TEST_CASE("a certificate for another name is refused: hostname mismatch") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  const test::Handshake result = test::handshake(f.server("localhost").get(), client.get(), host("other.test"));
  CHECK_FALSE(result.client.ok);
  CHECK(result.client.verify_reason == "hostname mismatch (X509 error 62)");
}

TEST_CASE("a certificate for another address is refused: IP address mismatch") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  const test::Handshake result = test::handshake(f.server("127.0.0.1").get(), client.get(), host("127.0.0.2"));
  CHECK_FALSE(result.client.ok);
  CHECK(result.client.verify_reason == "IP address mismatch (X509 error 64)");
}

TEST_CASE("a client offering only h2 gets no connection") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  const test::Handshake result =
      test::handshake(f.server("localhost").get(), client.get(), host("localhost"), [](SSL* ssl) {
        static constexpr unsigned char kH2[] = {2, 'h', '2'};
        SSL_set_alpn_protos(ssl, kH2, sizeof kH2);
      });
  CHECK_FALSE(result.client.ok);
  CHECK_FALSE(result.server.ok);
  CHECK(result.client.verify_reason == std::nullopt);  // not a certificate problem
}

TEST_CASE("a second connection to the same host and port resumes the TLS 1.3 session") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  const ServerContext server_context = f.server("localhost");
  test::TlsServer server{server_context.get(), 3};
  const test::ClientSide first = test::connect_client(client.get(), host("localhost"), server.port());
  const test::ClientSide second = test::connect_client(client.get(), host("localhost"), server.port());
  // Another name on the same port has no session of its own (and this certificate would not fit it).
  const test::ClientSide other = test::connect_client(client.get(), host("127.0.0.1"), server.port());
  REQUIRE(first.ok);
  CHECK_FALSE(first.resumed);
  REQUIRE(second.ok);
  CHECK(second.resumed);
  CHECK(second.alpn == "http/1.1");
  CHECK(second.verify_reason == std::nullopt);
  CHECK_FALSE(other.ok);
  CHECK_FALSE(other.resumed);
  CHECK(other.verify_reason == "IP address mismatch (X509 error 64)");
  CHECK(server.sides().size() == 3);
}

TEST_CASE("a TLS 1.2 session is offered again on every connection") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  REQUIRE(SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION) == 1);
  const ServerContext server_context = f.server("localhost");
  test::TlsServer server{server_context.get(), 3};
  const test::ClientSide first = test::connect_client(client.get(), host("localhost"), server.port());
  const test::ClientSide second = test::connect_client(client.get(), host("localhost"), server.port());
  const test::ClientSide third = test::connect_client(client.get(), host("localhost"), server.port());
  REQUIRE(first.ok);
  CHECK_FALSE(first.resumed);
  CHECK(second.resumed);
  CHECK(third.resumed);
  CHECK(third.alpn == "http/1.1");
}

TEST_CASE("a failed verification leaves no session to resume") {
  Fixture f;
  const ClientContext client = f.client({});  // system store only: Airlock's leaf fails
  const ServerContext server_context = f.server("localhost");
  test::TlsServer server{server_context.get(), 1};
  const test::ClientSide refused = test::connect_client(client.get(), host("localhost"), server.port());
  CHECK_FALSE(refused.ok);
  CHECK(refused.verify_reason == "self-signed certificate in certificate chain (X509 error 19)");
}

TEST_CASE("the upstream context's settings") {
  Fixture f;
  const ClientContext client = f.trusting_ca();
  SSL_CTX* ctx = client.get();
  CHECK(SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_PEER);
  CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
  CHECK((SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS) != 0);
  CHECK(SSL_CTX_get_session_cache_mode(ctx) == (SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE));
}

TEST_CASE("an unreadable or empty extra CA file is refused, naming the file") {
  Fixture f;
  const auto missing = f.dir.path() / "missing.pem";
  auto refused = make_upstream_context(trusting({f.ca_file, missing}));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::io);
  CHECK(refused.error().message == "cannot read upstream CA file " + missing.string() +
                                       ": No such file or directory; give a readable PEM file of CA certificates");

  const auto junk = f.dir.path() / "junk.pem";
  test::write_file(junk, "not a certificate\n");
  auto no_certs = make_upstream_context(trusting({junk}));
  REQUIRE_FALSE(no_certs);
  CHECK(no_certs.error().code == Errc::io);
  CHECK(no_certs.error().message.rfind("upstream CA file " + junk.string() + ": expected PEM CA certificates: ", 0) ==
        0);
}

TEST_CASE("verification reasons are readable") {
  CHECK(verify_error_reason(X509_V_ERR_CERT_HAS_EXPIRED) == "certificate has expired (X509 error 10)");
  CHECK(verify_error_reason(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) ==
        "unable to get local issuer certificate (X509 error 20)");
}

}  // namespace
}  // namespace airlock::certs
