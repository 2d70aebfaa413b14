// End-to-end tests of every refusal: caller identity (407), the environment's hosts, placeholder
// violations (and the passthrough mode), compressed bodies, plain http://, SNI/Host fronting (421),
// upstream verification (502), request smuggling (400), a session that ends mid-tunnel. Each checks the
// exact status, body, Proxy-Status and audit record, and that the origin saw nothing it should not.
#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

std::string request(std::string_view method, std::string_view target, std::string_view host, std::string extra = {},
                    std::string_view body = {}) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n{}", method, target, host, extra);
  if (!body.empty()) out += fmt::format("Content-Length: {}\r\n", body.size());
  out += "\r\n";
  out += body;
  return out;
}

std::string host_port(std::string_view host, std::uint16_t port) { return fmt::format("{}:{}", host, port); }

std::shared_ptr<const CredentialRule> metrics(std::vector<std::string> hosts) {
  return env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret, std::move(hosts));
}

void use_session(Fixture& f, std::vector<std::string> credential_hosts, std::vector<std::string> environment_hosts = {}) {
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken), {metrics(std::move(credential_hosts))},
                                          std::move(environment_hosts))}));
}

// Sends raw bytes on a plain connection to the proxy and reads one response.
Response plain(Fixture& f, const std::string& bytes, std::string_view method = "GET") {
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(bytes);
  std::string leftover;
  return read_response(stream, leftover, method);
}

Response through_tunnel(Fixture& f, std::string_view host, const std::string& bytes, std::string* head_out = nullptr,
                        std::optional<std::string> sni = std::nullopt) {
  std::string head;
  Stream stream = f.tunnel(host, f.origin.port(), head, proxy_auth(), std::move(sni));
  if (head_out != nullptr) *head_out = head;
  Response response;
  if (!contains(head, " 200 ") || head == "TLS FAILED") return response;
  stream.send(bytes);
  std::string leftover;
  return read_response(stream, leftover);
}

void check_refusal(const Response& response, int status, std::string_view word, std::string_view proxy_status) {
  CHECK(response.status == status);
  CHECK(response.body.rfind(std::string(word) + ": ", 0) == 0);
  REQUIRE(response.header("Proxy-Status") != nullptr);
  CHECK(*response.header("Proxy-Status") == fmt::format("airlock; error={}; details=\"{}\"", proxy_status, word));
  REQUIRE(response.header("X-Airlock-Refusal") != nullptr);
  CHECK(*response.header("X-Airlock-Refusal") == word);
  CHECK(*response.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK_FALSE(contains(response.body, kSecret));
}

}  // namespace

