// ControlApi's pipeline without sockets: target decoding, API keys, /healthz, 401/404/405, the error body
// and headers of API.md §7.4, 500s that reveal nothing, Idempotency-Key, and the transaction around every
// mutation (a refused request writes nothing).
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "http/control_api.hpp"
#include "api/resources.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;
using Query = std::multimap<std::string, std::string>;

struct Decoded {
  bool ok = false;
  std::string path;
  Query query;
};

Decoded decode(std::string_view target) {
  Decoded out;
  out.ok = decode_target(target, out.path, out.query);
  return out;
}

std::size_t vault_count(ApiFixture& f) {
  auto page = f.store().list_vaults([] {
    store::ListQuery query;
    query.limit = 100;
    query.include_archived = true;
    return query;
  }());
  REQUIRE(page.has_value());
  return page.value().items.size();
}

}  // namespace

TEST_CASE("decode_target: path and query are percent-decoded") {
  Decoded d = decode("/v1/vaults?created_at%5Bgte%5D=2026-01-01T00%3A00%3A00Z&limit=5");
  REQUIRE(d.ok);
  CHECK(d.path == "/v1/vaults");
  CHECK(d.query == Query{{"created_at[gte]", "2026-01-01T00:00:00Z"}, {"limit", "5"}});

  Decoded lower = decode("/x?key%5b%5d=a%2fb");
  REQUIRE(lower.ok);
  CHECK(lower.query == Query{{"key[]", "a/b"}});

  Decoded path = decode("/v1/vaults/vlt%5F1");
  REQUIRE(path.ok);
  CHECK(path.path == "/v1/vaults/vlt_1");
  CHECK(path.query.empty());
}

TEST_CASE("decode_target: plus is a space in the query only") {
  Decoded d = decode("/a+b?q=1+2&plus=%2B&k+ey=v");
  REQUIRE(d.ok);
  CHECK(d.path == "/a+b");
  CHECK(d.query == Query{{"k ey", "v"}, {"plus", "+"}, {"q", "1 2"}});
}

TEST_CASE("decode_target: repeated keys and keys without values and empty pairs") {
  Decoded d = decode("/p?a=1&&a=2&flag&=v&");
  REQUIRE(d.ok);
  CHECK(d.path == "/p");
  CHECK(d.query == Query{{"", "v"}, {"a", "1"}, {"a", "2"}, {"flag", ""}});
  auto [first, last] = d.query.equal_range("a");
  REQUIRE(std::distance(first, last) == 2);
  CHECK(first->second == "1");  // insertion order is kept for equal keys
  CHECK(std::next(first)->second == "2");

  Decoded empty_query = decode("/p?");
  REQUIRE(empty_query.ok);
  CHECK(empty_query.path == "/p");
  CHECK(empty_query.query.empty());

  Decoded value_with_equals = decode("/p?a=b=c");
  REQUIRE(value_with_equals.ok);
  CHECK(value_with_equals.query == Query{{"a", "b=c"}});
}

TEST_CASE("decode_target: malformed escapes are refused") {
  for (std::string_view target : {"/p%", "/p%4", "/p%zz", "/p%g0", "/p?a=%", "/p?a=%4", "/p?a=%x1", "/p?%=1", "/p?k%2=v"}) {
    CAPTURE(target);
    CHECK_FALSE(decode(target).ok);
  }
  Decoded last = decode("/%41");  // an escape that ends the target is complete
  REQUIRE(last.ok);
  CHECK(last.path == "/A");
}

TEST_CASE("ApiKeys: accepts the configured keys only") {
  ApiKeys keys({"key-one", "key-two"});
  CHECK(keys.accepts("key-one"));
  CHECK(keys.accepts("key-two"));
  CHECK_FALSE(keys.accepts("key-three"));
  CHECK_FALSE(keys.accepts("key-on"));
  CHECK_FALSE(keys.accepts("key-one "));
  CHECK_FALSE(keys.accepts("KEY-ONE"));
  CHECK_FALSE(keys.accepts(""));
}

