// End-to-end tests of substitution and redaction: a real Proxy on 127.0.0.1:0, a real HTTPS origin, real
// TLS on both legs, a blocking client speaking CONNECT. Each test checks both sides: what the client got
// and what the origin actually received, and the audit record.
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

void use_credentials(Fixture& f, std::vector<std::shared_ptr<const CredentialRule>> credentials,
                     std::vector<std::string> environment_hosts = {}) {
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken), std::move(credentials),
                                          std::move(environment_hosts))}));
}

std::shared_ptr<const CredentialRule> metrics(std::vector<std::string> hosts, bool header = true, bool body = true,
                                              bool url = false) {
  return env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret, std::move(hosts), header,
                        body, url);
}

// One request over a fresh tunnel to host:port; the response.
Response exchange(Fixture& f, std::string_view host, std::uint16_t port, const std::string& bytes,
                  std::string_view method = "GET") {
  std::string head;
  Stream stream = f.tunnel(host, port, head);
  if (!contains(head, "200 Connection Established") || head == "TLS FAILED") {
    Response failed;
    failed.head_text = head;
    return failed;
  }
  stream.send(bytes);
  std::string leftover;
  return read_response(stream, leftover, method);
}

std::string host_port(std::string_view host, std::uint16_t port) { return fmt::format("{}:{}", host, port); }

}  // namespace

TEST_CASE("header substitution: the origin gets the secret, the client sees only the placeholder") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"})});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  const Response response = exchange(
      f, "localhost", f.origin.port(),
      request("GET", "/echo?x=1", host, fmt::format("Authorization: Bearer {}\r\nX-Other: a {} b\r\n", kPlaceholder, kPlaceholder)));
  CHECK(response.status == 200);
  CHECK(contains(response.body, fmt::format("Authorization: Bearer {}", kPlaceholder)));
  CHECK_FALSE(contains(response.body, kSecret));
  CHECK_FALSE(contains(response.head_text, kSecret));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  CHECK(*captured->head.headers.find("X-Other") == fmt::format("a {} b", kSecret));
  CHECK(*captured->head.headers.find("Accept-Encoding") == "identity");
  CHECK(captured->head.target == "/echo?x=1");
  CHECK(captured->sni == "localhost");
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->decision == "allowed");
  CHECK(record->reason == "");
  CHECK(record->session_id == kSession);
  CHECK(record->method == "GET");
  CHECK(record->host == "localhost");
  CHECK(record->port == f.origin.port());
  CHECK(record->path == "/echo");
  CHECK(record->status == 200);
  CHECK(record->bytes_up > 0);
  CHECK(record->bytes_down > 0);
  REQUIRE(record->credentials.size() == 1);
  CHECK(record->credentials[0].credential_id == "vcrd_1");
  CHECK(record->credentials[0].secret_name == "METRICS_API_TOKEN");
  CHECK(record->credentials[0].location == "header");
  CHECK(f.proxy->stats().requests_substituted == 1);
}

TEST_CASE("header substitution is off when injection_location.header is false") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"}, false, true)});
  f.start();
  const Response response =
      exchange(f, "localhost", f.origin.port(),
               request("GET", "/echo", host_port("localhost", f.origin.port()),
                       fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
  CHECK(response.status == 200);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kPlaceholder));
  // S11: the host receives the credential (in bodies), so its answer is asked for unencoded all the same.
  CHECK(*captured->head.headers.find("Accept-Encoding") == "identity");
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->credentials.empty());
}

TEST_CASE("Authorization: Basic is decoded, substituted and re-encoded (curl -u user:$TOKEN)") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"})});
  f.start();
  const std::string basic = b64("alice:" + std::string(kPlaceholder));
  const Response response = exchange(f, "localhost", f.origin.port(),
                                     request("GET", "/echo", host_port("localhost", f.origin.port()),
                                             fmt::format("Authorization: Basic {}\r\n", basic)));
  CHECK(response.status == 200);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == "Basic " + b64("alice:" + std::string(kSecret)));
  // The echo carries the Basic value Airlock wrote: it comes back as the one the client sent, and counts
  // as a redaction of the credential it carried. The audit row names the header location.
  CHECK(*response.header("X-Echo-Auth") == "Basic " + basic);
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  REQUIRE(record->credentials.size() == 1);
  CHECK(record->credentials[0].location == "header");
  CHECK(f.proxy->stats().redactions == std::map<std::string, std::uint64_t>{{"METRICS_API_TOKEN", 1}});
}