TEST_CASE("407 without a token, with a wrong token, for an unknown session, on CONNECT and absolute-form") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string target = host_port("localhost", f.origin.port());
  const std::vector<std::string> headers = {
      "",
      "Proxy-Authorization: " + proxy_auth(kSession, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff") + "\r\n",
      "Proxy-Authorization: " + proxy_auth("sesn_unknown", kToken) + "\r\n",
      "Proxy-Authorization: Basic not-base64!\r\n",
      "Proxy-Authorization: Bearer " + std::string(kToken) + "\r\n",
      "Proxy-Authorization: " + proxy_auth(kSession, kToken.substr(1)) + "\r\n",
  };
  for (const auto& header : headers) {
    CAPTURE(header);
    const Response connect =
        plain(f, fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\n{}\r\n", target, target, header), "CONNECT");
    check_refusal(connect, 407, "proxy_auth_required", "http_request_denied");
    CHECK(*connect.header("Proxy-Authenticate") == "Basic realm=\"airlock\"");
    CHECK(*connect.header("Connection") == "close");
    const Response absolute =
        plain(f, fmt::format("GET http://{}/echo HTTP/1.1\r\nHost: {}\r\n{}\r\n", target, target, header));
    check_refusal(absolute, 407, "proxy_auth_required", "http_request_denied");
  }
  CHECK(f.origin.connections() == 0);
  const auto record = f.sink.wait_for(2 * headers.size());
  REQUIRE(record);
  CHECK(record->decision == "denied");
  CHECK(record->reason == "proxy_auth_required");
  CHECK(record->session_id == "");
  CHECK(record->status == 407);
  CHECK(record->host == "localhost");
  CHECK(f.proxy->stats().refused.at("proxy_auth_required") == 2 * headers.size());
}

TEST_CASE("the environment's allowed_hosts: other hosts get 403 host_not_allowed") {
  Fixture f;
  use_session(f, {"api.example.test"}, {"api.example.test"});
  f.start();
  SUBCASE("CONNECT to a host outside the list") {
    const Response response = plain(
        f,
        fmt::format("CONNECT localhost:{} HTTP/1.1\r\nHost: localhost\r\nProxy-Authorization: {}\r\n\r\n",
                    f.origin.port(), proxy_auth()),
        "CONNECT");
    check_refusal(response, 403, "host_not_allowed", "http_request_denied");
    CHECK(response.body ==
          "host_not_allowed: localhost is not in this session's environment allowed_hosts; add it to the "
          "environment's config.networking.allowed_hosts to reach it\n");
    CHECK(f.origin.connections() == 0);
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->method == "CONNECT");
    CHECK(record->reason == "host_not_allowed");
    CHECK(record->session_id == kSession);
  }
  SUBCASE("absolute-form to a host outside the list") {
    const Response response = plain(f, fmt::format("GET http://localhost:{}/ HTTP/1.1\r\nHost: localhost:{}\r\n"
                                                   "Proxy-Authorization: {}\r\n\r\n",
                                                   f.origin.port(), f.origin.port(), proxy_auth()));
    check_refusal(response, 403, "host_not_allowed", "http_request_denied");
  }
  SUBCASE("a listed host works") {
    const Response response = through_tunnel(
        f, "api.example.test",
        request("GET", "/echo", host_port("api.example.test", f.origin.port()),
                fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    CHECK(*f.origin.last()->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  }
}

TEST_CASE("placeholder bound for a host the credential does not allow") {
  Fixture f;
  use_session(f, {"localhost"});
  SUBCASE("refused by default, in a header, the target and the body; nothing of it reaches the origin") {
    f.start();
    const std::string host = host_port("evil.test", f.origin.port());
    const Response in_header =
        through_tunnel(f, "evil.test", request("GET", "/echo", host, fmt::format("X-Key: {}\r\n", kPlaceholder)));
    check_refusal(in_header, 403, "placeholder_violation", "http_request_denied");
    CHECK(contains(in_header.body, "METRICS_API_TOKEN"));
    CHECK(contains(in_header.body, "evil.test"));
    const Response in_target =
        through_tunnel(f, "evil.test", request("GET", fmt::format("/x?k={}", kPlaceholder), host));
    check_refusal(in_target, 403, "placeholder_violation", "http_request_denied");
    const std::string body = std::string(5000, 'a') + std::string(kPlaceholder) + "tail";
    const Response in_body = through_tunnel(f, "evil.test", request("POST", "/echo", host, {}, body));
    check_refusal(in_body, 403, "placeholder_violation", "http_request_denied");
    for (const auto& captured : f.origin.requests()) {
      CHECK_FALSE(contains(http1::serialize(captured.head) + captured.body, kPlaceholder));
    }
    CHECK(f.origin.requests().empty());
    REQUIRE(f.sink.wait_for(3));
    for (const auto& record : f.sink.records()) CHECK(record.reason == "placeholder_violation");
  }
  SUBCASE("forwarded unchanged with placeholder_violation: passthrough") {
    ProxyOptions options = f.options();
    options.placeholder_violation_passthrough = true;
    f.start(options);
    const std::string host = host_port("evil.test", f.origin.port());
    const std::string body = fmt::format("k={}", kPlaceholder);
    const Response response = through_tunnel(
        f, "evil.test", request("POST", "/echo", host, fmt::format("X-Key: {}\r\n", kPlaceholder), body));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(*captured->head.headers.find("X-Key") == kPlaceholder);
    CHECK(captured->body == body);
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->decision == "allowed");
    CHECK(record->credentials.empty());
  }
}

TEST_CASE("a held body (substituted, short) that also carries a disallowed placeholder: nothing is sent") {
  Fixture f;
  const std::string other_placeholder = "airlock_ph_OTHER-0123456789abcdefghijklmnopqrstuv";
  f.slot.store(snapshot_of({session_entry(
      std::string(kSession), std::string(kToken),
      {metrics({"localhost"}), env_credential("vcrd_2", "OTHER_KEY", other_placeholder, "other-secret-value", {"api.example.test"})})}));
  f.start();
  const std::string body = fmt::format("a={}&b={}", kPlaceholder, other_placeholder);
  const Response response =
      through_tunnel(f, "localhost", request("POST", "/echo", host_port("localhost", f.origin.port()), {}, body));
  check_refusal(response, 403, "placeholder_violation", "http_request_denied");
  CHECK(contains(response.body, "OTHER_KEY"));
  CHECK(f.origin.requests().empty());
  CHECK(f.origin.connections() <= 1);  // connected and verified, but no request was written on it
}

TEST_CASE("a compressed request body carrying a placeholder is refused, not forwarded") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string body = fmt::format("\x1f\x8b not really gzip {}", kPlaceholder);
  const Response response =
      through_tunnel(f, "localhost",
                     request("POST", "/echo", host_port("localhost", f.origin.port()), "Content-Encoding: gzip\r\n", body));
  check_refusal(response, 415, "compressed_body", "http_request_denied");
  CHECK(contains(response.body, "METRICS_API_TOKEN"));
  CHECK(f.origin.requests().empty());
}

TEST_CASE("plain http:// (absolute-form): no substitution unless allow_plaintext_substitution") {
  Fixture f(Origin::Options{.tls = false, .fixed_name = {}, .record = true, .handler = {}});
  use_session(f, {"localhost"});
  const std::string host = host_port("localhost", f.origin.port());
  const auto absolute = [&](std::string extra, std::string_view body = {}) {
    return fmt::format("{} http://{}/echo?q=1 HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: {}\r\n{}{}\r\n{}",
                       body.empty() ? "GET" : "POST", host, host, proxy_auth(), extra,
                       body.empty() ? std::string() : fmt::format("Content-Length: {}\r\n", body.size()), body);
  };
  SUBCASE("refused by default") {
    f.start();
    const Response response = plain(f, absolute(fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    check_refusal(response, 403, "plaintext_substitution", "http_request_denied");
    const Response in_body = plain(f, absolute({}, fmt::format("t={}", kPlaceholder)));
    check_refusal(in_body, 403, "plaintext_substitution", "http_request_denied");
    CHECK(f.origin.requests().empty());
  }
  SUBCASE("a request without a placeholder goes through, keep-alive, without Proxy-Authorization") {
    f.start();
    Stream stream(connect_tcp(f.proxy_port()));
    std::string leftover;
    for (int i = 0; i < 3; ++i) {
      stream.send(absolute("X-N: 1\r\n"));
      const Response response = read_response(stream, leftover);
      CHECK(response.status == 200);
      CHECK(response.keep_alive);
    }
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(captured->head.target == "/echo?q=1");
    CHECK(captured->head.headers.find("Proxy-Authorization") == nullptr);
    CHECK_FALSE(captured->tls);
    CHECK(f.origin.connections() == 1);
  }
  SUBCASE("substituted when allowed") {
    ProxyOptions options = f.options();
    options.allow_plaintext_substitution = true;
    f.start(options);
    const Response response = plain(f, absolute(fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    CHECK(*f.origin.last()->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
    CHECK_FALSE(contains(response.body, kSecret));
  }
}

TEST_CASE("domain fronting: SNI or Host other than the CONNECT target is 421") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  SUBCASE("SNI") {
    const Response response =
        through_tunnel(f, "localhost", request("GET", "/echo", host, fmt::format("X: {}\r\n", kPlaceholder)), nullptr,
                       std::string("evil.test"));
    check_refusal(response, 421, "host_mismatch", "http_request_denied");
  }
  SUBCASE("Host") {
    const Response response = through_tunnel(
        f, "localhost", request("GET", "/echo", host_port("evil.test", f.origin.port()), fmt::format("X: {}\r\n", kPlaceholder)));
    check_refusal(response, 421, "host_mismatch", "http_request_denied");
  }
  SUBCASE("absolute-form target inside the tunnel") {
    const Response response = through_tunnel(
        f, "localhost", request("GET", fmt::format("https://evil.test:{}/echo", f.origin.port()), host));
    check_refusal(response, 421, "host_mismatch", "http_request_denied");
  }
  CHECK(f.origin.requests().empty());
}

TEST_CASE("upstream certificate failures are 502 upstream_cert_invalid, never forwarded") {
  SUBCASE("untrusted CA") {
    Fixture f;
    use_session(f, {"localhost"});
    ProxyOptions options = f.options();
    options.upstream_ca.clear();
    f.start(options);
    const Response response = through_tunnel(
        f, "localhost",
        request("GET", "/echo", host_port("localhost", f.origin.port()), fmt::format("X: {}\r\n", kPlaceholder)));
    check_refusal(response, 502, "upstream_cert_invalid", "tls_certificate_error");
    // The origin sends (leaf, its CA): the CA is the untrusted, self-signed one.
    CHECK(contains(response.body, "the certificate of localhost failed verification (self-signed certificate in "
                                  "certificate chain (X509 error 19))"));
    CHECK(f.origin.requests().empty());
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->decision == "error");
    CHECK(record->reason == "upstream_cert_invalid");
    CHECK(record->status == 502);
  }
  SUBCASE("certificate for another name") {
    Fixture f(Origin::Options{.tls = true, .fixed_name = "other.test", .record = true, .handler = {}});
    use_session(f, {"localhost"});
    f.start();
    const Response response =
        through_tunnel(f, "localhost", request("GET", "/echo", host_port("localhost", f.origin.port())));
    check_refusal(response, 502, "upstream_cert_invalid", "tls_certificate_error");
    CHECK(contains(response.body, "hostname mismatch"));
    CHECK(f.origin.requests().empty());
  }
}

TEST_CASE("upstream unreachable: 502 upstream_connect_failed") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);  // a port with nobody listening
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::uint16_t dead_port = ntohs(addr.sin_port);
  std::string head;
  Stream stream = f.tunnel("localhost", dead_port, head);
  REQUIRE(contains(head, " 200 "));
  stream.send(request("GET", "/", host_port("localhost", dead_port)));
  std::string leftover;
  const Response response = read_response(stream, leftover);
  ::close(probe);
  check_refusal(response, 502, "upstream_connect_failed", "destination_unavailable");
}

TEST_CASE("request smuggling inputs are refused with 400, in the tunnel and on the plain connection") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  const std::vector<std::string> heads = {
      "POST /echo HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
      "POST /echo HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
      "GET /echo HTTP/1.1\r\nHost: " + host + "\r\nX-A: a\r\n  folded\r\n\r\n",
      "GET /echo HTTP/1.1\nHost: " + host + "\n\n",
      "GET /echo HTTP/1.1\r\nHost: " + host + "\r\nX-A : a\r\n\r\n",
      "GET /echo HTTP/1.1\r\nHost: " + host + "\r\nHost: evil.test\r\n\r\n",
      "GET /echo HTTP/1.1\r\nHost: " + host + "\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  };
  for (const auto& bytes : heads) {
    CAPTURE(bytes.substr(0, 60));
    f.sink.clear();
    const Response inside = through_tunnel(f, "localhost", bytes);
    check_refusal(inside, 400, "bad_request", "http_request_error");
    // Audited as the tunnel's session's, so that it shows in that session's egress, with the tunnel's host.
    // (The previous plain request's record, which has no session, may still arrive after the clear().)
    std::optional<EgressRecord> refused;
    for (int i = 0; i < 2000 && !refused; ++i) {
      for (const EgressRecord& record : f.sink.records()) {
        if (record.reason == "bad_request" && record.session_id == kSession) refused = record;
      }
      if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE_MESSAGE(refused.has_value(), "no bad_request record carries the tunnel's session");
    CHECK(refused->host == "localhost");
    CHECK(refused->status == 400);
    // The same on the plain connection, as an absolute-form request.
    std::string absolute = bytes;
    absolute.replace(absolute.find(' ') + 1, 0, "http://" + host);
    const std::string newline = absolute.find("\r\n") < absolute.find('\n') + 1 ? "\r\n" : "\n";
    absolute.insert(absolute.find(newline) + newline.size(), "Proxy-Authorization: " + proxy_auth() + newline);
    const Response outside = plain(f, absolute);
    check_refusal(outside, 400, "bad_request", "http_request_error");
  }
  CHECK(f.origin.requests().empty());
}

TEST_CASE("a session that ends while its tunnel is open gets 403 session_closed on the next request") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, " 200 "));
  std::string leftover;
  stream.send(request("GET", "/echo", host_port("localhost", f.origin.port())));
  CHECK(read_response(stream, leftover).status == 200);
  f.slot.store(nullptr);  // the session was archived: the next snapshot does not have it
  stream.send(request("GET", "/echo", host_port("localhost", f.origin.port())));
  const Response response = read_response(stream, leftover);
  check_refusal(response, 403, "session_closed", "http_request_denied");
  CHECK(contains(response.body, std::string(kSession)));
}

TEST_CASE("requests that are not proxy requests get 400 with a hint") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const Response origin_form = plain(f, "GET /v1/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
  check_refusal(origin_form, 400, "not_a_proxy_request", "http_request_error");
  const Response https = plain(f, fmt::format("GET https://localhost:{}/ HTTP/1.1\r\nHost: localhost\r\n"
                                              "Proxy-Authorization: {}\r\n\r\n",
                                              f.origin.port(), proxy_auth()));
  check_refusal(https, 400, "bad_request", "http_request_error");
  CHECK(contains(https.body, "send https:// requests through CONNECT (HTTPS_PROXY)"));
  const Response bad_target =
      plain(f, "CONNECT not_a_host:443 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: " + proxy_auth() + "\r\n\r\n", "CONNECT");
  check_refusal(bad_target, 400, "bad_request", "http_request_error");
}

}  // namespace airlock::proxy::test
