// The sealed session: what seal_session() puts in comes out of open_session() field for field, policy
// included; it opens only with the sidecar's own key, and not at all once a byte is changed.
#include <doctest/doctest.h>

#include "sidecar/sealed_session.hpp"

namespace airlock::control {
namespace {

certs::SecretBytes secret(std::string_view text) {
  return certs::SecretBytes(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
}

std::string text_of(const certs::SecretBytes& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.bytes().data()), bytes.size());
}

proxy::SessionEntry sample(const std::shared_ptr<const policies::PolicySet>& set) {
  proxy::SessionEntry entry;
  entry.session_id = "sesn_01side";
  entry.proxy_token = std::string(64, 'a');
  entry.network_limited = true;
  entry.allowed_hosts = {"metrics.internal", "*.example.com"};
  auto env = std::make_shared<proxy::CredentialRule>();
  env->credential_id = "vcrd_01env";
  env->secret_name = "METRICS_API_TOKEN";
  env->placeholder = "airlock_ph_0123456789abcdefghij0123456789abcdefghij";
  env->allowed_hosts = {"metrics.internal"};
  env->in_header = true;
  env->in_url = true;
  env->value = secret(std::string("metrics-live-\0binary\xff", 21));
  auto bearer = std::make_shared<proxy::CredentialRule>();
  bearer->kind = proxy::CredentialRule::Kind::static_bearer;
  bearer->credential_id = "vcrd_01mcp";
  bearer->unrestricted = true;
  bearer->mcp_server_url = "https://mcp.example.com/v1";
  bearer->value = secret("mcp-token-0123456789abcdef");
  auto model = std::make_shared<proxy::CredentialRule>();
  model->kind = proxy::CredentialRule::Kind::static_bearer;
  model->credential_id = "vcrd_01llm";
  model->mcp_server_url = "https://api.anthropic.com";
  model->bearer_header = proxy::CredentialRule::BearerHeader::x_api_key;
  model->value = secret("sk-ant-0123456789abcdef");
  entry.credentials = {env, bearer, model};
  entry.policy = std::shared_ptr<const policies::Policy>(set, set->find("read-only"));
  return entry;
}

}  // namespace

TEST_CASE("sealed session: a round trip keeps every field, the policy included") {
  auto parsed = policies::parse_policies(
      "policies:\n  read-only:\n    default: deny\n    rules:\n      - allow: metrics.internal\n        methods: [GET]\n",
      "/etc/airlock/policies.yaml");
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error()));
  auto set = std::make_shared<const policies::PolicySet>(std::move(parsed).value());
  const proxy::SessionEntry entry = sample(set);
  const BoxKeyPair keys = BoxKeyPair::generate();

  const std::string sealed = seal_session(entry, set.get(), keys.public_key);
  CHECK(sealed.find("metrics-live") == std::string::npos);  // sealed, not encoded
  const proxy::SessionEntry opened = open_session(sealed, keys);
  CHECK(opened.session_id == entry.session_id);
  CHECK(opened.proxy_token == entry.proxy_token);
  CHECK(opened.network_limited);
  CHECK(opened.allowed_hosts == entry.allowed_hosts);
  CHECK(opened.unknown_policy.empty());
  REQUIRE(opened.credentials.size() == 3);
  const proxy::CredentialRule& env = *opened.credentials[0];
  CHECK(env.kind == proxy::CredentialRule::Kind::environment_variable);
  CHECK(env.credential_id == "vcrd_01env");
  CHECK(env.secret_name == "METRICS_API_TOKEN");
  CHECK(env.placeholder == entry.credentials[0]->placeholder);
  CHECK_FALSE(env.unrestricted);
  CHECK(env.allowed_hosts == std::vector<std::string>{"metrics.internal"});
  CHECK(env.in_header);
  CHECK_FALSE(env.in_body);
  CHECK(env.in_url);
  CHECK(text_of(env.value) == std::string("metrics-live-\0binary\xff", 21));
  const proxy::CredentialRule& bearer = *opened.credentials[1];
  CHECK(bearer.kind == proxy::CredentialRule::Kind::static_bearer);
  CHECK(bearer.unrestricted);
  CHECK(bearer.mcp_server_url == "https://mcp.example.com/v1");
  CHECK(text_of(bearer.value) == "mcp-token-0123456789abcdef");
  CHECK(bearer.bearer_header == proxy::CredentialRule::BearerHeader::authorization);
  const proxy::CredentialRule& model = *opened.credentials[2];
  CHECK(model.mcp_server_url == "https://api.anthropic.com");
  CHECK(model.bearer_header == proxy::CredentialRule::BearerHeader::x_api_key);
  CHECK(text_of(model.value) == "sk-ant-0123456789abcdef");
  REQUIRE(opened.policy);
  CHECK(opened.policy->name == "read-only");
  CHECK(opened.policy->rules.size() == 1);
  CHECK(opened.policy->where == entry.policy->where);  // "/etc/airlock/policies.yaml:2", as on the control plane
}

TEST_CASE("sealed session: another key cannot open it, a changed byte is refused, public keys round-trip") {
  proxy::SessionEntry entry;
  entry.session_id = "sesn_01x";
  const BoxKeyPair keys = BoxKeyPair::generate();
  std::string sealed = seal_session(entry, nullptr, keys.public_key);
  CHECK(open_session(sealed, keys).session_id == "sesn_01x");
  CHECK_THROWS_WITH_AS(open_session(sealed, BoxKeyPair::generate()),
                       "the sealed session does not open with this sidecar's key", SealedSessionError);
  sealed[sealed.size() / 2] ^= 1;
  CHECK_THROWS_AS(open_session(sealed, keys), SealedSessionError);
  CHECK_THROWS_AS(open_session("short", keys), SealedSessionError);

  const std::string text = encode_public_key(keys.public_key);
  CHECK(text.size() == 43);
  CHECK(decode_public_key(text) == keys.public_key);
  CHECK_FALSE(decode_public_key(text + "A"));
  CHECK_FALSE(decode_public_key(text.substr(1)));
  CHECK_FALSE(decode_public_key("not base64!"));
}

}  // namespace airlock::control