TEST_CASE("ApiKeys: an empty key is never accepted even when configured") {
  ApiKeys keys({""});
  CHECK_FALSE(keys.accepts(""));
  ApiKeys none({});
  CHECK_FALSE(none.accepts(""));
  CHECK_FALSE(none.accepts("anything"));
}

TEST_CASE("healthz: 503 until ready then 200 and no API key needed") {
  ApiFixture f;
  Response starting = f.request("GET", "/healthz", {}, {}, /*authenticate=*/false);
  CHECK(refusal(starting) == "503 api_error: starting: listeners are not bound yet");

  f.api.set_ready(true);
  Response ready = f.request("GET", "/healthz", {}, {}, false);
  CHECK(ready.status == 200);
  CHECK(ready.body == R"({"status":"ok"})");
  CHECK(ready.header("Content-Type") == "application/json");

  Response head = f.request("HEAD", "/healthz", {}, {}, false);
  CHECK(head.status == 200);

  Response with_query = f.request("GET", "/healthz?verbose=1", {}, {}, false);
  CHECK(with_query.status == 200);

  Response post = f.request("POST", "/healthz", {}, {}, false);
  CHECK(refusal(post) == "405 invalid_request_error: method not allowed on /healthz; allowed: GET");
  CHECK(post.header("Allow") == "GET");

  f.api.set_ready(false);  // draining
  CHECK(f.request("GET", "/healthz", {}, {}, false).status == 503);
}

TEST_CASE("console: its files without an API key, each with its type and the page's security headers") {
  ApiFixture f;
  Response index = f.request("GET", "/console/", {}, {}, /*authenticate=*/false);
  CHECK(index.status == 200);
  CHECK(index.body.starts_with("<!doctype html>"));
  CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.header_count("Content-Type") == 1);
  CHECK(index.header("Content-Security-Policy").starts_with("default-src 'none'; script-src 'self';"));
  CHECK(index.header("X-Content-Type-Options") == "nosniff");
  CHECK(index.header("X-Frame-Options") == "DENY");
  CHECK(index.header("Cache-Control") == "no-cache");
  CHECK(f.request("GET", "/console/index.html", {}, {}, false).body == index.body);

  Response script = f.request("GET", "/console/console.js", {}, {}, false);
  CHECK(script.status == 200);
  CHECK(script.header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(f.request("GET", "/console/console.css", {}, {}, false).header("Content-Type") == "text/css; charset=utf-8");
  CHECK(f.request("HEAD", "/console/icon.svg", {}, {}, false).header("Content-Type") == "image/svg+xml");

  Response bare = f.request("GET", "/console", {}, {}, false);
  CHECK(bare.status == 308);
  CHECK(bare.header("Location") == "/console/");

  CHECK(refusal(f.request("GET", "/console/../api", {}, {}, false)) ==
        "404 not_found_error: the console has no file /console/../api; open /console/");
  CHECK(refusal(f.request("GET", "/console/sub/index.html", {}, {}, false)) ==
        "404 not_found_error: the console has no file /console/sub/index.html; open /console/");
  Response post = f.request("POST", "/console/", {}, {}, false);
  CHECK(refusal(post) == "405 invalid_request_error: method not allowed on the console's files; allowed: GET");
  CHECK(post.header("Allow") == "GET");
  // A prefix is not the console.
  CHECK(f.request("GET", "/consoles", {}, {}, false).status == 401);
}

