// Vault credentials over the API (API.md §2 and §9): each auth type with its defaults, write-only secrets
// that never come back, uniqueness of secret_name, immutable fields, allowed_hosts messages with JSON paths.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

constexpr std::string_view kSecret = "sk-live-7f3a9c0e5b1d";  // must never appear in a response

json env_auth(json networking = {{"type", "unrestricted"}}) {
  return {{"type", "environment_variable"}, {"secret_name", "EXAMPLE_API_KEY"}, {"secret_value", kSecret},
          {"networking", std::move(networking)}};
}

json limited(std::initializer_list<std::string> hosts) {
  return {{"type", "limited"}, {"allowed_hosts", json(std::vector<std::string>(hosts))}};
}

struct CredentialFixture : ApiFixture {
  using ApiFixture::ApiFixture;

  std::string vault = create_vault();
  std::string collection() const { return "/v1/vaults/" + vault + "/credentials"; }
  std::string item(const std::string& id) const { return collection() + "/" + id; }

  // POST the collection and return the response, checking that no secret is echoed.
  Response create(const json& body) {
    Response r = post(collection(), body);
    CHECK(r.body.find(kSecret) == std::string::npos);
    return r;
  }
  json created(const json& body) {
    Response r = create(body);
    INFO(r.body);
    REQUIRE(r.status == 200);
    return r.json_body;
  }
  std::string create_refusal(const json& auth) { return refusal(create({{"auth", auth}})); }
  std::string unsealed(const std::string& id, std::string_view field) {
    auto secret = store().unseal_secret(id, field);
    if (!secret) return "<" + secret.error().message() + ">";
    return std::string(secret.value().view());
  }
};

// The refusal of a weak value (secret_strength.hpp) at `field`.
std::string weak_refusal(std::string_view field) {
  return bad(fmt::format("{}: too weak: a secret value needs at least 16 bytes and about 64 bits of estimated strength "
                         "(its length times log2 of the number of distinct bytes in it), so that it cannot be guessed "
                         "through a host that echoes it; use the real API key or token, not a short password or PIN",
                         field));
}

}  // namespace

TEST_CASE("credentials: environment_variable create with the default injection_location") {
  CredentialFixture f;
  json credential = f.created({{"auth", env_auth(limited({"api.example.com"}))}, {"display_name", "Example API key"}});
  std::string id = credential["id"];
  CHECK(id.starts_with("vcrd_01"));
  const std::string now = f.clock.text();
  CHECK(credential == json{{"id", id},
                           {"type", "vault_credential"},
                           {"vault_id", f.vault},
                           {"auth",
                            {{"type", "environment_variable"},
                             {"secret_name", "EXAMPLE_API_KEY"},
                             {"networking", {{"type", "limited"}, {"allowed_hosts", {"api.example.com"}}}},
                             {"injection_location", {{"header", true}, {"body", true}, {"url", false}}}}},
                           {"display_name", "Example API key"},
                           {"metadata", json::object()},
                           {"created_at", now},
                           {"updated_at", now},
                           {"archived_at", nullptr}});
  CHECK(f.unsealed(id, "secret_value") == kSecret);
  CHECK(f.ok_get(f.item(id)) == credential);
}

TEST_CASE("credentials: injection_location given with keys left out turns those keys off") {
  CredentialFixture f;
  json auth = env_auth();
  auth["injection_location"] = {{"header", true}};
  CHECK(f.created({{"auth", auth}})["auth"]["injection_location"] == json{{"header", true}, {"body", false}, {"url", false}});

  auth["secret_name"] = "SECOND";
  auth["injection_location"] = {{"body", true}, {"url", true}};
  CHECK(f.created({{"auth", auth}})["auth"]["injection_location"] == json{{"header", false}, {"body", true}, {"url", true}});

  auth["secret_name"] = "THIRD";
  auth["injection_location"] = nullptr;  // null: the default
  CHECK(f.created({{"auth", auth}})["auth"]["injection_location"] == json{{"header", true}, {"body", true}, {"url", false}});
}

TEST_CASE("credentials: injection_location with header and body both false is 400") {
  CredentialFixture f;
  const std::string message =
      "auth.injection_location: header and body cannot both be false; the placeholder would never be replaced";
  json auth = env_auth();
  auth["injection_location"] = {{"header", false}, {"body", false}};
  CHECK(f.create_refusal(auth) == bad(message));
  auth["injection_location"] = json::object();
  CHECK(f.create_refusal(auth) == bad(message));
  auth["injection_location"] = {{"url", true}};
  CHECK(f.create_refusal(auth) == bad(message));
  auth["injection_location"] = {{"header", "yes"}};
  CHECK(f.create_refusal(auth) == bad("auth.injection_location.header: expected a boolean, got a string"));
  auth["injection_location"] = {{"header", true}, {"query", true}};
  CHECK(f.create_refusal(auth) == bad("auth.injection_location.query: unknown field; accepted fields here: header, body, url"));
  CHECK(f.ok_get(f.collection())["data"].empty());
}

