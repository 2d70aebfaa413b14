// Unit tests of the rewrite stage (pure): the upstream head, the streaming BodyFilter at every split
// point (substitution, watches), the body framing, and the refusal table. Redaction: redact_test.cpp.
#include <doctest/doctest.h>

#include <random>

#include "refusal.hpp"
#include "rewrite.hpp"
#include "target.hpp"
#include "test_support.hpp"

namespace airlock::proxy {

namespace {

constexpr std::string_view kPh = "airlock_ph_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr std::string_view kValue = "sk-value-1";

std::shared_ptr<const CredentialRule> credential(bool header = true, bool body = true, bool url = true) {
  return test::env_credential("c1", "A", std::string(kPh), kValue, {}, header, body, url);
}

// Feeds `input` in pieces split at the given points; returns the output, or "VIOLATION@<bytes out>".
std::string run_filter(BodyFilter filter, std::string_view input, const std::vector<std::size_t>& splits) {
  std::string out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= splits.size(); ++i) {
    const std::size_t end = i < splits.size() ? splits[i] : input.size();
    std::string piece;
    if (filter.feed(input.substr(start, end - start), piece) != nullptr) return "VIOLATION:" + out;
    out += piece;
    start = end;
  }
  std::string tail;
  if (filter.finish(tail) != nullptr) return "VIOLATION:" + out;
  return out + tail;
}

}  // namespace

TEST_CASE("rewrite_head: hop-by-hop fields go, substitutions are made, framing is left to the caller") {
  const auto c = credential();
  http1::RequestHead client;
  client.method = "POST";
  client.target = "http://ignored/x";
  client.version_minor = 0;
  client.headers.fields = {{"Host", "api.example.com"},
                           {"Connection", "keep-alive, X-Hop"},
                           {"X-Hop", "1"},
                           {"Keep-Alive", "timeout=5"},
                           {"Proxy-Authorization", "Basic abc"},
                           {"Proxy-Connection", "keep-alive"},
                           {"TE", "trailers"},
                           {"Expect", "100-continue"},
                           {"Content-Length", "10"},
                           {"Authorization", "Basic " + test::b64("u:" + std::string(kPh))},
                           {"X-Key", fmt::format("{} and {}", kPh, kPh)},
                           {"Accept-Encoding", "gzip"}};
  Plan plan;
  plan.header = {c.get()};
  plan.url = {c.get()};
  const UpstreamRequest out = rewrite_head(client, fmt::format("/v1/{}?k={}", kPh, kPh), "api.example.com", plan);
  CHECK(out.head.target == fmt::format("/v1/{}?k={}", kValue, kValue));
  CHECK(out.head.version_minor == 1);
  std::vector<std::string> names;
  for (const auto& field : out.head.headers.fields) names.push_back(field.name);
  CHECK(names == std::vector<std::string>{"Host", "Authorization", "X-Key", "Accept-Encoding"});
  CHECK(*out.head.headers.find("Authorization") == "Basic " + test::b64("u:" + std::string(kValue)));
  CHECK(*out.head.headers.find("X-Key") == fmt::format("{} and {}", kValue, kValue));
  CHECK(*out.head.headers.find("Accept-Encoding") == "identity");
  REQUIRE(out.uses.size() == 2);
  CHECK(out.uses[0].location == "url");
  CHECK(out.uses[1].location == "header");
}

TEST_CASE("rewrite_head: the Basic scheme inside Authorization is matched in any case") {
  // RFC 9110 section 11.1: the scheme is case-insensitive, and decide() finds the placeholder under any case.
  const auto c = credential();
  for (const std::string scheme : {"basic", "BASIC", "bAsIc"}) {
    CAPTURE(scheme);
    http1::RequestHead client;
    client.method = "GET";
    client.target = "/";
    client.headers.fields = {{"Host", "api.example.com"},
                             {"Authorization", scheme + " " + test::b64("u:" + std::string(kPh))}};
    Plan plan;
    plan.header = {c.get()};
    const UpstreamRequest out = rewrite_head(client, "/", "api.example.com", plan);
    CHECK(*out.head.headers.find("Authorization") == scheme + " " + test::b64("u:" + std::string(kValue)));
    REQUIRE(out.uses.size() == 1);
    CHECK(out.uses[0].location == "header");
    REQUIRE(out.written.size() == 1);
    CHECK(out.written[0].written == test::b64("u:" + std::string(kValue)));
    CHECK(out.written[0].sent == test::b64("u:" + std::string(kPh)));
  }
}