TEST_CASE("auth: missing and invalid API keys are 401") {
  ApiFixture f;
  const std::string missing = "401 authentication_error: missing API key: send Authorization: Bearer <key> or x-api-key: <key>";
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {}, false)) == missing);
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"Authorization", "Bearer wrong"}}, false)) ==
        "401 authentication_error: invalid API key");
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"x-api-key", "wrong"}}, false)) ==
        "401 authentication_error: invalid API key");
  // A scheme other than Bearer, or a Bearer without a token, presents no key.
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"Authorization", "Basic YWI6Y2Q="}}, false)) == missing);
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"Authorization", "Bearer "}}, false)) == missing);
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"Authorization", std::string(ApiFixture::kKey)}}, false)) == missing);
  // The configured key itself under another scheme is no key either (a proxy or client that rewrites the
  // scheme must not get in by accident).
  for (const char* scheme : {"Basic", "Token", "Bearer:", "Bearerx", "Digest"}) {
    CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"Authorization", fmt::format("{} {}", scheme, ApiFixture::kKey)}}, false)) ==
          missing);
  }
  CHECK(refusal(f.request("GET", "/v1/vaults", {}, {{"x-api-key", ""}}, false)) == missing);
  // Auth comes before routing: an unknown route without a key is 401, not 404.
  CHECK(f.request("GET", "/v1/nothing", {}, {}, false).status == 401);
  CHECK(f.request("DELETE", "/v1/vaults", {}, {}, false).status == 401);
}

TEST_CASE("auth: a configured key works as Bearer and as x-api-key with any header case") {
  ApiFixture f;
  CHECK(f.request("GET", "/v1/vaults", {}, {{"Authorization", fmt::format("Bearer {}", ApiFixture::kKey)}}, false).status == 200);
  CHECK(f.request("GET", "/v1/vaults", {}, {{"authorization", fmt::format("Bearer {}", ApiFixture::kSecondKey)}}, false).status == 200);
  CHECK(f.request("GET", "/v1/vaults", {}, {{"x-api-key", std::string(ApiFixture::kKey)}}, false).status == 200);
  CHECK(f.request("GET", "/v1/vaults", {}, {{"X-Api-Key", std::string(ApiFixture::kSecondKey)}}, false).status == 200);
}

// RFC 9110 §11.1: the authentication scheme is a case-insensitive token, so "bearer KEY" is accepted.
TEST_CASE("auth: the Bearer scheme is case-insensitive") {
  ApiFixture f;
  CHECK(f.request("GET", "/v1/vaults", {}, {{"Authorization", fmt::format("bearer {}", ApiFixture::kKey)}}, false).status == 200);
}

TEST_CASE("responses carry a fresh request-id and Content-Type application/json") {
  ApiFixture f;
  Response a = f.get("/v1/vaults");
  Response b = f.get("/v1/vaults");
  CHECK(a.status == 200);
  CHECK(a.body == R"({"data":[],"next_page":null})");
  CHECK(a.header("Content-Type") == "application/json");
  CHECK(a.header_count("Content-Type") == 1);
  CHECK(a.header("request-id") != b.header("request-id"));
  CHECK(a.header("request-id").size() == std::string("req_").size() + 24);
}

TEST_CASE("errors: unknown route is 404 and wrong method is 405 with Allow") {
  ApiFixture f;
  Response unknown = f.get("/v1/nothing");
  CHECK(refusal(unknown) == "404 not_found_error: no route for GET /v1/nothing; see the API reference for the endpoints Airlock serves");
  CHECK(unknown.header("Allow") == "<absent>");
  // The exact body: API.md §7.4.
  CHECK(unknown.json_body == json{{"type", "error"},
                                  {"error", {{"type", "not_found_error"},
                                             {"message", "no route for GET /v1/nothing; see the API reference for the "
                                                         "endpoints Airlock serves"}}},
                                  {"request_id", unknown.header("request-id")}});

  Response put = f.request("PUT", "/v1/vaults/vlt_x", "{}");
  CHECK(refusal(put) == "405 invalid_request_error: method PUT is not allowed on /v1/vaults/vlt_x; allowed: GET, POST, DELETE");
  CHECK(put.header("Allow") == "GET, POST, DELETE");

  Response patch = f.request("PATCH", "/v1/vaults");
  CHECK(patch.status == 405);
  CHECK(patch.header("Allow") == "POST, GET");

  Response delete_agent = f.del("/v1/agents/agent_x");  // agents have no DELETE (API.md §0)
  CHECK(delete_agent.status == 405);
  CHECK(delete_agent.header("Allow") == "GET, POST");

  Response credential_item = f.request("PUT", "/v1/vaults/v/credentials/c");
  CHECK(credential_item.header("Allow") == "GET, POST, DELETE");

  Response trailing = f.get("/v1/vaults/");
  CHECK(trailing.status == 404);
}

