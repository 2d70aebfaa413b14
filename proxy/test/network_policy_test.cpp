// End-to-end network policies (SECURITY.md N4, N5; docs/policy.md): a session's policy decides each
// connection and each request, in the refusal table's words; a body over a rule's cap is a 413 before
// anything is sent; internal: true opens private addresses for its host only; a policy the file lacks
// refuses everything. Each refusal is checked by its exact status, body and audit row, and by what the
// origin saw.
#include <memory>

#include <doctest/doctest.h>

#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

// The tests speak plain HTTP inside their tunnels, so the origin does too.
Origin::Options plain_origin() { return Origin::Options{.tls = false, .fixed_name = {}, .record = true, .handler = {}}; }

constexpr std::string_view kPolicies = R"(policies:
  agent:
    default: deny
    rules:
      - allow: api.example.test
        methods: [GET, POST]
        paths: [/v1/]
        max_request_body_bytes: 10
      - allow: localhost
        internal: true
      - deny: evil.test
)";

std::shared_ptr<const policies::PolicySet> policy_set() {
  return std::make_shared<const policies::PolicySet>(policies::parse_policies(kPolicies, "p.yaml").value());
}

// A session under `policy` (or naming a policy the file lacks, when `unknown` is set).
void use_policy(Fixture& f, const std::shared_ptr<const policies::PolicySet>& set, std::string_view unknown = {}) {
  SessionEntry entry = session_entry(std::string(kSession), std::string(kToken), {}, {});
  if (unknown.empty()) {
    entry.policy = std::shared_ptr<const policies::Policy>(set, set->find("agent"));
  } else {
    entry.unknown_policy = std::string(unknown);
  }
  f.slot.store(snapshot_of({std::move(entry)}));
}

Response connect_to(Fixture& f, std::string_view host, std::uint16_t port) {
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("CONNECT {}:{} HTTP/1.1\r\nHost: {}:{}\r\nProxy-Authorization: {}\r\n\r\n", host, port, host,
                          port, proxy_auth()));
  std::string leftover;
  return read_response(stream, leftover, "CONNECT");
}

// Opens a plain-HTTP tunnel to host:port and sends each request in turn, returning every response; stops
// at the first that closes the connection.
std::vector<Response> in_tunnel(Fixture& f, std::string_view host, std::uint16_t port, std::vector<std::string> requests) {
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("CONNECT {}:{} HTTP/1.1\r\nHost: {}:{}\r\nProxy-Authorization: {}\r\n\r\n", host, port, host,
                          port, proxy_auth()));
  std::string leftover;
  REQUIRE(read_response(stream, leftover, "CONNECT").status == 200);
  std::vector<Response> out;
  for (const std::string& request : requests) {
    stream.send(request);
    out.push_back(read_response(stream, leftover));
    if (out.back().status != 200) break;
  }
  return out;
}

std::string request(std::string_view method, std::string_view path, std::string_view host, std::uint16_t port,
                    std::string_view body = {}) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}:{}\r\n", method, path, host, port);
  if (!body.empty()) out += fmt::format("Content-Length: {}\r\n", body.size());
  return out + "\r\n" + std::string(body);
}

// The refusal's audit row.
void check_audited(Fixture& f, std::string_view reason, int status, std::string_view host = "api.example.test") {
  const std::optional<EgressRecord> found = f.sink.wait_for_reason(reason);
  REQUIRE(found);
  CHECK(found->status == status);
  CHECK(found->decision == "denied");
  CHECK(found->host == host);
}

}  // namespace

TEST_CASE("policy: a host no rule allows is refused at CONNECT, by the default or by a deny rule") {
  Fixture f(plain_origin());
  const auto set = policy_set();
  use_policy(f, set);
  f.start();
  const std::uint16_t port = f.origin.port();
  const Response other = connect_to(f, "example.test", port);
  CHECK(other.status == 403);
  CHECK(other.body == fmt::format("policy_denied: the network policy agent denies connections to example.test:{} (no "
                                  "rule matches and its default is deny); change the policy file (proxy.policy_file) "
                                  "and reload to allow it\n",
                                  port));
  check_audited(f, "policy_denied", 403, "example.test");
  f.sink.clear();
  const Response evil = connect_to(f, "evil.test", port);
  CHECK(evil.body == fmt::format("policy_denied: the network policy agent denies connections to evil.test:{} (the rule "
                                 "at p.yaml:11); change the policy file (proxy.policy_file) and reload to allow it\n",
                                 port));
  CHECK(f.origin.connections() == 0);
}