TEST_CASE("rewrite_head: Host added when missing, Upgrade kept for an upgrade, nothing substituted without a plan") {
  http1::RequestHead client;
  client.method = "GET";
  client.target = "/ws";
  client.upgrade = true;
  client.headers.fields = {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"X-Key", std::string(kPh)}};
  const UpstreamRequest out = rewrite_head(client, "/ws", "h.example:8443", Plan{});
  CHECK(*out.head.headers.find("Host") == "h.example:8443");
  CHECK(*out.head.headers.find("Upgrade") == "websocket");
  CHECK(*out.head.headers.find("Connection") == "Upgrade");
  CHECK(*out.head.headers.find("X-Key") == kPh);
  CHECK(out.head.headers.find("Accept-Encoding") == nullptr);
  CHECK(out.uses.empty());
}

TEST_CASE("rewrite_head: static_bearer replaces the client's Authorization") {
  const auto bearer = test::bearer_credential("b1", "https://mcp.example/", "tok-1");
  http1::RequestHead client;
  client.method = "GET";
  client.target = "/";
  client.headers.fields = {{"Authorization", "Bearer mine"}, {"authorization", "Basic x"}};
  Plan plan;
  plan.bearer = bearer.get();
  const UpstreamRequest out = rewrite_head(client, "/", "mcp.example", plan);
  CHECK(out.head.headers.fields.size() == 3);  // Authorization, Host, Accept-Encoding
  CHECK(*out.head.headers.find("Authorization") == "Bearer tok-1");
  REQUIRE(out.uses.size() == 1);
  CHECK(out.uses[0].credential_id == "b1");
}

TEST_CASE("rewrite_head: a model-provider static_bearer puts the raw token in x-api-key, not in Authorization") {
  const auto model = test::bearer_credential("llm", "https://api.model.example", "sk-model-token-1",
                                             CredentialRule::BearerHeader::x_api_key);
  http1::RequestHead client;
  client.method = "POST";
  client.target = "/v1/messages";
  client.headers.fields = {{"X-Api-Key", "placeholder-ish junk"}, {"x-api-key", "another"},
                           {"anthropic-version", "2023-06-01"}, {"Host", "api.model.example"}};
  Plan plan;
  plan.bearer = model.get();
  const UpstreamRequest out = rewrite_head(client, "/v1/messages", "api.model.example", plan);
  CHECK(out.head.headers.fields.size() == 4);  // x-api-key, anthropic-version, Host, Accept-Encoding
  int keys = 0;
  for (const auto& field : out.head.headers.fields) {
    if (iequals(field.name, "x-api-key")) {
      ++keys;
      CHECK(field.value == "sk-model-token-1");
    }
  }
  CHECK(keys == 1);
  CHECK(out.head.headers.find("Authorization") == nullptr);
  CHECK(*out.head.headers.find("anthropic-version") == "2023-06-01");
  REQUIRE(out.uses.size() == 1);
  CHECK(out.uses[0].credential_id == "llm");
  CHECK(out.uses[0].location == "header");

  SUBCASE("no key sent: one is added; a client's Authorization is left as it was") {
    client.headers.fields = {{"Authorization", "Bearer mine"}};
    const UpstreamRequest added = rewrite_head(client, "/v1/messages", "api.model.example", plan);
    CHECK(*added.head.headers.find("x-api-key") == "sk-model-token-1");
    CHECK(*added.head.headers.find("Authorization") == "Bearer mine");
  }

  SUBCASE("the same request to an ordinary static_bearer gets Authorization: Bearer and keeps x-api-key") {
    const auto bearer = test::bearer_credential("b1", "https://api.model.example", "tok-1");
    plan.bearer = bearer.get();
    const UpstreamRequest ordinary = rewrite_head(client, "/v1/messages", "api.model.example", plan);
    CHECK(*ordinary.head.headers.find("Authorization") == "Bearer tok-1");
    CHECK(*ordinary.head.headers.find("x-api-key") == "placeholder-ish junk");
  }
}