TEST_CASE("errors: a malformed percent-escape in the target is 400") {
  ApiFixture f;
  CHECK(refusal(f.get("/v1/vaults%zz")) == bad("the request target has a malformed percent-escape"));
  CHECK(refusal(f.get("/v1/vaults?limit=%2")) == bad("the request target has a malformed percent-escape"));
}

// An encoded slash is data inside a segment (RFC 3986 §2.2), so "/v1/vaults/ID%2Farchive" names the vault
// "ID/archive" and should be 404, not the archive route.
// An encoded slash stays inside its segment: POST /v1/vaults/ID%2Farchive names the vault "ID%2Farchive" and
// must not archive vault ID.
TEST_CASE("errors: an encoded slash does not split path segments") {
  ApiFixture f;
  std::string id = f.create_vault();
  Response r = f.post("/v1/vaults/" + id + "%2Farchive");
  CHECK(r.status == 404);
  CHECK(f.ok_get("/v1/vaults/" + id)["archived_at"].is_null());
}

// Request bytes that are not UTF-8, or hold a NUL, are quoted as \xHH (printable.hpp): the route answers as
// it would for any unknown id or bad value, never a dropped connection (which a throwing serializer meant)
// and never a message cut at the NUL.
TEST_CASE("errors: invalid UTF-8 and NUL in the path are quoted as \\xHH in the 404 or 405") {
  ApiFixture f;
  Response invalid = f.get("/v1/vaults/x%ffy");
  CHECK(refusal(invalid) == "404 not_found_error: vault x\\xffy was not found");
  CHECK(invalid.body == fmt::format(R"({{"error":{{"message":"vault x\\xffy was not found","type":"not_found_error"}},)"
                                    R"("request_id":"{}","type":"error"}})",
                                    invalid.header("request-id")));
  CHECK(refusal(f.get("/v1/vaults/x%00y")) == "404 not_found_error: vault x\\x00y was not found");
  CHECK(refusal(f.get("/v1/vaults/%0d%0aX-Injected:%201")) == "404 not_found_error: vault \\x0d\\x0aX-Injected: 1 was not found");

  std::string vault = f.create_vault();
  CHECK(refusal(f.get("/v1/vaults/" + vault + "/credentials/c%c3")) == "404 not_found_error: credential c\\xc3 was not found");
  CHECK(refusal(f.del("/v1/vaults/" + vault + "/credentials/c%00")) == "404 not_found_error: credential c\\x00 was not found");

  Response put = f.request("PUT", "/v1/vaults/x%ffy", "{}");
  CHECK(refusal(put) == "405 invalid_request_error: method PUT is not allowed on /v1/vaults/x\\xffy; allowed: GET, POST, DELETE");
  CHECK(refusal(f.get("/v1/nothing%ff%00")) ==
        "404 not_found_error: no route for GET /v1/nothing\\xff\\x00; see the API reference for the endpoints Airlock serves");
}

TEST_CASE("errors: invalid UTF-8 and NUL in query values and body keys are quoted as \\xHH in the 400") {
  ApiFixture f;
  CHECK(refusal(f.get("/v1/vaults?limit=%ff%00")) == bad(R"(limit: must be an integer from 1 to 100, got "\xff\x00")"));
  CHECK(refusal(f.get("/v1/vaults?include_archived=tru%ff")) == bad(R"(include_archived: expected true or false, got "tru\xff")"));
  CHECK(refusal(f.get("/v1/vaults?created_at%5Bgt%5D=%00")) ==
        bad(R"(created_at[gt]: "\x00" is not an RFC 3339 timestamp; use e.g. 2026-01-01T00:00:00Z)"));
  // The JSON parser refuses invalid UTF-8 in a body, but a key may hold an escaped NUL.
  CHECK(refusal(f.post("/v1/vaults", std::string(R"({"display_name":"A","a\u0000b":1})"))) ==
        bad(R"(a\x00b: unknown field; accepted fields here: display_name, metadata)"));
  CHECK(refusal(f.post("/v1/vaults", std::string(R"({"display_name":"A","metadata":{"k\u0000":5}})"))) ==
        bad(R"(metadata.k\x00: metadata values must be strings, got a number)"));
  CHECK(refusal(f.post("/v1/vaults", std::string("{\"display_name\":\"\xff\"}"))).starts_with(
      "400 invalid_request_error: body: malformed JSON"));
}

