// build_snapshot: what a session's entry holds for the proxy, from environments made through the API —
// the switches of limited networking (allow_package_managers, allow_mcp_servers: API.md §4) and the
// network policy an environment names (docs/policy.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "dataplane/snapshot_publisher.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;

struct SnapshotFixture : ApiFixture {
  std::string agent = ok_post("/v1/agents", {{"name", "bot"},
                                             {"model", "claude-opus-5-5"},
                                             {"mcp_servers", json::array({{{"type", "url"}, {"name", "docs"},
                                                                           {"url", "https://MCP.Example.com:8443/sse"}}})},
                                             {"tools", json::array({{{"type", "mcp_toolset"}, {"mcp_server_name", "docs"}}})}})["id"];

  std::string session_in(const json& environment_body) {
    const std::string environment = ok_post("/v1/environments", environment_body)["id"];
    return ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}})["id"];
  }
  proxy::SessionEntry entry(const std::string& session,
                            const std::shared_ptr<const policies::PolicySet>& policies = {}) {
    auto snapshot = build_snapshot(store(), policies);
    const auto found = snapshot->sessions.find(session);
    REQUIRE(found != snapshot->sessions.end());
    return found->second;
  }
};

bool has(const std::vector<std::string>& hosts, std::string_view host) {
  return std::find(hosts.begin(), hosts.end(), host) != hosts.end();
}

json limited(bool package_managers, bool mcp_servers) {
  return {{"type", "limited"},
          {"allowed_hosts", json::array({"api.example.com"})},
          {"allow_package_managers", package_managers},
          {"allow_mcp_servers", mcp_servers}};
}

TEST_CASE("snapshot: allow_package_managers and allow_mcp_servers add their hosts to a limited environment") {
  SnapshotFixture f;
  const auto neither = f.entry(f.session_in({{"name", "a"}, {"config", {{"type", "cloud"}, {"networking", limited(false, false)}}}}));
  CHECK(neither.network_limited);
  CHECK(neither.allowed_hosts == std::vector<std::string>{"api.example.com"});

  const auto managers = f.entry(f.session_in({{"name", "b"}, {"config", {{"type", "cloud"}, {"networking", limited(true, false)}}}}));
  CHECK(has(managers.allowed_hosts, "api.example.com"));
  CHECK(has(managers.allowed_hosts, "registry.npmjs.org"));
  CHECK(has(managers.allowed_hosts, "pypi.org"));
  CHECK(has(managers.allowed_hosts, "files.pythonhosted.org"));
  CHECK(has(managers.allowed_hosts, "proxy.golang.org"));
  CHECK(has(managers.allowed_hosts, "deb.debian.org"));
  CHECK(has(managers.allowed_hosts, "repo.maven.apache.org"));
  CHECK_FALSE(has(managers.allowed_hosts, "mcp.example.com"));

  const auto mcp = f.entry(f.session_in({{"name", "c"}, {"config", {{"type", "cloud"}, {"networking", limited(false, true)}}}}));
  CHECK(mcp.allowed_hosts == std::vector<std::string>{"api.example.com", "mcp.example.com"});

  const auto open = f.entry(f.session_in({{"name", "d"}}));
  CHECK_FALSE(open.network_limited);
}

TEST_CASE("snapshot: an environment's airlock.policy picks the policy, the file's default otherwise, unknown fails closed") {
  SnapshotFixture f;
  const auto set = std::make_shared<const policies::PolicySet>(
      policies::parse_policies("policies:\n  strict:\n    default: deny\n  open:\n    default: allow\ndefault_policy: open\n",
                               "p.yaml")
          .value());
  const std::string named = f.session_in({{"name", "a"}, {"metadata", {{"airlock.policy", "strict"}}}});
  const std::string plain = f.session_in({{"name", "b"}});
  const std::string unknown = f.session_in({{"name", "c"}, {"metadata", {{"airlock.policy", "typo"}}}});

  const auto strict = f.entry(named, set);
  REQUIRE(strict.policy);
  CHECK(strict.policy->name == "strict");
  CHECK(strict.unknown_policy.empty());
  const auto fallback = f.entry(plain, set);
  REQUIRE(fallback.policy);
  CHECK(fallback.policy->name == "open");
  const auto missing = f.entry(unknown, set);
  CHECK_FALSE(missing.policy);
  CHECK(missing.unknown_policy == "typo");
  // Without a policy file: no policy, except that a named one is missing (refused, not let through).
  CHECK_FALSE(f.entry(plain).policy);
  CHECK(f.entry(plain).unknown_policy.empty());
  CHECK(f.entry(named).unknown_policy == "strict");
}

}  // namespace
}  // namespace airlock::control