TEST_CASE("url substitution in path and query only when injection_location.url is on") {
  Fixture f;
  const std::string target = fmt::format("/v1/{}/items?key={}&b=2", kPlaceholder, kPlaceholder);
  SUBCASE("url on") {
    use_credentials(f, {metrics({"localhost"}, false, false, true)});
    f.start();
    const Response response = exchange(f, "localhost", f.origin.port(),
                                       request("GET", target, host_port("localhost", f.origin.port())));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(captured->head.target == fmt::format("/v1/{}/items?key={}&b=2", kSecret, kSecret));
    CHECK_FALSE(contains(response.body, kSecret));  // the echoed target is redacted
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->path == fmt::format("/v1/{}/items", kPlaceholder));  // never the query, never the value
    REQUIRE(record->credentials.size() == 1);
    CHECK(record->credentials[0].location == "url");
  }
  SUBCASE("url off") {
    use_credentials(f, {metrics({"localhost"}, true, true, false)});
    f.start();
    const Response response = exchange(f, "localhost", f.origin.port(),
                                       request("GET", target, host_port("localhost", f.origin.port())));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(captured->head.target == target);
  }
}

TEST_CASE("body substitution: Content-Length fixed, placeholder split across writes") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"})});
  f.start();
  std::string head;
  Stream stream = f.tunnel("localhost", f.origin.port(), head);
  REQUIRE(contains(head, "200"));
  const std::string body = fmt::format("{{\"token\":\"{}\",\"again\":\"{}\"}}", kPlaceholder, kPlaceholder);
  const std::string expected = fmt::format("{{\"token\":\"{}\",\"again\":\"{}\"}}", kSecret, kSecret);
  const std::string bytes = request("POST", "/echo", host_port("localhost", f.origin.port()),
                                    "Content-Type: application/json\r\n", body);
  const std::size_t split = bytes.find(kPlaceholder) + 10;  // inside the first placeholder
  REQUIRE(stream.send(std::string_view(bytes).substr(0, split)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // makes a split read likely; the unit tests cover every split
  REQUIRE(stream.send(std::string_view(bytes).substr(split)));
  std::string leftover;
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 200);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(captured->body == expected);
  CHECK(*captured->head.headers.find("Content-Length") == std::to_string(expected.size()));
  CHECK(captured->head.headers.find("Transfer-Encoding") == nullptr);
  CHECK_FALSE(contains(response.body, kSecret));
  CHECK(contains(response.body, body));
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  REQUIRE(record->credentials.size() == 1);
  CHECK(record->credentials[0].location == "body");
}

TEST_CASE("body substitution: chunked request, placeholder split across chunks, long body re-framed as chunked") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"})});
  ProxyOptions options = f.options();
  options.max_held_body_bytes = 64;  // longer rewritten bodies are re-framed as chunked
  f.start(options);
  const std::string host = host_port("localhost", f.origin.port());
  SUBCASE("chunked in, chunked out") {
    const std::string_view ph = kPlaceholder;
    const std::string body = fmt::format("{:x}\r\nbefore {}\r\n{:x}\r\n{} after\r\n0\r\n\r\n", 7 + 12,
                                         ph.substr(0, 12), ph.size() - 12 + 6, ph.substr(12));
    const Response response = exchange(f, "localhost", f.origin.port(),
                                       request("POST", "/echo", host, "Transfer-Encoding: chunked\r\n") + body);
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(captured->body == fmt::format("before {} after", kSecret));
    CHECK(captured->head.chunked);
  }
  SUBCASE("Content-Length longer than the hold limit: chunked out") {
    const std::string body = std::string(100, 'a') + std::string(kPlaceholder) + std::string(100, 'b');
    const Response response = exchange(f, "localhost", f.origin.port(), request("POST", "/echo", host, {}, body));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(captured->body == std::string(100, 'a') + std::string(kSecret) + std::string(100, 'b'));
    CHECK(captured->head.chunked);
    CHECK(captured->head.headers.find("Content-Length") == nullptr);
  }
}