TEST_CASE("credentials: static_bearer create") {
  CredentialFixture f;
  json credential = f.created(
      {{"auth", {{"type", "static_bearer"}, {"mcp_server_url", "https://mcp.example.com/mcp"}, {"token", kSecret}}}});
  std::string id = credential["id"];
  CHECK(credential["auth"] == json{{"type", "static_bearer"}, {"mcp_server_url", "https://mcp.example.com/mcp"}});
  CHECK(credential["display_name"].is_null());
  CHECK(credential["metadata"] == json::object());
  CHECK(f.unsealed(id, "token") == kSecret);

  CHECK(f.create_refusal({{"type", "static_bearer"}, {"mcp_server_url", "https://mcp.example.com/mcp"}}) ==
        bad("auth.token: required field is missing"));
  CHECK(f.create_refusal({{"type", "static_bearer"}, {"mcp_server_url", "ftp://mcp.example.com"}, {"token", kSecret}}) ==
        bad("auth.mcp_server_url: must be an absolute http:// or https:// URL, e.g. https://mcp.example.com/mcp"));
  CHECK(f.create_refusal({{"type", "static_bearer"}, {"mcp_server_url", "https:///path"}, {"token", kSecret}}) ==
        bad("auth.mcp_server_url: must be an absolute http:// or https:// URL, e.g. https://mcp.example.com/mcp"));
  CHECK(f.create_refusal({{"type", "static_bearer"}, {"mcp_server_url", "https://a b.example"}, {"token", kSecret}}) ==
        bad("auth.mcp_server_url: must be an absolute http:// or https:// URL, e.g. https://mcp.example.com/mcp"));
  for (const std::string& url : {std::string("https://mcp") + '\0' + ".example.com/mcp",
                                 std::string("https://mcp.example.com/\x7f"), std::string("https://m\xc3\xa9" "cp.example.com/")}) {
    CHECK(f.create_refusal({{"type", "static_bearer"}, {"mcp_server_url", url}, {"token", kSecret}}) ==
          bad("auth.mcp_server_url: must be an absolute http:// or https:// URL, e.g. https://mcp.example.com/mcp"));
  }
  CHECK(f.create_refusal({{"type", "static_bearer"}, {"token", kSecret}}) == bad("auth.mcp_server_url: required field is missing"));
  CHECK(f.create_refusal({{"type", "static_bearer"}, {"mcp_server_url", "https://x.example"}, {"token", kSecret},
                          {"networking", {{"type", "unrestricted"}}}}) ==
        bad("auth.networking: unknown field; accepted fields here: type, mcp_server_url, token"));
}