TEST_CASE("errors: a response that cannot be serialized is a 500, never a dropped connection") {
  ApiFixture f;
  // A refusal whose own rendering throws (here its type, which no request controls; its message is
  // always rendered) must still be answered.
  f.api.router().add("GET", "/test/unserializable-refusal", [](ApiRequest&) -> Reply {
    throw ApiError(400, "invalid_request_error\xff", "refused");
  });
  f.api.router().add("POST", "/test/unserializable-reply", [](ApiRequest&) -> Reply {
    return Reply{200, {{"value", "\xff"}}, {}};
  });
  Response refusal_reply = f.get("/test/unserializable-refusal");
  CHECK(refusal(refusal_reply) == "500 api_error: internal error; the request id is in the daemon's log");
  Response reply = f.request("POST", "/test/unserializable-reply", {}, {{"Idempotency-Key", "unserializable"}});
  CHECK(refusal(reply) == "500 api_error: internal error; the request id is in the daemon's log");
}

TEST_CASE("errors: an exception that is not an ApiError is a 500 that reveals nothing") {
  ApiFixture f;
  f.api.router().add("GET", "/test/explode", [](ApiRequest&) -> Reply {
    throw std::runtime_error("sqlite said: disk I/O error at /var/lib/airlock/airlock.db");
  });
  Response r = f.get("/test/explode");
  CHECK(refusal(r) == "500 api_error: internal error; the request id is in the daemon's log");
  CHECK(r.body.find("sqlite") == std::string::npos);
  CHECK(r.body.find("/var/lib") == std::string::npos);
}

TEST_CASE("errors: extra headers of an ApiError reach the response") {
  ApiFixture f;
  f.api.router().add("GET", "/test/conflict", [](ApiRequest&) -> Reply { conflict("busy"); });
  Response r = f.get("/test/conflict");
  CHECK(refusal(r) == "409 conflict_error: busy");
  CHECK(r.header("x-should-retry") == "false");
}

TEST_CASE("transactions: a refused mutation writes nothing") {
  ApiFixture f;
  store::Store& store = f.store();
  f.api.router().add("POST", "/test/write-then-refuse", [&store](ApiRequest&) -> Reply {
    REQUIRE(store.create_vault(R"({"display_name":"ghost","metadata":{}})").has_value());
    bad_request("refused after writing");
  });
  f.api.router().add("POST", "/test/write-then-throw", [&store](ApiRequest&) -> Reply {
    REQUIRE(store.create_vault(R"({"display_name":"ghost","metadata":{}})").has_value());
    throw std::runtime_error("failed after writing");
  });
  f.api.router().add("POST", "/test/write-then-succeed", [&store](ApiRequest&) -> Reply {
    return Reply{200, {{"id", take(store.create_vault(R"({"display_name":"kept","metadata":{}})"), "vault", "").id}}, {}};
  });

  CHECK(refusal(f.post("/test/write-then-refuse")) == bad("refused after writing"));
  CHECK(vault_count(f) == 0);
  CHECK(f.post("/test/write-then-throw").status == 500);
  CHECK(vault_count(f) == 0);
  CHECK(f.ok_get("/v1/vaults")["data"].empty());

  CHECK(f.post("/test/write-then-succeed").status == 200);
  CHECK(vault_count(f) == 1);
}