TEST_CASE("body without injection_location.body is forwarded unchanged") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"}, true, false)});
  f.start();
  const std::string body = fmt::format("x={}", kPlaceholder);
  const Response response = exchange(f, "localhost", f.origin.port(),
                                     request("POST", "/echo", host_port("localhost", f.origin.port()), {}, body));
  CHECK(response.status == 200);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(captured->body == body);
}

TEST_CASE("wildcard allowed_hosts: a subdomain is substituted, the apex is a violation") {
  Fixture f;
  use_credentials(f, {metrics({"*.example.test"})});
  f.start();
  SUBCASE("a.b.example.test") {
    const Response response =
        exchange(f, "a.b.example.test", f.origin.port(),
                 request("GET", "/echo", host_port("a.b.example.test", f.origin.port()),
                         fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
    CHECK(captured->sni == "a.b.example.test");
  }
  SUBCASE("example.test") {
    const Response response =
        exchange(f, "example.test", f.origin.port(),
                 request("GET", "/echo", host_port("example.test", f.origin.port()),
                         fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 403);
    CHECK(response.body == "placeholder_violation: the placeholder of METRICS_API_TOKEN may not be sent to "
                           "example.test; add example.test to that credential's networking.allowed_hosts, or "
                           "remove the placeholder from the request\n");
    CHECK(*response.header("Proxy-Status") == "airlock; error=http_request_denied; details=\"placeholder_violation\"");
    CHECK(f.origin.requests().empty());
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    CHECK(record->decision == "denied");
    CHECK(record->reason == "placeholder_violation");
    CHECK(record->status == 403);
  }
}

TEST_CASE("IPv4 target: no SNI, the upstream certificate is checked against its iPAddress SAN") {
  Fixture f;
  use_credentials(f, {metrics({"127.0.0.1"})});
  f.start();
  const Response response =
      exchange(f, "127.0.0.1", f.origin.port(),
               request("GET", "/echo", host_port("127.0.0.1", f.origin.port()),
                       fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
  CHECK(response.status == 200);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  CHECK(captured->sni.empty());
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->host == "127.0.0.1");
}

TEST_CASE("static_bearer: requests under mcp_server_url get the token, replacing the client's") {
  Fixture f;
  const std::string url = fmt::format("https://mcp.example.test:{}/mcp", f.origin.port());
  use_credentials(f, {bearer_credential("vcrd_mcp", url, "mcp-token-XYZ-0001")});
  f.start();
  const std::string host = host_port("mcp.example.test", f.origin.port());
  SUBCASE("under the prefix") {
    const Response response = exchange(f, "mcp.example.test", f.origin.port(),
                                       request("POST", "/mcp/tools", host, "Authorization: Bearer client\r\n", "{}"));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(*captured->head.headers.find("Authorization") == "Bearer mcp-token-XYZ-0001");
    CHECK(*response.header("X-Echo-Auth") == "Bearer airlock-redacted-token");  // S7 for tokens too
    CHECK_FALSE(contains(response.body, "mcp-token-XYZ-0001"));
    const auto record = f.sink.wait_for(1);
    REQUIRE(record);
    REQUIRE(record->credentials.size() == 1);
    CHECK(record->credentials[0].credential_id == "vcrd_mcp");
    CHECK(record->credentials[0].location == "header");
  }
  SUBCASE("outside the prefix") {
    const Response response =
        exchange(f, "mcp.example.test", f.origin.port(), request("GET", "/mcpx", host, "Authorization: Bearer client\r\n"));
    CHECK(response.status == 200);
    const auto captured = f.origin.last();
    REQUIRE(captured);
    CHECK(*captured->head.headers.find("Authorization") == "Bearer client");
  }
}

TEST_CASE("redaction: an echoed secret comes back as its placeholder, in headers and in a chunked body") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"})});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  SUBCASE("Content-Length body and header") {
    const Response response = exchange(f, "localhost", f.origin.port(),
                                       request("GET", "/echo", host, fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    CHECK(*response.header("X-Echo-Auth") == fmt::format("Bearer {}", kPlaceholder));
    CHECK(*response.header("Content-Length") == std::to_string(response.body.size()));
  }
  SUBCASE("chunked body, the secret split across 7-byte chunks") {
    const Response response =
        exchange(f, "localhost", f.origin.port(),
                 request("GET", "/chunked-echo", host, fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    CHECK(response.complete);
    CHECK(contains(response.body, fmt::format("Authorization: Bearer {}", kPlaceholder)));
    CHECK_FALSE(contains(response.body, kSecret));
  }
  SUBCASE("response trailers are redacted too") {
    const Response response =
        exchange(f, "localhost", f.origin.port(),
                 request("GET", "/trailer-echo", host, fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    CHECK(response.body == "ok");
    REQUIRE(response.trailers.find("X-Echo-Auth") != nullptr);
    CHECK(*response.trailers.find("X-Echo-Auth") == fmt::format("Bearer {}", kPlaceholder));
  }
  SUBCASE("a long Content-Length response is re-framed as chunked") {
    ProxyOptions options = f.options();
    f.proxy.reset();
    options.max_held_body_bytes = 16;
    f.start(options);
    const Response response = exchange(f, "localhost", f.origin.port(),
                                       request("GET", "/echo", host, fmt::format("Authorization: Bearer {}\r\n", kPlaceholder)));
    CHECK(response.status == 200);
    CHECK(response.header("Content-Length") == nullptr);
    CHECK(*response.header("Transfer-Encoding") == "chunked");
    CHECK(contains(response.body, fmt::format("Authorization: Bearer {}", kPlaceholder)));
    CHECK_FALSE(contains(response.body, kSecret));
  }
  REQUIRE(f.sink.wait_for(1));  // counters are updated with the audit record, after the response
  const ProxyStats stats = f.proxy->stats();
  CHECK(stats.responses_redacted == 1);
  CHECK(stats.redactions == std::map<std::string, std::uint64_t>{{"METRICS_API_TOKEN", 1}});
  CHECK(stats.host_requests.empty());  // proxy.metrics_host_labels is off by default
}

TEST_CASE("metrics_host_labels: every exchange counted by host and decision, no redaction counted") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"})}, {"localhost"});
  ProxyOptions options = f.options();
  options.metrics_host_labels = true;
  f.start(options);
  const std::string host = host_port("localhost", f.origin.port());
  CHECK(exchange(f, "localhost", f.origin.port(), request("GET", "/plain", host)).status == 200);
  CHECK(exchange(f, "localhost", f.origin.port(), request("GET", "/plain", host)).status == 200);
  CHECK(exchange(f, "evil.test", f.origin.port(), request("GET", "/", host_port("evil.test", f.origin.port())))
            .status == 0);  // the CONNECT was refused: no tunnel
  REQUIRE(f.sink.wait_for(3));
  const ProxyStats stats = f.proxy->stats();
  using Key = std::pair<std::string, std::string>;
  CHECK(stats.host_requests ==
        std::map<Key, std::uint64_t>{{{"localhost", "allowed"}, 2}, {{"evil.test", "denied"}, 1}});
  CHECK(stats.responses_redacted == 0);
  CHECK(stats.redactions.empty());
}

TEST_CASE("no secret value in any audit record") {
  Fixture f;
  use_credentials(f, {metrics({"localhost"}, true, true, true)});
  f.start();
  const std::string host = host_port("localhost", f.origin.port());
  exchange(f, "localhost", f.origin.port(),
           request("POST", fmt::format("/p/{}?q={}", kPlaceholder, kPlaceholder), host,
                   fmt::format("Authorization: Bearer {}\r\n", kPlaceholder), kPlaceholder));
  exchange(f, "evil.test", f.origin.port(),
           request("GET", "/", host_port("evil.test", f.origin.port()), fmt::format("X: {}\r\n", kPlaceholder)));
  REQUIRE(f.sink.wait_for(2));
  for (const auto& record : f.sink.records()) {
    for (const std::string* field : {&record.session_id, &record.method, &record.host, &record.path, &record.decision,
                                     &record.reason}) {
      CHECK_FALSE(contains(*field, kSecret));
      CHECK_FALSE(contains(*field, "q="));
    }
    for (const auto& use : record.credentials) {
      CHECK_FALSE(contains(use.credential_id + use.secret_name + use.location, kSecret));
    }
  }
}

}  // namespace airlock::proxy::test