TEST_CASE("credentials: mcp_oauth create without and with refresh") {
  CredentialFixture f;
  json plain = f.created({{"auth", {{"type", "mcp_oauth"}, {"mcp_server_url", "https://one.example/mcp"}, {"access_token", kSecret}}}});
  CHECK(plain["auth"] == json{{"type", "mcp_oauth"}, {"mcp_server_url", "https://one.example/mcp"}, {"expires_at", nullptr}, {"refresh", nullptr}});
  CHECK(f.unsealed(plain["id"], "access_token") == kSecret);

  json full = f.created({{"auth",
                          {{"type", "mcp_oauth"},
                           {"mcp_server_url", "https://two.example/mcp"},
                           {"access_token", kSecret},
                           {"expires_at", "2099-01-01T00:00:00Z"},
                           {"refresh",
                            {{"client_id", "client-1"},
                             {"refresh_token", "rt-secret-value"},
                             {"token_endpoint", "https://auth.example/token"},
                             {"token_endpoint_auth", {{"type", "client_secret_post"}, {"client_secret", "cs-secret-value"}}},
                             {"scope", "read write"}}}}}});
  CHECK(full["auth"] == json{{"type", "mcp_oauth"},
                             {"mcp_server_url", "https://two.example/mcp"},
                             {"expires_at", "2099-01-01T00:00:00Z"},
                             {"refresh",
                              {{"client_id", "client-1"},
                               {"token_endpoint", "https://auth.example/token"},
                               {"token_endpoint_auth", {{"type", "client_secret_post"}}},
                               {"resource", nullptr},
                               {"scope", "read write"}}}});
  std::string id = full["id"];
  CHECK(full.dump().find("rt-secret-value") == std::string::npos);
  CHECK(full.dump().find("cs-secret-value") == std::string::npos);
  CHECK(f.unsealed(id, "refresh_token") == "rt-secret-value");
  CHECK(f.unsealed(id, "client_secret") == "cs-secret-value");

  CHECK(f.create_refusal({{"type", "mcp_oauth"}, {"mcp_server_url", "https://three.example"}, {"access_token", kSecret},
                          {"expires_at", "2001-01-01T00:00:00Z"}}) == bad("auth.expires_at: must be in the future"));
  CHECK(f.create_refusal({{"type", "mcp_oauth"}, {"mcp_server_url", "https://three.example"}, {"access_token", kSecret},
                          {"expires_at", "tomorrow"}}) == bad("auth.expires_at: \"tomorrow\" is not an RFC 3339 timestamp"));
  CHECK(f.create_refusal({{"type", "mcp_oauth"}, {"mcp_server_url", "https://three.example"}, {"access_token", kSecret},
                          {"refresh", {{"client_id", "c"}, {"refresh_token", "r"}, {"token_endpoint", "https://a.example/t"}}}}) ==
        bad("auth.refresh.token_endpoint_auth: required field is missing"));
  CHECK(f.create_refusal({{"type", "mcp_oauth"}, {"mcp_server_url", "https://three.example"}, {"access_token", kSecret},
                          {"refresh", {{"client_id", "c"}, {"refresh_token", "r"}, {"token_endpoint", "https://a.example/t"},
                                       {"token_endpoint_auth", {{"type", "client_secret_basic"}}}}}}) ==
        bad("auth.refresh.token_endpoint_auth.client_secret: required field is missing"));
  CHECK(f.create_refusal({{"type", "mcp_oauth"}, {"mcp_server_url", "https://three.example"}, {"access_token", kSecret},
                          {"refresh", {{"client_id", "c"}, {"refresh_token", "r"}, {"token_endpoint", "https://a.example/t"},
                                       {"token_endpoint_auth", {{"type", "private_key_jwt"}}}}}}) ==
        bad("auth.refresh.token_endpoint_auth.type: must be one of none, client_secret_basic, client_secret_post"));
}

TEST_CASE("credentials: auth type and body refusals") {
  CredentialFixture f;
  CHECK(refusal(f.create(json::object())) == bad("auth: required field is missing"));
  CHECK(f.create_refusal({{"type", "api_key"}}) ==
        bad("auth.type: must be one of environment_variable, static_bearer, mcp_oauth; got \"api_key\""));
  CHECK(f.create_refusal(json::object()) == bad("auth.type: required field is missing"));
  CHECK(refusal(f.create({{"auth", env_auth()}, {"secret_value", "x"}})) ==
        bad("secret_value: unknown field; accepted fields here: auth, display_name, metadata"));

  json auth = env_auth();
  auth.erase("networking");
  CHECK(f.create_refusal(auth) == bad("auth.networking: required field is missing"));
  auth = env_auth();
  auth.erase("secret_value");
  CHECK(f.create_refusal(auth) == bad("auth.secret_value: required field is missing"));
  auth = env_auth();
  auth["secret_value"] = "";
  CHECK(f.create_refusal(auth) == bad("auth.secret_value: must not be empty"));
  auth["secret_value"] = 12345;
  CHECK(f.create_refusal(auth) == bad("auth.secret_value: expected a string, got a number"));
  auth["secret_value"] = std::string(kSecret) + "\r\nX-Injected: 1";
  CHECK(f.create_refusal(auth) == bad("auth.secret_value: must not contain CR, LF or NUL characters"));
  auth["secret_value"] = std::string(kSecret) + std::string(1, '\0');
  CHECK(f.create_refusal(auth) == bad("auth.secret_value: must not contain CR, LF or NUL characters"));
  auth["secret_value"] = std::string(65537, 's');
  CHECK(f.create_refusal(auth) == bad("auth.secret_value: must be at most 65536 bytes"));
  std::string longest;
  while (longest.size() < 65536) longest += kSecret;
  longest.resize(65536);
  auth["secret_value"] = longest;
  CHECK(f.created({{"auth", auth}})["auth"]["secret_name"] == "EXAMPLE_API_KEY");
}

