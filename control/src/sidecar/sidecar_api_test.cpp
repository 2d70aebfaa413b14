// The sidecar routes through the real ControlApi: a session's proxy token, and only that, opens them; the
// sealed snapshot holds that session's credentials and nothing of another session's; the certificate is
// an intermediate under the root; audit batches land in the session's egress list.
#include <doctest/doctest.h>

#include <openssl/pem.h>

#include "airlock/certs/leaf.hpp"
#include "dataplane/snapshot_publisher.hpp"
#include "sidecar/sealed_session.hpp"
#include "sidecar/sidecar_api.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;

struct SidecarFixture : ApiFixture {
  std::shared_ptr<const certs::RootCa> ca = std::make_shared<const certs::RootCa>(std::move(*certs::RootCa::generate()));
  proxy::SnapshotSlot slot;
  SidecarApi sidecars{store(), slot, {}, ca, log};
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "env"}})["id"];

  SidecarFixture() {
    api.set_token_routes([this](ApiRequest& request) { return sidecars.handle(request); });
  }
  // A session with a vault of its own holding one credential with `secret`.
  std::string session_with(std::string_view secret_name, std::string_view secret) {
    const std::string vault = create_vault();
    create_env_credential(vault, secret_name, secret);
    return ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}, {"vault_ids", {vault}}})["id"];
  }
  void publish() { slot.store(build_snapshot(store())); }
  std::string token_of(const std::string& session) { return slot.load()->sessions.at(session).proxy_token; }
  testing::Response as(const std::string& token, std::string method, std::string target, std::string body = {}) {
    return request(std::move(method), std::move(target), std::move(body), {{"Authorization", "Bearer " + token}}, false);
  }
};

std::string text_of(const certs::SecretBytes& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.bytes().data()), bytes.size());
}

}  // namespace

TEST_CASE("sidecar api: the sealed snapshot holds its own session's secret and no other's") {
  SidecarFixture f;
  const std::string mine = f.session_with("METRICS_API_TOKEN", "sk-metrics-4f9c2a7e1b8d3065");
  const std::string other = f.session_with("OTHER_TOKEN", "sk-other-9d8c7b6a5f4e3021");
  f.publish();
  const BoxKeyPair keys = BoxKeyPair::generate();
  const auto response = f.as(f.token_of(mine), "GET",
                             fmt::format("/v1/sessions/{}/sidecar/snapshot?public_key={}", mine, encode_public_key(keys.public_key)));
  REQUIRE(response.status == 200);
  CHECK(response.json_body["type"] == "sidecar_snapshot");
  CHECK(response.body.find("sk-metrics") == std::string::npos);
  const proxy::SessionEntry entry = open_session(response.json_body["sealed"].get<std::string>(), keys);
  CHECK(entry.session_id == mine);
  REQUIRE(entry.credentials.size() == 1);
  CHECK(entry.credentials[0]->secret_name == "METRICS_API_TOKEN");
  CHECK(text_of(entry.credentials[0]->value) == "sk-metrics-4f9c2a7e1b8d3065");

  // The other session's token does not open this session's routes, nor an API key, nor nothing at all.
  const std::string target = fmt::format("/v1/sessions/{}/sidecar/snapshot?public_key={}", mine, encode_public_key(keys.public_key));
  for (const std::string& token : {f.token_of(other), std::string(ApiFixture::kKey), std::string()}) {
    const auto refused = f.as(token, "GET", target);
    CHECK(refused.status == 401);
    CHECK(testing::refusal(refused).starts_with(fmt::format("401 authentication_error: session {} is not active, or the "
                                                            "proxy token is not its own",
                                                            mine)));
  }
  CHECK(f.as(f.token_of(mine), "GET", fmt::format("/v1/sessions/{}/sidecar/snapshot", mine)).status == 400);
  CHECK(f.as(f.token_of(mine), "POST", fmt::format("/v1/sessions/{}/sidecar/snapshot", mine)).status == 405);

  // Archived: the same 401, at once.
  const std::string token = f.token_of(mine);
  f.ok_post(fmt::format("/v1/sessions/{}/archive", mine));
  f.publish();
  CHECK(f.as(token, "GET", target).status == 401);
}

TEST_CASE("sidecar api: a certificate for the sidecar's key is an intermediate under the root, audit batches are stored") {
  SidecarFixture f;
  const std::string session = f.session_with("METRICS_API_TOKEN", "sk-metrics-4f9c2a7e1b8d3065");
  f.publish();
  const std::string token = f.token_of(session);
  auto key = certs::generate_p256_key();
  REQUIRE(key);
  certs::BioPtr bio{BIO_new(BIO_s_mem())};
  REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key->get()) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const json body = {{"public_key_pem", std::string(data, static_cast<std::size_t>(size))}};
  const auto issued = f.as(token, "POST", fmt::format("/v1/sessions/{}/sidecar/certificate", session), body.dump());
  REQUIRE(issued.status == 200);
  CHECK(issued.json_body["root_pem"] == f.ca->certificate_pem());
  auto intermediate =
      certs::RootCa::load(issued.json_body["certificate_pem"].get<std::string>(), certs::private_key_der(key->get())->bytes());
  REQUIRE(intermediate);
  CHECK_FALSE(intermediate->signs_intermediates());
  CHECK(X509_verify(intermediate->certificate(), X509_get0_pubkey(f.ca->certificate())) == 1);
  CHECK(testing::refusal(f.as(token, "POST", fmt::format("/v1/sessions/{}/sidecar/certificate", session),
                              R"({"public_key_pem": "not a key"})")) ==
        "400 invalid_request_error: public_key_pem: expected a PEM P-256 public key (BEGIN PUBLIC KEY)");

  const json batch = {{"records",
                       {{{"created_at", "2026-12-06T09:00:00.000000Z"}, {"method", "GET"}, {"host", "metrics.internal"},
                         {"port", 443}, {"path", "/v1/daily"}, {"status", 200}, {"bytes_up", 120}, {"bytes_down", 900},
                         {"decision", "allowed"}, {"reason", ""}, {"original_destination", "192.0.2.10:443"},
                         {"credentials", {{{"credential_id", "vcrd_1"}, {"secret_name", "METRICS_API_TOKEN"}, {"location", "header"}}}}}}}};
  const auto stored = f.as(token, "POST", fmt::format("/v1/sessions/{}/sidecar/egress", session), batch.dump());
  REQUIRE(stored.status == 200);
  CHECK(stored.json_body["recorded"] == 1);
  const json egress = f.ok_get(fmt::format("/v1/sessions/{}/egress", session));
  REQUIRE(egress["data"].size() == 1);
  CHECK(egress["data"][0]["host"] == "metrics.internal");
  CHECK(egress["data"][0]["original_destination"] == "192.0.2.10:443");
  json bad = batch;
  bad["records"][0]["decision"] = "maybe";
  CHECK(testing::refusal(f.as(token, "POST", fmt::format("/v1/sessions/{}/sidecar/egress", session), bad.dump())) ==
        "400 invalid_request_error: records[0].decision: expected allowed, denied or error");
}

}  // namespace airlock::control
