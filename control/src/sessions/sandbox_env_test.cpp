// GET /v1/sessions/{id}/sandbox_env (API.md §10): placeholders by secret_name, the proxy URL with the
// session's derived token, the CA variables, and the refusals (unknown, deleted and archived sessions, a
// daemon without proxy settings, a secret_name that two vaults now expose). No secret value appears.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

constexpr std::string_view kBundle = "-----BEGIN CERTIFICATE-----\nMIIBroots\n-----END CERTIFICATE-----\n";
constexpr std::string_view kSecretA = "sk-live-a7c3e9f1b5d2";
constexpr std::string_view kSecretB = "sk-live-b8d4f0a2c6e3";

Response handle(ControlApi& api, const std::string& target) {
  http1::RequestHead head;
  head.method = "GET";
  head.target = target;
  head.headers.fields.push_back({"Authorization", fmt::format("Bearer {}", ApiFixture::kKey)});
  HttpReply reply = api.handle(head, {});
  Response out{reply.status, std::move(reply.headers), std::move(reply.body), nullptr};
  out.json_body = json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  return out;
}

struct SandboxFixture : ApiFixture {
  int bundle_reads = 0;
  ControlApi configured{store(), ApiKeys({std::string(kKey)}), log, runtime,
                        SandboxEnvSettings{"http://127.0.0.1:8421/", {"/data/ca-bundle.pem", "/data/ca-truststore.p12"}, [this] {
                                             ++bundle_reads;
                                             return std::string(kBundle);
                                           }}};
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "env"}})["id"];
  std::string vault_a = create_vault("A");
  std::string vault_b = create_vault("B");
  std::string metrics = create_env_credential(vault_a, "METRICS_API_TOKEN", kSecretA);
  std::string github = create_env_credential(vault_b, "GITHUB_TOKEN", kSecretB);

  std::string create_session(json vault_ids) {
    return ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}, {"vault_ids", std::move(vault_ids)}})["id"];
  }
  std::string placeholder(const std::string& vault, const std::string& credential) {
    auto row = store().get_credential(vault, credential);
    REQUIRE(row.has_value());
    REQUIRE(row.value().placeholder.has_value());
    return *row.value().placeholder;
  }
  Response sandbox_env(const std::string& session) {
    Response r = handle(configured, "/v1/sessions/" + session + "/sandbox_env");
    CHECK(r.body.find(kSecretA) == std::string::npos);
    CHECK(r.body.find(kSecretB) == std::string::npos);
    return r;
  }
};

}  // namespace