// A sandbox could find a weak value by posting every candidate to an allowed host that echoes it and
// seeing which one comes back as the placeholder (docs/security.md, "Secret strength").
TEST_CASE("credentials: weak secret values are refused at create and update, and never quoted") {
  CredentialFixture f;
  std::string env_id = f.created({{"auth", env_auth()}})["id"];
  json bearer_auth = {{"type", "static_bearer"}, {"mcp_server_url", "https://mcp.example.com/mcp"}, {"token", kSecret}};
  std::string bearer_id = f.created({{"auth", bearer_auth}})["id"];
  for (const std::string weak : {"1234", "1234567890123456", "aaaaaaaaaaaaaaaaaaaaaaaa", "abcdabcdabcdabcd"}) {
    CAPTURE(weak);
    json env = env_auth();
    env["secret_name"] = "WEAK_KEY";
    env["secret_value"] = weak;
    json bearer = bearer_auth;
    bearer["mcp_server_url"] = "https://weak.example.com/mcp";
    bearer["token"] = weak;
    const Response refused[] = {
        f.create({{"auth", env}}),
        f.create({{"auth", bearer}}),
        f.post(f.item(env_id), json{{"auth", {{"type", "environment_variable"}, {"secret_value", weak}}}}),
        f.post(f.item(bearer_id), json{{"auth", {{"type", "static_bearer"}, {"token", weak}}}}),
    };
    CHECK(refusal(refused[0]) == weak_refusal("auth.secret_value"));
    CHECK(refusal(refused[1]) == weak_refusal("auth.token"));
    CHECK(refusal(refused[2]) == weak_refusal("auth.secret_value"));
    CHECK(refusal(refused[3]) == weak_refusal("auth.token"));
    for (const Response& r : refused) CHECK(r.json_body["error"]["message"].get<std::string>().find(weak) == std::string::npos);
  }
  // Nothing was created or replaced.
  CHECK(f.ok_get(f.collection())["data"].size() == 2);
  CHECK(f.unsealed(env_id, "secret_value") == kSecret);
  CHECK(f.unsealed(bearer_id, "token") == kSecret);

  // Strong values are accepted, at create and update.
  constexpr std::string_view kRandomAlphanumeric = "q7XbT2mLk9RzWc4NvE8j";
  constexpr std::string_view kHex = "9f86d081884c7d659a2feaa0c55ad015";
  CHECK(f.post(f.item(env_id), json{{"auth", {{"type", "environment_variable"}, {"secret_value", kRandomAlphanumeric}}}}).status == 200);
  CHECK(f.unsealed(env_id, "secret_value") == kRandomAlphanumeric);
  CHECK(f.post(f.item(bearer_id), json{{"auth", {{"type", "static_bearer"}, {"token", kHex}}}}).status == 200);
  CHECK(f.unsealed(bearer_id, "token") == kHex);
  json strong = env_auth();
  strong["secret_name"] = "STRONG_KEY";
  strong["secret_value"] = kHex;
  CHECK(f.create({{"auth", strong}}).status == 200);

  // mcp_oauth's tokens are stored only: the proxy neither substitutes nor redacts them in this version.
  CHECK(f.create({{"auth", {{"type", "mcp_oauth"}, {"mcp_server_url", "https://oauth.example/mcp"}, {"access_token", "1234"}}}})
            .status == 200);
}

TEST_CASE("credentials: credentials.allow_weak_secrets stores weak values, the other checks still apply") {
  CredentialFixture f(CredentialSettings{.allow_weak_secrets = true});
  json env = env_auth();
  env["secret_value"] = "1234";
  std::string env_id = f.created({{"auth", env}})["id"];
  CHECK(f.unsealed(env_id, "secret_value") == "1234");
  CHECK(f.post(f.item(env_id), json{{"auth", {{"type", "environment_variable"}, {"secret_value", "1234567890123456"}}}}).status == 200);
  CHECK(f.unsealed(env_id, "secret_value") == "1234567890123456");
  json bearer = {{"type", "static_bearer"}, {"mcp_server_url", "https://mcp.example.com/mcp"}, {"token", "0000"}};
  std::string bearer_id = f.created({{"auth", bearer}})["id"];
  CHECK(f.unsealed(bearer_id, "token") == "0000");

  env["secret_name"] = "OTHER_KEY";
  env["secret_value"] = "";
  CHECK(f.create_refusal(env) == bad("auth.secret_value: must not be empty"));
  env["secret_value"] = "12\r\n34";
  CHECK(f.create_refusal(env) == bad("auth.secret_value: must not contain CR, LF or NUL characters"));
}