namespace airlock::control {
namespace {

store::SecretFields secret_value(std::string_view value) {
  store::SecretFields fields;
  fields.emplace_back("secret_value", store::SecretValue{value});
  return fields;
}

std::string text_of(const proxy::CredentialRule& rule) {
  return {reinterpret_cast<const char*>(rule.value.bytes().data()), rule.value.bytes().size()};
}

}  // namespace

TEST_CASE("snapshot: with a cache, a rebuild keeps unchanged credentials' rules and unseals only what changed") {
  SnapshotFixture f;
  store::Store& store = f.store();
  const std::string vault = store.create_vault("{}").value().id;
  const std::string doc = R"({"auth":{"networking":{"type":"unrestricted"}}})";
  const std::string a =
      store.create_credential({vault, "environment_variable", "A", std::nullopt, doc, secret_value("value-a-0123456789")})
          .value()
          .id;
  const std::string b =
      store.create_credential({vault, "environment_variable", "B", std::nullopt, doc, secret_value("value-b-0123456789")})
          .value()
          .id;
  CredentialRuleCache cache;
  build_snapshot(store, {}, {}, &cache);
  REQUIRE(cache.by_id.size() == 2);
  const auto rule_a = cache.by_id.at(a).rule;
  const auto rule_b = cache.by_id.at(b).rule;

  // A change elsewhere (a session that uses the vault): the same rules, nothing unsealed again.
  const std::string environment = f.ok_post("/v1/environments", {{"name", "e"}})["id"];
  const std::string session =
      f.ok_post("/v1/sessions", {{"agent", f.agent}, {"environment_id", environment}, {"vault_ids", {vault}}})["id"];
  build_snapshot(store, {}, {}, &cache);
  CHECK(cache.by_id.at(a).rule == rule_a);
  CHECK(cache.by_id.at(b).rule == rule_b);

  // A rotation, even with the same doc: a's rule is new and holds the new value.
  REQUIRE(store.update_credential(vault, a, doc, secret_value("value-a-rotated-0123")).has_value());
  build_snapshot(store, {}, {}, &cache);
  CHECK(cache.by_id.at(a).rule != rule_a);
  CHECK(text_of(*cache.by_id.at(a).rule) == "value-a-rotated-0123");
  CHECK(cache.by_id.at(b).rule == rule_b);
  const auto rotated = build_snapshot(store, {}, {}, &cache);
  const auto& rules = rotated->sessions.at(session).credentials;
  REQUIRE(rules.size() == 2);
  CHECK(std::count(rules.begin(), rules.end(), cache.by_id.at(a).rule) == 1);  // the session has the new one

  // Archived: gone from the snapshot and from the cache.
  REQUIRE(store.archive_credential(vault, b).has_value());
  build_snapshot(store, {}, {}, &cache);
  CHECK(cache.by_id.count(b) == 0);
  CHECK(cache.by_id.size() == 1);
}

TEST_CASE("snapshot: a static_bearer for api.anthropic.com puts its token in x-api-key, every other in Authorization") {
  using Header = proxy::CredentialRule::BearerHeader;
  CHECK(bearer_header_for("https://api.anthropic.com") == Header::x_api_key);
  CHECK(bearer_header_for("https://api.anthropic.com/") == Header::x_api_key);
  CHECK(bearer_header_for("https://API.Anthropic.COM:8443/v1/messages") == Header::x_api_key);
  CHECK(bearer_header_for("http://api.anthropic.com:80") == Header::x_api_key);
  CHECK(bearer_header_for("https://user@api.anthropic.com/v1") == Header::x_api_key);
  CHECK(bearer_header_for("https://api.anthropic.com.:443/v1") == Header::x_api_key);
  CHECK(bearer_header_for("https://api.anthropic.com?x=1") == Header::x_api_key);
  CHECK(bearer_header_for("https://mcp.example.com/mcp") == Header::authorization);
  CHECK(bearer_header_for("https://anthropic.com/v1") == Header::authorization);
  CHECK(bearer_header_for("https://mcp.anthropic.com/mcp") == Header::authorization);
  CHECK(bearer_header_for("https://api.anthropic.com.evil.example/v1") == Header::authorization);
  CHECK(bearer_header_for("https://evil.example/api.anthropic.com") == Header::authorization);
  CHECK(bearer_header_for("https://api.anthropic.com@evil.example/") == Header::authorization);
  CHECK(bearer_header_for("https://xapi.anthropic.com") == Header::authorization);
  CHECK(bearer_header_for("https://[::1]:443/") == Header::authorization);
  CHECK(bearer_header_for("") == Header::authorization);

  // Through the API: the rules a session's vault gives the proxy.
  SnapshotFixture f;
  const std::string vault = f.ok_post("/v1/vaults", {{"display_name", "LLM"}})["id"];
  const std::string credentials = "/v1/vaults/" + vault + "/credentials";
  const std::string model = f.ok_post(credentials, {{"auth",
                                                      {{"type", "static_bearer"},
                                                       {"mcp_server_url", "https://api.anthropic.com"},
                                                       {"token", "sk-ant-api03-0123456789abcdefghij"}}}})["id"];
  const std::string mcp = f.ok_post(credentials, {{"auth",
                                                    {{"type", "static_bearer"},
                                                     {"mcp_server_url", "https://mcp.example.com/mcp"},
                                                     {"token", "mcp-token-0123456789abcdefghij"}}}})["id"];
  const std::string environment = f.ok_post("/v1/environments", {{"name", "e"}})["id"];
  const std::string session =
      f.ok_post("/v1/sessions", {{"agent", f.agent}, {"environment_id", environment}, {"vault_ids", {vault}}})["id"];
  const proxy::SessionEntry entry = f.entry(session);
  REQUIRE(entry.credentials.size() == 2);
  std::vector<std::string> ids;
  for (const auto& rule : entry.credentials) {
    ids.push_back(rule->credential_id);
    CHECK(rule->kind == proxy::CredentialRule::Kind::static_bearer);
    CHECK(rule->bearer_header == (rule->credential_id == model ? Header::x_api_key : Header::authorization));
  }
  CHECK(has(ids, model));
  CHECK(has(ids, mcp));
}

}  // namespace airlock::control
