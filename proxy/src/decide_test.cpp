// Unit tests of decide() (pure): the substitution rules of SECURITY.md S1, S5, S9 and API.md §9 over
// request heads, without sockets.
#include <doctest/doctest.h>

#include "decide.hpp"
#include "rewrite.hpp"
#include "test_support.hpp"

namespace airlock::proxy {

namespace {

using test::env_credential;

constexpr std::string_view kPh = "airlock_ph_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr std::string_view kPh2 = "airlock_ph_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

http1::RequestHead head(std::string method, std::string target, std::vector<http1::Header> fields,
                        std::optional<std::uint64_t> length = std::nullopt) {
  http1::RequestHead h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.headers.fields = std::move(fields);
  h.content_length = length;
  return h;
}

VerifiedUpstream upstream(std::string_view host, bool tls = true, std::uint16_t port = 443) {
  return VerifiedUpstream::for_test(*certs::validate_host(host), port, tls);
}

SessionEntry session(std::vector<std::shared_ptr<const CredentialRule>> credentials,
                     std::vector<std::string> environment = {}) {
  return test::session_entry("sesn_1", "tok", std::move(credentials), std::move(environment));
}

}  // namespace

TEST_CASE("decide: environment policy first") {
  const auto s = session({}, {"api.example.com", "*.internal.example"});
  CHECK(std::holds_alternative<Plan>(decide(head("GET", "/", {}), upstream("api.example.com"), s, {})));
  CHECK(std::holds_alternative<Plan>(decide(head("GET", "/", {}), upstream("a.internal.example"), s, {})));
  const auto refused = decide(head("GET", "/", {}), upstream("internal.example"), s, {});
  REQUIRE(std::holds_alternative<Refuse>(refused));
  CHECK(std::get<Refuse>(refused).reason == Reason::host_not_allowed);
}

TEST_CASE("decide: where each placeholder may be substituted") {
  const auto header_only = env_credential("c1", "A", std::string(kPh), "v1", {"api.example.com"}, true, false, false);
  const auto everywhere = env_credential("c2", "B", std::string(kPh2), "v2", {}, true, true, true);
  const auto s = session({header_only, everywhere});
  const auto h = head("POST", fmt::format("/x?a={}&b={}", kPh, kPh2),
                      {{"Authorization", fmt::format("Bearer {}", kPh)}, {"X-Other", std::string(kPh2)}}, 10);
  const auto decision = decide(h, upstream("api.example.com"), s, {});
  REQUIRE(std::holds_alternative<Plan>(decision));
  const Plan& plan = std::get<Plan>(decision);
  REQUIRE(plan.header.size() == 2);
  CHECK(plan.header[0]->credential_id == "c1");
  CHECK(plan.header[1]->credential_id == "c2");
  REQUIRE(plan.url.size() == 1);  // c1 has url off: its placeholder stays in the target
  CHECK(plan.url[0]->credential_id == "c2");
  REQUIRE(plan.body.size() == 1);
  CHECK(plan.body[0]->credential_id == "c2");
  CHECK(plan.watch.empty());
}

TEST_CASE("decide: a placeholder for a host its credential does not allow") {
  const auto limited = env_credential("c1", "METRICS", std::string(kPh), "v1", {"api.example.com"});
  const auto s = session({limited});
  const auto other = upstream("evil.example");
  SUBCASE("in a header") {
    const auto d = decide(head("GET", "/", {{"X-Key", std::string(kPh)}}), other, s, {});
    REQUIRE(std::holds_alternative<Refuse>(d));
    CHECK(std::get<Refuse>(d).reason == Reason::placeholder_violation);
    CHECK(std::get<Refuse>(d).credential == limited.get());
  }
  SUBCASE("inside Authorization: Basic (S5)") {
    const auto d =
        decide(head("GET", "/", {{"Authorization", "Basic " + test::b64("u:" + std::string(kPh))}}), other, s, {});
    REQUIRE(std::holds_alternative<Refuse>(d));
    CHECK(std::get<Refuse>(d).reason == Reason::placeholder_violation);
  }
  SUBCASE("in the target, even with url off") {
    const auto d = decide(head("GET", fmt::format("/{}", kPh), {}), other, s, {});
    REQUIRE(std::holds_alternative<Refuse>(d));
  }
  SUBCASE("in Proxy-Authorization: never forwarded, not a violation") {
    CHECK(std::holds_alternative<Plan>(decide(head("GET", "/", {{"Proxy-Authorization", std::string(kPh)}}), other, s, {})));
  }
  SUBCASE("the body is watched") {
    const auto d = decide(head("POST", "/", {}, 5), other, s, {});
    REQUIRE(std::holds_alternative<Plan>(d));
    REQUIRE(std::get<Plan>(d).watch.size() == 1);
    CHECK(std::get<Plan>(d).watch[0].reason == Reason::placeholder_violation);
    CHECK(std::get<Plan>(d).body.empty());
  }
  SUBCASE("passthrough mode: nothing refused, nothing substituted, nothing watched") {
    const auto d = decide(head("POST", "/", {{"X-Key", std::string(kPh)}}, 5), other, s, {.violation_passthrough = true});
    REQUIRE(std::holds_alternative<Plan>(d));
    const Plan& plan = std::get<Plan>(d);
    CHECK(plan.header.empty());
    CHECK(plan.watch.empty());
    CHECK(plan.body.empty());
  }
}

TEST_CASE("decide: plain http:// (S9) and compressed bodies (S5)") {
  const auto c = env_credential("c1", "A", std::string(kPh), "v1", {"api.example.com"});
  const auto s = session({c});
  const auto plain = upstream("api.example.com", false, 80);
  SUBCASE("plaintext header substitution refused unless allowed") {
    const auto h = head("GET", "/", {{"X-Key", std::string(kPh)}});
    const auto d = decide(h, plain, s, {});
    REQUIRE(std::holds_alternative<Refuse>(d));
    CHECK(std::get<Refuse>(d).reason == Reason::plaintext_substitution);
    const auto allowed = decide(h, plain, s, {.allow_plaintext_substitution = true});
    REQUIRE(std::holds_alternative<Plan>(allowed));
    CHECK(std::get<Plan>(allowed).header.size() == 1);
  }
  SUBCASE("plaintext URL substitution refused unless allowed") {
    const auto in_url = env_credential("c2", "B", std::string(kPh2), "v2", {"api.example.com"}, false, false, true);
    const auto with_url = session({in_url});
    const auto h = head("GET", fmt::format("/v1/items?key={}", kPh2), {});
    const auto d = decide(h, plain, with_url, {});
    REQUIRE(std::holds_alternative<Refuse>(d));
    CHECK(std::get<Refuse>(d).reason == Reason::plaintext_substitution);
    CHECK(std::get<Refuse>(d).credential == in_url.get());
    const auto allowed = decide(h, plain, with_url, {.allow_plaintext_substitution = true});
    REQUIRE(std::holds_alternative<Plan>(allowed));
    CHECK(std::get<Plan>(allowed).url.size() == 1);
    // Over TLS the same request is substituted.
    const auto tls = decide(h, upstream("api.example.com"), with_url, {});
    REQUIRE(std::holds_alternative<Plan>(tls));
    CHECK(std::get<Plan>(tls).url.size() == 1);
  }
  SUBCASE("plaintext body is watched") {
    const auto d = decide(head("POST", "/", {}, 3), plain, s, {});
    REQUIRE(std::holds_alternative<Plan>(d));
    REQUIRE(std::get<Plan>(d).watch.size() == 1);
    CHECK(std::get<Plan>(d).watch[0].reason == Reason::plaintext_substitution);
  }
  SUBCASE("compressed body is watched, not rewritten") {
    const auto d = decide(head("POST", "/", {{"Content-Encoding", "gzip"}}, 3), upstream("api.example.com"), s, {});
    REQUIRE(std::holds_alternative<Plan>(d));
    REQUIRE(std::get<Plan>(d).watch.size() == 1);
    CHECK(std::get<Plan>(d).watch[0].reason == Reason::compressed_body);
    CHECK(std::get<Plan>(d).body.empty());
    const auto identity = decide(head("POST", "/", {{"Content-Encoding", " identity "}}, 3), upstream("api.example.com"), s, {});
    CHECK(std::get<Plan>(identity).body.size() == 1);
  }
  SUBCASE("no body: nothing watched") {
    const auto d = decide(head("GET", "/", {}), upstream("api.example.com"), s, {});
    CHECK(std::get<Plan>(d).watch.empty());
    CHECK(std::get<Plan>(d).body.empty());
  }
}

TEST_CASE("decide: static_bearer matches scheme, host, port and a path prefix at a segment boundary") {
  const auto mcp = test::bearer_credential("b1", "https://mcp.example.com/v1/mcp", "tok1");
  const auto deeper = test::bearer_credential("b2", "https://mcp.example.com/v1/mcp/special", "tok2");
  const auto s = session({mcp, deeper});
  const auto at = [&](std::string target, const VerifiedUpstream& u) {
    const auto d = decide(head("POST", std::move(target), {}), u, s, {.allow_plaintext_substitution = true});
    const CredentialRule* bearer = std::get<Plan>(d).bearer;
    return bearer == nullptr ? std::string() : bearer->credential_id;
  };
  const auto https = upstream("mcp.example.com");
  CHECK(at("/v1/mcp", https) == "b1");
  CHECK(at("/v1/mcp?x=1", https) == "b1");
  CHECK(at("/v1/mcp/tools", https) == "b1");
  CHECK(at("/v1/mcp/special/x", https) == "b2");  // the longest prefix wins
  CHECK(at("/v1/mcpx", https) == "");
  CHECK(at("/v1", https) == "");
  CHECK(at("/v1/mcp", upstream("mcp.example.com", true, 8443)) == "");
  CHECK(at("/v1/mcp", upstream("mcp.example.com", false, 443)) == "");
  CHECK(at("/v1/mcp", upstream("other.example.com")) == "");
}

TEST_CASE("decide: reflect lists the credentials that may reach the host, whether or not the request carries them") {
  const auto api = env_credential("c1", "A", std::string(kPh), "v1", {"api.example.com"});
  const auto other = env_credential("c2", "B", std::string(kPh2), "v2", {"other.example.com"});
  const auto mcp = test::bearer_credential("b1", "https://mcp.example.com/v1/mcp", "tok1");
  const auto s = session({api, other, mcp});
  const auto reflect_ids = [&](const VerifiedUpstream& u) {
    const auto d = decide(head("GET", "/", {}), u, s, {});
    std::vector<std::string> ids;
    for (const CredentialRule* c : std::get<Plan>(d).reflect) ids.push_back(c->credential_id);
    return ids;
  };
  CHECK(reflect_ids(upstream("api.example.com")) == std::vector<std::string>{"c1"});
  CHECK(reflect_ids(upstream("other.example.com")) == std::vector<std::string>{"c2"});
  CHECK(reflect_ids(upstream("mcp.example.com")) == std::vector<std::string>{"b1"});  // any path on its origin
  CHECK(reflect_ids(upstream("mcp.example.com", true, 8443)).empty());
  CHECK(reflect_ids(upstream("echo.example.net")).empty());  // S10: nothing to scan for, nothing scanned
}

TEST_CASE("decide: an Upgrade toward a host that receives credentials is refused (S11), elsewhere it is allowed") {
  const auto api = env_credential("c1", "A", std::string(kPh), "v1", {"api.example.com"});
  const auto s = session({api});
  auto h = head("GET", "/ws", {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}});
  h.upgrade = true;
  const auto refused = decide(h, upstream("api.example.com"), s, {});
  REQUIRE(std::holds_alternative<Refuse>(refused));
  CHECK(std::get<Refuse>(refused).reason == Reason::upgrade_refused);
  CHECK(std::get<Refuse>(refused).credential->credential_id == "c1");
  CHECK(std::holds_alternative<Plan>(decide(h, upstream("chat.example.net"), s, {})));
}