TEST_CASE("credentials: secret_name format") {
  CredentialFixture f;
  for (std::string_view name : {"1ABC", "WITH-DASH", "with space", "\xC3\xA9T\xC3\xA9"}) {
    CAPTURE(name);
    json auth = env_auth();
    auth["secret_name"] = name;
    CHECK(f.create_refusal(auth) ==
          bad(fmt::format("auth.secret_name: \"{}\" is not an environment variable name; use letters, digits and _, not "
                          "starting with a digit (at most 128)",
                          name)));
  }
  json auth = env_auth();
  auth["secret_name"] = std::string(129, 'A');
  CHECK(f.create_refusal(auth) == bad("auth.secret_name: must be at most 128 characters (got 129)"));
  auth["secret_name"] = "_" + std::string(127, 'a');
  CHECK(f.create(json{{"auth", auth}}).status == 200);
  auth["secret_name"] = "lower_case_9";
  CHECK(f.create(json{{"auth", auth}}).status == 200);
}

TEST_CASE("credentials: allowed_hosts validation messages carry the JSON path") {
  CredentialFixture f;
  auto with_hosts = [](json hosts) { return env_auth({{"type", "limited"}, {"allowed_hosts", std::move(hosts)}}); };
  CHECK(f.create_refusal(with_hosts({"api.example.com", "api.example.com:443"})) ==
        bad("auth.networking.allowed_hosts[1]: ports are not allowed; give a bare hostname like api.example.com"));
  CHECK(f.create_refusal(with_hosts({"https://api.example.com"})) ==
        bad("auth.networking.allowed_hosts[0]: URLs are not allowed; give a bare hostname like api.example.com"));
  CHECK(f.create_refusal(with_hosts({"a.example", "b.example", "api.example.com/v1"})) ==
        bad("auth.networking.allowed_hosts[2]: paths are not allowed; give a bare hostname like api.example.com"));
  CHECK(f.create_refusal(with_hosts({"::1"})) ==
        bad("auth.networking.allowed_hosts[0]: IPv6 addresses are not allowed; give a hostname or an IPv4 address like 192.0.2.1"));
  CHECK(f.create_refusal(with_hosts({"*"})) ==
        bad("auth.networking.allowed_hosts[0]: wildcards are only allowed as a leading '*.' followed by at least two labels, like *.example.com"));
  CHECK(f.create_refusal(with_hosts({""})) ==
        bad("auth.networking.allowed_hosts[0]: empty host; give a bare hostname like api.example.com"));
  CHECK(f.create_refusal(with_hosts({42})) == bad("auth.networking.allowed_hosts[0]: expected a string, got a number"));
  CHECK(f.create_refusal(with_hosts(json::array())) ==
        bad("auth.networking.allowed_hosts: list at least one host the secret may be sent to (limited networking)"));
  CHECK(f.create_refusal(env_auth({{"type", "limited"}})) ==
        bad("auth.networking.allowed_hosts: list at least one host the secret may be sent to (limited networking)"));
  CHECK(f.create_refusal(with_hosts("api.example.com")) == bad("auth.networking.allowed_hosts: expected an array, got a string"));
  json seventeen = json::array();
  for (int i = 0; i < 17; ++i) seventeen.push_back(fmt::format("h{}.example.com", i));
  CHECK(f.create_refusal(with_hosts(seventeen)) == bad("auth.networking.allowed_hosts: at most 16 entries are allowed (got 17)"));
  CHECK(f.create_refusal(env_auth({{"type", "open"}})) ==
        bad("auth.networking.type: must be \"unrestricted\" or \"limited\", got \"open\""));
  CHECK(f.create_refusal(env_auth({{"type", "unrestricted"}, {"allowed_hosts", {"a.example"}}})) ==
        bad("auth.networking.allowed_hosts: unknown field; accepted fields here: type"));
  CHECK(f.ok_get(f.collection())["data"].empty());

  // Sixteen entries are accepted and normalised to lowercase.
  seventeen.erase(16);
  seventeen[0] = "API.Example.COM";
  seventeen[1] = "*.Example.org";
  seventeen[2] = "192.0.2.1";
  json created = f.created({{"auth", with_hosts(seventeen)}});
  json hosts = created["auth"]["networking"]["allowed_hosts"];
  CHECK(hosts.size() == 16);
  CHECK(hosts[0] == "api.example.com");
  CHECK(hosts[1] == "*.example.org");
  CHECK(hosts[2] == "192.0.2.1");
}