TEST_CASE("transactions: a refused credential update keeps the old secret") {
  ApiFixture f;
  std::string vault = f.create_vault();
  std::string credential = f.create_env_credential(vault, "API_KEY", "old-secret-5d8e1a4c7b");
  json update = {{"auth", {{"type", "environment_variable"}, {"secret_value", "new-secret-9f2b6e0a3d"}}},
                 {"metadata", {{"k", std::string(513, 'v')}}}};
  CHECK(refusal(f.post("/v1/vaults/" + vault + "/credentials/" + credential, update)) ==
        bad("metadata.k: metadata values must be at most 512 characters"));
  auto secret = f.store().unseal_secret(credential, "secret_value");
  REQUIRE(secret.has_value());
  CHECK(secret.value().view() == "old-secret-5d8e1a4c7b");
}

TEST_CASE("idempotency: the same key and body replays the first response") {
  ApiFixture f;
  const std::string body = R"({"display_name":"Once"})";
  Response first = f.request("POST", "/v1/vaults", body, {{"Idempotency-Key", "key-1"}});
  REQUIRE(first.status == 200);
  CHECK(first.header("Idempotent-Replayed") == "<absent>");

  f.advance(std::chrono::seconds(5));
  Response again = f.request("POST", "/v1/vaults", body, {{"idempotency-key", "key-1"}});
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  CHECK(again.header("Idempotent-Replayed") == "true");
  CHECK(again.header("Content-Type") == "application/json");
  CHECK(again.header("request-id") != first.header("request-id"));

  json page = f.ok_get("/v1/vaults");
  CHECK(page["data"].size() == 1);
  CHECK(ApiFixture::ids(page) == std::vector<std::string>{first.json_body["id"].get<std::string>()});
}