TEST_CASE("BodyFilter: substitution gives the same output at every split point, and with random chunkings") {
  const auto c = credential();
  Plan plan;
  plan.body = {c.get()};
  const std::string input = fmt::format("{}{{\"a\":\"{}\",\"b\":\"x{}y\"}}{}", kPh, kPh, kPh, kPh.substr(0, 20));
  const std::string expected = fmt::format("{}{{\"a\":\"{}\",\"b\":\"x{}y\"}}{}", kValue, kValue, kValue, kPh.substr(0, 20));
  CHECK(run_filter(BodyFilter::for_request(plan), input, {}) == expected);
  for (std::size_t a = 0; a <= input.size(); ++a) {
    CAPTURE(a);
    CHECK(run_filter(BodyFilter::for_request(plan), input, {a}) == expected);
  }
  const char* seed_text = std::getenv("AIRLOCK_TEST_SEED");
  const unsigned seed = seed_text != nullptr ? static_cast<unsigned>(std::strtoul(seed_text, nullptr, 10)) : std::random_device{}();
  CAPTURE(seed);  // replay with AIRLOCK_TEST_SEED=<seed>
  std::mt19937 random(seed);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::size_t> splits;
    for (std::size_t at = 0;;) {
      at += 1 + random() % 9;
      if (at >= input.size()) break;
      splits.push_back(at);
    }
    CHECK(run_filter(BodyFilter::for_request(plan), input, splits) == expected);
  }
  BodyFilter filter = BodyFilter::for_request(plan);
  CHECK(filter.changes_length());
  std::string out;
  filter.feed(input, out);
  filter.finish(out);
  REQUIRE(filter.uses().size() == 1);
  CHECK(filter.uses()[0].location == "body");
}

TEST_CASE("BodyFilter: a watched placeholder is caught before any of it is handed out, at every split point") {
  const auto c = credential();
  Plan plan;
  plan.watch = {BodyWatch{c.get(), Reason::placeholder_violation}};
  const std::string input = "0123456789" + std::string(kPh) + "tail";
  for (std::size_t a = 0; a <= input.size(); ++a) {
    for (std::size_t b = a; b <= input.size(); b += 7) {
      CAPTURE(a);
      CAPTURE(b);
      const std::string result = run_filter(BodyFilter::for_request(plan), input, {a, b});
      REQUIRE(result.rfind("VIOLATION:", 0) == 0);
      // What went out before the refusal is a prefix of the bytes before the placeholder.
      CHECK(std::string_view("0123456789").starts_with(result.substr(10)));
    }
  }
  BodyFilter watch_only = BodyFilter::for_request(plan);
  CHECK_FALSE(watch_only.changes_length());
  CHECK(run_filter(BodyFilter::for_request(plan), "no placeholder here", {5}) == "no placeholder here");
}

TEST_CASE("BodyEncoder: chunked framing with trailers, length framing untouched") {
  std::string out;
  const BodyEncoder chunked(Framing::chunked);
  chunked.append(out, "hello");
  chunked.append(out, "");
  chunked.append(out, std::string(26, 'z'));
  http1::Headers trailers;
  trailers.fields = {{"X-Checksum", "abc"}};
  chunked.finish(out, &trailers);
  CHECK(out == "5\r\nhello\r\n1a\r\n" + std::string(26, 'z') + "\r\n0\r\nX-Checksum: abc\r\n\r\n");
  std::string plain;
  const BodyEncoder length(Framing::length);
  length.append(plain, "abc");
  length.finish(plain, &trailers);
  CHECK(plain == "abc");
}

TEST_CASE("refusal table: every row renders a complete response with its word, token and hint") {
  for (std::size_t i = 0; i < static_cast<std::size_t>(Reason::count); ++i) {
    const auto reason = static_cast<Reason>(i);
    const RefusalRow& row = refusal_row(reason);
    CAPTURE(row.word);
    CHECK(row.reason == reason);
    CHECK((row.decision == "denied" || row.decision == "error"));
    const RefusalFacts facts{.host = "api.example.com", .port = 443, .secret_name = "KEY", .session = "sesn_1", .detail = "why"};
    const std::string body = refusal_body(reason, facts);
    CHECK(body.rfind(std::string(row.word) + ": ", 0) == 0);
    CHECK(body.back() == '\n');
    CHECK(body.find('{') == std::string::npos);  // every named field filled
    if (row.status == 0) continue;
    const std::string response = render_refusal(reason, facts);
    http1::ResponseParser parser;
    std::vector<std::string_view> pieces;
    REQUIRE(parser.parse(response, pieces).state == http1::State::head_done);
    CHECK(parser.head().status == static_cast<int>(row.status));
    CHECK(*parser.head().headers.find("Proxy-Status") ==
          fmt::format("airlock; error={}; details=\"{}\"", row.proxy_status, row.word));
    CHECK(*parser.head().headers.find("Content-Length") == std::to_string(body.size()));
    CHECK((parser.head().headers.find("Proxy-Authenticate") != nullptr) == (row.status == 407));
    CHECK(response.ends_with(body));
  }
  CHECK(refusal_body(Reason::placeholder_violation, {.host = "evil.example", .secret_name = "METRICS_API_TOKEN"}) ==
        "placeholder_violation: the placeholder of METRICS_API_TOKEN may not be sent to evil.example; add "
        "evil.example to that credential's networking.allowed_hosts, or remove the placeholder from the request\n");
}

}  // namespace airlock::proxy