TEST_CASE("credentials: secret values never appear in any response body") {
  CredentialFixture f;
  json created = f.created({{"auth", env_auth(limited({"api.example.com"}))}});
  std::string id = created["id"];
  std::vector<Response> responses;
  responses.push_back(f.get(f.item(id)));
  responses.push_back(f.get(f.collection()));
  responses.push_back(f.get(f.collection() + "?include_archived=true"));
  responses.push_back(f.post(f.item(id), json{{"display_name", "renamed"}}));
  responses.push_back(f.post(f.item(id), json{{"auth", {{"type", "environment_variable"}, {"secret_value", "sk-rotated-41d2c9e7"}}}}));
  responses.push_back(f.post(f.item(id), json{{"auth", {{"type", "environment_variable"}, {"secret_value", "sk-bad-8\n"}}}}));
  responses.push_back(f.post(f.collection(), json{{"auth", env_auth()}}));  // duplicate name: 409
  responses.push_back(f.post(f.item(id) + "/archive"));
  responses.push_back(f.get(f.item(id)));
  for (const Response& r : responses) {
    CAPTURE(r.body);
    CHECK(r.body.find(kSecret) == std::string::npos);
    CHECK(r.body.find("sk-rotated-41d2c9e7") == std::string::npos);
    CHECK(r.body.find("sk-bad-8") == std::string::npos);
    if (r.status == 200 && r.json_body.contains("auth")) CHECK_FALSE(r.json_body["auth"].contains("secret_value"));
    CHECK(r.body.find("airlock_ph_") == std::string::npos);  // the placeholder is for the sandbox, not this API
  }
  CHECK(responses[4].status == 200);
  CHECK(f.unsealed(id, "secret_value") == "sk-rotated-41d2c9e7");
  CHECK(refusal(responses[5]) == bad("auth.secret_value: must not contain CR, LF or NUL characters"));
}

TEST_CASE("credentials: a duplicate secret_name is 409 until the first is archived or deleted") {
  CredentialFixture f;
  std::string first = f.created({{"auth", env_auth()}})["id"];
  Response clash = f.create({{"auth", env_auth()}});
  CHECK(refusal(clash) ==
        "409 conflict_error: auth.secret_name: \"EXAMPLE_API_KEY\" is already used by an active credential in this vault; "
        "archive or delete that one first, or choose another name");
  CHECK(clash.header("x-should-retry") == "false");
  CHECK(f.ok_get(f.collection())["data"].size() == 1);

  // Another vault may use the same name.
  std::string other_vault = f.create_vault("other");
  CHECK(f.post("/v1/vaults/" + other_vault + "/credentials", json{{"auth", env_auth()}}).status == 200);

  f.ok_post(f.item(first) + "/archive");
  std::string second = f.created({{"auth", env_auth()}})["id"];
  CHECK(second != first);
  CHECK(f.create({{"auth", env_auth()}}).status == 409);
  CHECK(f.ok("DELETE", f.item(second)) == json{{"id", second}, {"type", "vault_credential_deleted"}});
  CHECK(f.create({{"auth", env_auth()}}).status == 200);
}

TEST_CASE("credentials: a duplicate mcp_server_url is 409") {
  CredentialFixture f;
  json bearer = {{"type", "static_bearer"}, {"mcp_server_url", "https://mcp.example.com/mcp"}, {"token", kSecret}};
  f.created({{"auth", bearer}});
  Response clash = f.create({{"auth", bearer}});
  CHECK(refusal(clash) ==
        "409 conflict_error: auth.mcp_server_url: \"https://mcp.example.com/mcp\" already has an active credential in this "
        "vault; archive or delete that one first");
  CHECK(clash.header("x-should-retry") == "false");
  json oauth = {{"type", "mcp_oauth"}, {"mcp_server_url", "https://mcp.example.com/mcp"}, {"access_token", kSecret}};
  CHECK(f.create({{"auth", oauth}}).status == 409);  // one credential per server, whatever its type
}

TEST_CASE("credentials: create in an archived or unknown vault") {
  CredentialFixture f;
  f.ok_post("/v1/vaults/" + f.vault + "/archive");
  CHECK(refusal(f.create({{"auth", env_auth()}})) ==
        bad(fmt::format("vault {} is archived; credentials can only be added to an active vault", f.vault)));
  CHECK(refusal(f.post("/v1/vaults/vlt_missing/credentials", json{{"auth", env_auth()}})) ==
        "404 not_found_error: vault vlt_missing was not found");
  CHECK(refusal(f.get("/v1/vaults/vlt_missing/credentials")) == "404 not_found_error: vault vlt_missing was not found");
  CHECK(f.ok_get(f.collection())["data"].empty());  // an archived vault's credentials can still be listed
}