TEST_CASE("idempotency: a different body or path with the same key is 409 without retry") {
  ApiFixture f;
  REQUIRE(f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", "k"}}).status == 200);
  const std::string conflict_message =
      "409 conflict_error: Idempotency-Key \"k\" was already used for a different request; use a new key for a new request";

  Response body_changed = f.request("POST", "/v1/vaults", R"({"display_name":"B"})", {{"Idempotency-Key", "k"}});
  CHECK(refusal(body_changed) == conflict_message);
  CHECK(body_changed.header("x-should-retry") == "false");

  // Byte-for-byte: the same JSON with other whitespace is another request.
  Response reformatted = f.request("POST", "/v1/vaults", R"({ "display_name": "A" })", {{"Idempotency-Key", "k"}});
  CHECK(reformatted.status == 409);

  Response other_path = f.request("POST", "/v1/agents", R"({"display_name":"A"})", {{"Idempotency-Key", "k"}});
  CHECK(refusal(other_path) == conflict_message);

  CHECK(f.ok_get("/v1/vaults")["data"].size() == 1);
}

TEST_CASE("idempotency: a key with invalid UTF-8 or a NUL replays, and its conflict quotes it as \\xHH") {
  ApiFixture f;
  struct Key {
    std::string bytes;
    std::string quoted;
  };
  for (const Key& key : {Key{"k\xffy", "k\\xffy"}, Key{std::string("k\0y", 3), "k\\x00y"}}) {
    CAPTURE(key.quoted);
    Response first = f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", key.bytes}});
    REQUIRE(first.status == 200);
    Response replayed = f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", key.bytes}});
    CHECK(replayed.body == first.body);
    CHECK(replayed.header("Idempotent-Replayed") == "true");
    Response clash = f.request("POST", "/v1/vaults", R"({"display_name":"B"})", {{"Idempotency-Key", key.bytes}});
    CHECK(refusal(clash) == fmt::format("409 conflict_error: Idempotency-Key \"{}\" was already used for a different "
                                        "request; use a new key for a new request",
                                        key.quoted));
    CHECK(clash.header("x-should-retry") == "false");
  }
}

TEST_CASE("idempotency: a refused request stores nothing so the key stays usable") {
  ApiFixture f;
  Response refused = f.request("POST", "/v1/vaults", R"({"display_name":""})", {{"Idempotency-Key", "retry-me"}});
  CHECK(refusal(refused) == bad("display_name: must not be empty"));

  // The corrected request with the same key is a new request, not a conflict and not a replayed 400.
  Response fixed = f.request("POST", "/v1/vaults", R"({"display_name":"Fixed"})", {{"Idempotency-Key", "retry-me"}});
  CHECK(fixed.status == 200);
  CHECK(fixed.header("Idempotent-Replayed") == "<absent>");
  CHECK(fixed.json_body["display_name"] == "Fixed");

  // The same refused body again is refused again (nothing was remembered for it).
  Response refused_again = f.request("POST", "/v1/vaults", R"({"display_name":""})", {{"Idempotency-Key", "other"}});
  CHECK(refused_again.status == 400);
  Response still_refused = f.request("POST", "/v1/vaults", R"({"display_name":""})", {{"Idempotency-Key", "other"}});
  CHECK(refusal(still_refused) == bad("display_name: must not be empty"));
  CHECK(still_refused.header("Idempotent-Replayed") == "<absent>");
}

TEST_CASE("idempotency: a 409 business conflict is not remembered either") {
  ApiFixture f;
  std::string vault = f.create_vault();
  std::string blocker = f.create_env_credential(vault, "TOKEN");
  std::string body = f.env_credential_body("TOKEN").dump();
  std::string target = "/v1/vaults/" + vault + "/credentials";

  Response clash = f.request("POST", target, body, {{"Idempotency-Key", "cred-1"}});
  CHECK(clash.status == 409);
  f.ok_post(target + "/" + blocker + "/archive");
  Response created = f.request("POST", target, body, {{"Idempotency-Key", "cred-1"}});
  CHECK(created.status == 200);
  CHECK(created.header("Idempotent-Replayed") == "<absent>");
  Response replayed = f.request("POST", target, body, {{"Idempotency-Key", "cred-1"}});
  CHECK(replayed.header("Idempotent-Replayed") == "true");
  CHECK(replayed.body == created.body);
}

TEST_CASE("idempotency: key length bounds") {
  ApiFixture f;
  const std::string message = "Idempotency-Key: must be 1 to 255 characters";
  CHECK(refusal(f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", ""}})) == bad(message));
  CHECK(refusal(f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", std::string(256, 'k')}})) ==
        bad(message));
  CHECK(f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", std::string(255, 'k')}}).status == 200);
  CHECK(f.ok_get("/v1/vaults")["data"].size() == 1);
}

TEST_CASE("idempotency: a DELETE is replayed too") {
  ApiFixture f;
  std::string id = f.create_vault();
  Response first = f.request("DELETE", "/v1/vaults/" + id, {}, {{"Idempotency-Key", "del"}});
  CHECK(first.status == 200);
  CHECK(first.json_body == json{{"id", id}, {"type", "vault_deleted"}});
  Response again = f.request("DELETE", "/v1/vaults/" + id, {}, {{"Idempotency-Key", "del"}});
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  CHECK(again.header("Idempotent-Replayed") == "true");
  CHECK(f.del("/v1/vaults/" + id).status == 404);  // without the key it is a new request
}

TEST_CASE("idempotency: a key is forgotten after 24 hours") {
  ApiFixture f;
  REQUIRE(f.request("POST", "/v1/vaults", R"({"display_name":"A"})", {{"Idempotency-Key", "day"}}).status == 200);
  f.advance(std::chrono::hours(23));
  CHECK(f.request("POST", "/v1/vaults", R"({"display_name":"B"})", {{"Idempotency-Key", "day"}}).status == 409);
  f.advance(std::chrono::hours(1) + std::chrono::seconds(1));
  Response reused = f.request("POST", "/v1/vaults", R"({"display_name":"B"})", {{"Idempotency-Key", "day"}});
  CHECK(reused.status == 200);
  CHECK(reused.header("Idempotent-Replayed") == "<absent>");
  CHECK(f.ok_get("/v1/vaults")["data"].size() == 2);
}

TEST_CASE("idempotency: GET ignores the key and POSTs without a key are independent") {
  ApiFixture f;
  CHECK(f.request("GET", "/v1/vaults", {}, {{"Idempotency-Key", ""}}).status == 200);
  f.create_vault("same");
  f.create_vault("same");
  CHECK(f.ok_get("/v1/vaults")["data"].size() == 2);
}

}  // namespace airlock::control