TEST_CASE("rewrite: toward a host that receives credentials, identity encoding and no ranges, even with no substitution") {
  const auto api = env_credential("c1", "A", std::string(kPh), "v1", {"api.example.com"});
  const auto s = session({api});
  const auto h = head("GET", "/stored", {{"Host", "api.example.com"}, {"Accept-Encoding", "gzip, br"},
                                         {"Range", "bytes=0-3"}, {"If-Range", "\"e1\""}});
  const Plan plan = std::get<Plan>(decide(h, upstream("api.example.com"), s, {}));
  const UpstreamRequest to_api = rewrite_head(h, "/stored", "", plan);
  CHECK(*to_api.head.headers.find("Accept-Encoding") == "identity");
  CHECK(to_api.head.headers.find("Range") == nullptr);
  CHECK(to_api.head.headers.find("If-Range") == nullptr);
  const Plan elsewhere = std::get<Plan>(decide(h, upstream("cdn.example.net"), s, {}));
  const UpstreamRequest to_cdn = rewrite_head(h, "/stored", "", elsewhere);
  CHECK(*to_cdn.head.headers.find("Accept-Encoding") == "gzip, br");
  CHECK(*to_cdn.head.headers.find("Range") == "bytes=0-3");
}

}  // namespace airlock::proxy