TEST_CASE("policy: each request inside an allowed tunnel is decided by method, path and body size") {
  Fixture f(plain_origin());
  const auto set = policy_set();
  use_policy(f, set);
  f.start();
  const std::uint16_t port = f.origin.port();
  const std::string_view host = "api.example.test";

  auto allowed = in_tunnel(f, host, port, {request("GET", "/v1/echo?q=1", host, port), request("POST", "/v1/echo", host, port, "0123456789")});
  REQUIRE(allowed.size() == 2);
  CHECK(allowed[0].status == 200);
  CHECK(allowed[1].status == 200);
  CHECK(f.origin.requests().size() == 2);

  f.sink.clear();
  auto wrong_path = in_tunnel(f, host, port, {request("GET", "/v2/echo?token=x", host, port)});
  REQUIRE(wrong_path.size() == 1);
  CHECK(wrong_path[0].status == 403);
  CHECK(wrong_path[0].body ==
        fmt::format("policy_denied: the network policy agent denies GET /v2/echo on api.example.test:{} (no rule "
                    "matches and its default is deny); change the policy file (proxy.policy_file) and reload to allow "
                    "it\n",
                    port));
  check_audited(f, "policy_denied", 403);

  f.sink.clear();
  auto wrong_method = in_tunnel(f, host, port, {request("DELETE", "/v1/echo", host, port)});
  CHECK(wrong_method.at(0).status == 403);

  f.sink.clear();
  auto too_large = in_tunnel(f, host, port, {request("POST", "/v1/echo", host, port, "0123456789A")});
  CHECK(too_large.at(0).status == 413);
  CHECK(too_large.at(0).body == "request_body_too_large: the body is 11 bytes and the network policy agent allows at "
                                "most 10 to api.example.test (the rule at p.yaml:5)\n");
  check_audited(f, "request_body_too_large", 413);

  f.sink.clear();
  auto chunked = in_tunnel(f, host, port,
                           {fmt::format("POST /v1/echo HTTP/1.1\r\nHost: {}:{}\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        "1\r\na\r\n0\r\n\r\n",
                                        host, port)});
  CHECK(chunked.at(0).status == 413);
  CHECK(chunked.at(0).body == "request_body_too_large: the body's length is not declared (chunked) and the network "
                              "policy agent allows at most 10 bytes to api.example.test (the rule at p.yaml:5); send "
                              "the body with Content-Length\n");
  CHECK(f.origin.requests().size() == 2);  // none of the refused ones arrived
}

TEST_CASE("policy: absolute-form requests are decided the same way") {
  Fixture f(plain_origin());
  const auto set = policy_set();
  use_policy(f, set);
  f.start();
  const std::uint16_t port = f.origin.port();
  Stream stream(connect_tcp(f.proxy_port()));
  stream.send(fmt::format("GET http://api.example.test:{}/v2/x HTTP/1.1\r\nHost: api.example.test:{}\r\n"
                          "Proxy-Authorization: {}\r\n\r\n",
                          port, port, proxy_auth()));
  std::string leftover;
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 403);
  CHECK(response.body.rfind("policy_denied: the network policy agent denies GET /v2/x on api.example.test:", 0) == 0);
  CHECK(f.origin.connections() == 0);
}

TEST_CASE("policy: internal: true lets its host resolve to a private address, other hosts stay refused") {
  Fixture f(plain_origin());
  const auto set = policy_set();
  use_policy(f, set);
  ProxyOptions options = f.options();
  options.allow_private.clear();  // loopback is opened only by the rule
  f.start(options);
  const std::uint16_t port = f.origin.port();
  auto internal = in_tunnel(f, "localhost", port, {request("GET", "/echo", "localhost", port)});
  CHECK(internal.at(0).status == 200);
  CHECK(f.origin.requests().size() == 1);

  f.sink.clear();
  auto outside = in_tunnel(f, "api.example.test", port, {request("GET", "/v1/echo", "api.example.test", port)});
  CHECK(outside.at(0).status == 403);
  CHECK(outside.at(0).body ==
        "address_not_allowed: api.example.test resolves to 127.0.0.1, which is loopback (127.0.0.0/8); allow it with "
        "--allow-private 127.0.0.1/32, or name the host in a policy rule with internal: true\n");
  // Airlock's own listener stays refused even for an internal host.
  f.sink.clear();
  const Response self = connect_to(f, "localhost", f.proxy_port());
  CHECK(self.status == 200);  // a name: checked once resolved, at the first request
  auto to_self = in_tunnel(f, "localhost", f.proxy_port(), {request("GET", "/", "localhost", f.proxy_port())});
  CHECK(to_self.at(0).status == 403);
  CHECK(to_self.at(0).body == fmt::format("address_not_allowed: localhost resolves to 127.0.0.1, which is Airlock's own "
                                          "proxy listener (127.0.0.1:{}); Airlock never proxies to itself\n",
                                          f.proxy_port()));
}

TEST_CASE("policy: an environment naming a policy the file lacks is refused everything") {
  Fixture f(plain_origin());
  const auto set = policy_set();
  use_policy(f, set, "typo-policy");
  f.start();
  const Response response = connect_to(f, "api.example.test", f.origin.port());
  CHECK(response.status == 403);
  CHECK(response.body == fmt::format("policy_not_found: the environment of session {} names the network policy "
                                     "\"typo-policy\", which the policy file does not define; add it to the file "
                                     "(proxy.policy_file) and reload, or change the environment's metadata "
                                     "airlock.policy\n",
                                     kSession));
  check_audited(f, "policy_not_found", 403);
  CHECK(f.origin.connections() == 0);
}

}  // namespace airlock::proxy::test