TEST_CASE("credentials: update refusals for immutable fields") {
  CredentialFixture f;
  json created = f.created({{"auth", env_auth()}, {"display_name", "kept"}});
  std::string id = created["id"];
  CHECK(refusal(f.post(f.item(id), json{{"auth", {{"type", "static_bearer"}, {"token", "t"}}}})) ==
        bad("auth.type: a credential's type cannot change (it is \"environment_variable\")"));
  CHECK(refusal(f.post(f.item(id), json{{"auth", {{"secret_value", "x"}}}})) == bad("auth.type: required field is missing"));
  CHECK(refusal(f.post(f.item(id), json{{"auth", {{"type", "environment_variable"}, {"secret_name", "OTHER"}}}})) ==
        bad("auth.secret_name: is immutable; create a new credential for another name"));
  CHECK(refusal(f.post(f.item(id), json{{"display_name", ""}})) == bad("display_name: must not be empty"));
  CHECK(refusal(f.post(f.item(id), json{{"vault_id", "x"}})) ==
        bad("vault_id: unknown field; accepted fields here: auth, display_name, metadata"));
  CHECK(f.ok_get(f.item(id)) == created);

  json bearer = f.created({{"auth", {{"type", "static_bearer"}, {"mcp_server_url", "https://m.example"}, {"token", kSecret}}}});
  CHECK(refusal(f.post(f.item(bearer["id"]), json{{"auth", {{"type", "static_bearer"}, {"mcp_server_url", "https://n.example"}}}})) ==
        bad("auth.mcp_server_url: is immutable; create a new credential for another server"));
}

TEST_CASE("credentials: update patches injection_location and replaces networking") {
  CredentialFixture f;
  json created = f.created({{"auth", env_auth(limited({"a.example.com"}))}});
  std::string id = created["id"];
  f.advance(std::chrono::seconds(2));

  json body_off = f.ok_post(f.item(id), {{"auth", {{"type", "environment_variable"}, {"injection_location", {{"body", false}}}}}});
  CHECK(body_off["auth"]["injection_location"] == json{{"header", true}, {"body", false}, {"url", false}});
  CHECK(body_off["auth"]["networking"] == created["auth"]["networking"]);  // omitted: kept
  CHECK(body_off["updated_at"] == f.clock.text());

  CHECK(refusal(f.post(f.item(id), json{{"auth", {{"type", "environment_variable"}, {"injection_location", {{"header", false}}}}}})) ==
        bad("auth.injection_location: header and body cannot both be false; the placeholder would never be replaced"));

  json replaced = f.ok_post(f.item(id), {{"auth", {{"type", "environment_variable"}, {"networking", limited({"B.example.com", "c.example.com"})}}}});
  CHECK(replaced["auth"]["networking"] == json{{"type", "limited"}, {"allowed_hosts", {"b.example.com", "c.example.com"}}});
  CHECK(replaced["auth"]["injection_location"] == json{{"header", true}, {"body", false}, {"url", false}});

  CHECK(refusal(f.post(f.item(id), json{{"auth", {{"type", "environment_variable"}, {"networking", limited({"x.example:8080"})}}}})) ==
        bad("auth.networking.allowed_hosts[0]: ports are not allowed; give a bare hostname like api.example.com"));

  // secret_value null keeps the secret.
  CHECK(f.ok_post(f.item(id), {{"auth", {{"type", "environment_variable"}, {"secret_value", nullptr}}}})["auth"] == replaced["auth"]);
  CHECK(f.unsealed(id, "secret_value") == kSecret);
}

TEST_CASE("credentials: update display_name and metadata") {
  CredentialFixture f;
  json created = f.created({{"auth", env_auth()}, {"metadata", {{"team", "a"}, {"env", "prod"}}}});
  std::string id = created["id"];
  json updated = f.ok_post(f.item(id), {{"display_name", "Renamed"}, {"metadata", {{"team", nullptr}, {"owner", "x"}}}});
  CHECK(updated["display_name"] == "Renamed");
  CHECK(updated["metadata"] == json{{"env", "prod"}, {"owner", "x"}});
  CHECK(f.ok_post(f.item(id), {{"display_name", nullptr}})["display_name"] == "Renamed");
}

TEST_CASE("credentials: display_name and metadata on create") {
  CredentialFixture f;
  json empty_name = f.created({{"auth", env_auth()}, {"display_name", ""}});
  CHECK(empty_name["display_name"] == "");  // create takes 0-255 characters, update 1-255 (API.md C1 and C3)
  json second = env_auth();
  second["secret_name"] = "SECOND";
  CHECK(refusal(f.create({{"auth", second}, {"display_name", std::string(256, 'd')}})) ==
        bad("display_name: must be at most 255 characters (got 256)"));
  json seventeen = json::object();
  for (int i = 0; i < 17; ++i) seventeen[fmt::format("k{}", i)] = "v";
  CHECK(refusal(f.create({{"auth", second}, {"metadata", seventeen}})) ==
        bad("metadata: at most 16 metadata pairs are allowed (got 17)"));
  seventeen.erase("k16");
  CHECK(f.created({{"auth", second}, {"metadata", seventeen}})["metadata"] == seventeen);
}