TEST_CASE("sandbox_env: placeholders, the proxy URL with the session token, the CA variables") {
  SandboxFixture f;
  const std::string session = f.create_session({f.vault_a, f.vault_b});
  Response r = f.sandbox_env(session);
  REQUIRE(r.status == 200);
  const std::string token = f.store().session_proxy_token(session);
  CHECK(token.size() == 64);
  const std::string proxy = "http://" + session + ":" + token + "@127.0.0.1:8421";
  const std::string bundle = "/data/ca-bundle.pem";
  const std::string metrics_placeholder = f.placeholder(f.vault_a, f.metrics);
  CHECK(metrics_placeholder.starts_with("airlock_ph_"));
  CHECK(r.json_body == json{{"type", "sandbox_env"},
                            {"session_id", session},
                            {"env",
                             {{"METRICS_API_TOKEN", metrics_placeholder},
                              {"GITHUB_TOKEN", f.placeholder(f.vault_b, f.github)},
                              {"HTTPS_PROXY", proxy},
                              {"HTTP_PROXY", proxy},
                              {"https_proxy", proxy},
                              {"http_proxy", proxy},
                              {"NO_PROXY", "localhost,127.0.0.1,::1"},
                              {"no_proxy", "localhost,127.0.0.1,::1"},
                              {"SSL_CERT_FILE", bundle},
                              {"NODE_EXTRA_CA_CERTS", bundle},
                              {"REQUESTS_CA_BUNDLE", bundle},
                              {"CURL_CA_BUNDLE", bundle},
                              {"GIT_SSL_CAINFO", bundle},
                              {"AWS_CA_BUNDLE", bundle},
                              {"DENO_CERT", bundle},
                              {"CARGO_HTTP_CAINFO", bundle},
                              {"NPM_CONFIG_CAFILE", bundle},
                              {"YARN_CAFILE", bundle},
                              {"YARN_HTTPS_CA_FILE_PATH", bundle},
                              {"PIP_CERT", bundle},
                              {"BUNDLE_SSL_CA_CERT", bundle},
                              {"HEX_CACERTS_PATH", bundle},
                              {"COMPOSER_CAFILE", bundle},
                              {"CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", bundle},
                              {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", bundle},
                              {"HTTPLIB2_CA_CERTS", bundle},
                              {"NODE_USE_ENV_PROXY", "1"},
                              {"JAVA_TOOL_OPTIONS",
                               "-Djavax.net.ssl.trustStore=/data/ca-truststore.p12 -Djavax.net.ssl.trustStorePassword=changeit "
                               "-Djavax.net.ssl.trustStoreType=PKCS12"}}},
                            {"ca_bundle_pem", kBundle}});
  CHECK(f.bundle_reads == 1);

  // Another session gets another token; the same session always the same one.
  const std::string other = f.create_session(json::array());
  Response bare = f.sandbox_env(other);
  REQUIRE(bare.status == 200);
  CHECK(bare.json_body["env"].size() == 26);  // no vaults: only Airlock's own variables
  CHECK(bare.json_body["env"]["HTTPS_PROXY"] != proxy);
  CHECK(f.sandbox_env(session).json_body == r.json_body);
}

TEST_CASE("sandbox_env: archived credentials and vaults are not exposed, Airlock's variables win over a credential's") {
  SandboxFixture f;
  std::string shadow = f.create_env_credential(f.vault_a, "HTTPS_PROXY", "sk-live-shadow-3e8a1c");
  const std::string session = f.create_session({f.vault_a, f.vault_b});
  json env = f.sandbox_env(session).json_body["env"];
  CHECK(env["HTTPS_PROXY"].get<std::string>().starts_with("http://" + session + ":"));
  CHECK(env.contains("METRICS_API_TOKEN"));

  f.ok_post("/v1/vaults/" + f.vault_a + "/credentials/" + f.metrics + "/archive");
  f.ok_post("/v1/vaults/" + f.vault_b + "/archive");
  env = f.sandbox_env(session).json_body["env"];
  CHECK_FALSE(env.contains("METRICS_API_TOKEN"));
  CHECK_FALSE(env.contains("GITHUB_TOKEN"));
  CHECK(env.size() == 26);
  (void)shadow;
}

TEST_CASE("sandbox_env: a secret_name that two of the session's vaults now expose is a 409") {
  SandboxFixture f;
  const std::string session = f.create_session({f.vault_a, f.vault_b});
  f.create_env_credential(f.vault_b, "METRICS_API_TOKEN", "sk-live-late-7b2d9f4e");
  Response r = f.sandbox_env(session);
  CHECK(refusal(r) == "409 conflict_error: vault_ids: secret_name \"METRICS_API_TOKEN\" is defined in both vault " +
                          f.vault_a + " and vault " + f.vault_b +
                          "; a sandbox can hold only one value per variable. Archive one of the two credentials, or "
                          "leave one of the vaults out");
  CHECK(r.header("x-should-retry") == "false");
}

TEST_CASE("sandbox_env: unknown, deleted and archived sessions, a daemon without proxy settings") {
  SandboxFixture f;
  CHECK(refusal(f.sandbox_env("sesn_01nope")) == "404 not_found_error: session sesn_01nope was not found");
  const std::string deleted = f.create_session(json::array());
  f.ok("DELETE", "/v1/sessions/" + deleted);
  CHECK(refusal(f.sandbox_env(deleted)) == "404 not_found_error: session " + deleted + " was not found");
  const std::string archived = f.create_session(json::array());
  f.ok_post("/v1/sessions/" + archived + "/archive");
  CHECK(refusal(f.sandbox_env(archived)) ==
        bad("session " + archived +
            " is archived; its proxy credentials are no longer valid, so a sandbox cannot be started for it"));

  const std::string live = f.create_session(json::array());
  Response unconfigured = f.get("/v1/sessions/" + live + "/sandbox_env");  // the fixture's default ControlApi
  CHECK(refusal(unconfigured) ==
        "503 api_error: sandbox_env is not available: this daemon has no proxy address or CA bundle configured");
}

TEST_CASE("sandbox_env: the advertise URL's scheme is kept, its path and user info are not") {
  ApiFixture f;
  std::string agent = f.ok_post("/v1/agents", {{"name", "bot"}, {"model", "m"}})["id"];
  std::string environment = f.ok_post("/v1/environments", {{"name", "env"}})["id"];
  std::string session = f.ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}})["id"];
  const std::string token = f.store().session_proxy_token(session);
  for (const auto& [advertise, expected] : std::vector<std::pair<std::string, std::string>>{
           {"https://user:pw@proxy.internal:3128/path", "https://" + session + ":" + token + "@proxy.internal:3128"},
           {"proxy.internal:3128", "http://" + session + ":" + token + "@proxy.internal:3128"},
           {"http://[::1]:8421", "http://" + session + ":" + token + "@[::1]:8421"}}) {
    ControlApi api{f.store(), ApiKeys({std::string(ApiFixture::kKey)}), f.log, f.runtime, SandboxEnvSettings{advertise, {"/b.pem", "/t.p12"}, {}}};
    Response r = handle(api, "/v1/sessions/" + session + "/sandbox_env");
    REQUIRE(r.status == 200);
    CHECK(r.json_body["env"]["HTTPS_PROXY"] == expected);
    CHECK(r.json_body["ca_bundle_pem"] == "");  // no bundle reader given
  }
}

}  // namespace airlock::control