TEST_CASE("credentials: an archived credential cannot change") {
  CredentialFixture f;
  std::string id = f.created({{"auth", env_auth()}})["id"];
  f.advance(std::chrono::seconds(1));
  json archived = f.ok_post(f.item(id) + "/archive");
  CHECK(archived["archived_at"] == f.clock.text());
  CHECK(refusal(f.post(f.item(id), json{{"display_name", "x"}})) ==
        bad(fmt::format("credential {} is archived; archived credentials cannot change", id)));
  CHECK(f.ok_post(f.item(id) + "/archive") == archived);
}

TEST_CASE("credentials: list, archive visibility, and addressing through the wrong vault") {
  CredentialFixture f;
  std::string a = f.created({{"auth", env_auth()}})["id"];
  f.advance(std::chrono::seconds(1));
  json second = env_auth();
  second["secret_name"] = "SECOND";
  std::string b = f.created({{"auth", second}})["id"];
  CHECK(ApiFixture::ids(f.ok_get(f.collection())) == std::vector<std::string>{b, a});
  f.ok_post(f.item(a) + "/archive");
  CHECK(ApiFixture::ids(f.ok_get(f.collection())) == std::vector<std::string>{b});
  CHECK(ApiFixture::ids(f.ok_get(f.collection() + "?include_archived=true")) == std::vector<std::string>{b, a});

  std::string other = f.create_vault("other");
  CHECK(refusal(f.get("/v1/vaults/" + other + "/credentials/" + b)) ==
        fmt::format("404 not_found_error: credential {} was not found", b));
  CHECK(refusal(f.del("/v1/vaults/" + other + "/credentials/" + b)) ==
        fmt::format("404 not_found_error: credential {} was not found", b));
  CHECK(f.ok_get(f.item(b))["id"] == b);
}

TEST_CASE("credentials: mcp_oauth_validate") {
  CredentialFixture f;
  std::string env = f.created({{"auth", env_auth()}})["id"];
  CHECK(refusal(f.post(f.item(env) + "/mcp_oauth_validate")) ==
        bad(fmt::format("credential {} is environment_variable; only mcp_oauth credentials can be validated", env)));
  std::string oauth =
      f.created({{"auth", {{"type", "mcp_oauth"}, {"mcp_server_url", "https://o.example"}, {"access_token", kSecret}}}})["id"];
  CHECK(refusal(f.post(f.item(oauth) + "/mcp_oauth_validate")) ==
        "501 api_error: mcp_oauth validation is not available in this Airlock version");
}

TEST_CASE("credentials: mcp_oauth update rotates tokens and keeps the rest") {
  CredentialFixture f;
  json created = f.created({{"auth",
                             {{"type", "mcp_oauth"},
                              {"mcp_server_url", "https://o.example"},
                              {"access_token", kSecret},
                              {"refresh",
                               {{"client_id", "c1"},
                                {"refresh_token", "rt-1"},
                                {"token_endpoint", "https://o.example/token"},
                                {"token_endpoint_auth", {{"type", "client_secret_basic"}, {"client_secret", "cs-1"}}},
                                {"scope", "read"}}}}}});
  std::string id = created["id"];
  json updated = f.ok_post(f.item(id), {{"auth",
                                         {{"type", "mcp_oauth"},
                                          {"access_token", "at-2"},
                                          {"expires_at", "2099-06-01T00:00:00Z"},
                                          {"refresh",
                                           {{"refresh_token", "rt-2"},
                                            {"scope", ""},
                                            {"token_endpoint_auth", {{"type", "client_secret_post"}, {"client_secret", "cs-2"}}}}}}}});
  json expected_auth = created["auth"];
  expected_auth["expires_at"] = "2099-06-01T00:00:00Z";
  expected_auth["refresh"]["scope"] = nullptr;  // "" clears
  CHECK(updated["auth"] == expected_auth);       // token_endpoint_auth keeps client_secret_basic
  CHECK(f.unsealed(id, "access_token") == "at-2");
  CHECK(f.unsealed(id, "refresh_token") == "rt-2");
  CHECK(f.unsealed(id, "client_secret") == "cs-2");
  CHECK(updated.dump().find("at-2") == std::string::npos);

  CHECK(refusal(f.post(f.item(id), json{{"auth", {{"type", "mcp_oauth"}, {"refresh", {{"client_id", "c2"}}}}}})) ==
        bad("auth.refresh.client_id: unknown field; accepted fields here: refresh_token, scope, token_endpoint_auth"));
}

}  // namespace airlock::control
