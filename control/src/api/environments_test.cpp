// Environments over the API (API.md §4 and §9): the default config, limited networking defaults, typed
// refusals in error.details.error_code, metadata where "" deletes, archive and delete.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

json empty_packages() {
  return {{"type", "packages"}, {"apt", json::array()}, {"cargo", json::array()}, {"gem", json::array()},
          {"go", json::array()}, {"npm", json::array()}, {"pip", json::array()}};
}

json default_config() { return {{"type", "cloud"}, {"networking", {{"type", "unrestricted"}}}, {"packages", empty_packages()}}; }

struct EnvironmentFixture : ApiFixture {
  json environment = ok_post("/v1/environments", {{"name", "reports"}, {"metadata", {{"team", "ops"}, {"tier", "gold"}}}});
  std::string id = environment["id"];
  std::string item() const { return "/v1/environments/" + id; }
};

}  // namespace

TEST_CASE("environments: create with the default config") {
  ApiFixture f;
  json environment = f.ok_post("/v1/environments", {{"name", "reports"}});
  std::string id = environment["id"];
  CHECK(id.starts_with("env_01"));
  const std::string now = f.clock.text();
  CHECK(environment == json{{"id", id},
                            {"type", "environment"},
                            {"name", "reports"},
                            {"description", nullptr},
                            {"config", default_config()},
                            {"metadata", json::object()},
                            {"scope", "organization"},
                            {"created_at", now},
                            {"updated_at", now},
                            {"archived_at", nullptr}});
  CHECK(f.ok_get("/v1/environments/" + id) == environment);
  CHECK(f.ok_post("/v1/environments", {{"name", "n"}, {"config", nullptr}})["config"] == default_config());
  CHECK(f.ok_post("/v1/environments", {{"name", "n"}, {"config", {{"type", "cloud"}}}})["config"] == default_config());
}

TEST_CASE("environments: limited networking gets its defaults") {
  ApiFixture f;
  json environment = f.ok_post(
      "/v1/environments",
      {{"name", "reports"}, {"config", {{"type", "cloud"}, {"networking", {{"type", "limited"}, {"allowed_hosts", {"API.example.com"}}}}}}});
  json expected = default_config();
  expected["networking"] = {{"type", "limited"},
                            {"allowed_hosts", {"api.example.com"}},
                            {"allow_mcp_servers", false},
                            {"allow_package_managers", false}};
  CHECK(environment["config"] == expected);

  json bare = f.ok_post("/v1/environments", {{"name", "n"}, {"config", {{"type", "cloud"}, {"networking", {{"type", "limited"}}}}}});
  CHECK(bare["config"]["networking"] ==
        json{{"type", "limited"}, {"allowed_hosts", json::array()}, {"allow_mcp_servers", false}, {"allow_package_managers", false}});
}

TEST_CASE("environments: packages and self_hosted") {
  ApiFixture f;
  json packages = f.ok_post("/v1/environments",
                            {{"name", "n"}, {"config", {{"type", "cloud"}, {"packages", {{"pip", {"requests==2.31.0"}}, {"npm", nullptr}}}}}});
  json expected = empty_packages();
  expected["pip"] = {"requests==2.31.0"};
  CHECK(packages["config"]["packages"] == expected);

  CHECK(f.ok_post("/v1/environments", {{"name", "n"}, {"config", {{"type", "self_hosted"}}}})["config"] == json{{"type", "self_hosted"}});

  json with_managers = f.ok_post(
      "/v1/environments",
      {{"name", "n"},
       {"config", {{"type", "cloud"},
                   {"networking", {{"type", "limited"}, {"allow_package_managers", true}}},
                   {"packages", {{"apt", {"curl"}}}}}}});
  CHECK(with_managers["config"]["networking"]["allow_package_managers"] == true);
  CHECK(with_managers["config"]["packages"]["apt"] == json{"curl"});
}

TEST_CASE("environments: create refusals") {
  ApiFixture f;
  CHECK(refusal(f.post("/v1/environments", json::object())) == bad("name: required field is missing"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"config", {{"type", "vm"}}}})) ==
        bad("config.type: must be cloud or self_hosted, got \"vm\""));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"config", json::object()}})) ==
        bad("config.type: required field is missing"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"config", {{"type", "cloud"}, {"networking", {{"type", "closed"}}}}}})) ==
        bad("config.networking.type: must be unrestricted or limited, got \"closed\""));
  CHECK(refusal(f.post("/v1/environments",
                       json{{"name", "n"}, {"config", {{"type", "cloud"}, {"networking", {{"type", "limited"}, {"allowed_hosts", {"ok.example", "bad.example:443"}}}}}}})) ==
        bad("config.networking.allowed_hosts[1]: ports are not allowed; give a bare hostname like api.example.com"));
  CHECK(refusal(f.post("/v1/environments",
                       json{{"name", "n"}, {"config", {{"type", "cloud"}, {"networking", {{"type", "limited"}}}, {"packages", {{"pip", {"x"}}}}}}})) ==
        bad("config.packages: limited networking installs packages only with config.networking.allow_package_managers: true"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"config", {{"type", "cloud"}, {"packages", {{"brew", {"x"}}}}}}})) ==
        bad("config.packages.brew: unknown field; accepted fields here: type, apt, cargo, gem, go, npm, pip"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"config", {{"type", "cloud"}, {"packages", {{"pip", {""}}}}}}})) ==
        bad("config.packages.pip[0]: expected a package name"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"config", {{"type", "self_hosted"}, {"networking", nullptr}}}})) ==
        bad("config.networking: unknown field; accepted fields here: type"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"scope", "account"}})) ==
        bad("scope: \"account\" is not supported; use \"organization\""));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"scope", "team"}})) ==
        bad("scope: must be \"organization\", got \"team\""));
  CHECK(f.ok_post("/v1/environments", {{"name", "n"}, {"scope", "organization"}})["scope"] == "organization");
  CHECK(f.ok_get("/v1/environments")["data"].size() == 1);
}

TEST_CASE("environments: invalid metadata carries error_code invalid_metadata") {
  ApiFixture f;
  json seventeen = json::object();
  for (int i = 0; i < 17; ++i) seventeen[fmt::format("k{}", i)] = "v";
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"metadata", seventeen}})) ==
        bad("metadata: at most 16 metadata pairs are allowed (got 17) [invalid_metadata]"));
  CHECK(refusal(f.post("/v1/environments", json{{"name", "n"}, {"metadata", {{"k", std::string(513, 'v')}}}})) ==
        bad("metadata.k: metadata values must be at most 512 characters [invalid_metadata]"));
  Response r = f.post("/v1/environments", json{{"name", "n"}, {"metadata", {{"k", 1}}}});
  CHECK(r.json_body["error"]["details"] == json{{"error_code", "invalid_metadata"}});
}

TEST_CASE("environments: metadata update where null and empty string delete") {
  EnvironmentFixture f;
  json updated = f.ok_post(f.item(), {{"metadata", {{"team", ""}, {"tier", nullptr}, {"owner", "me"}}}});
  CHECK(updated["metadata"] == json{{"owner", "me"}});
  CHECK(refusal(f.post(f.item(), json{{"metadata", {{std::string(65, 'k'), "v"}}}})) ==
        bad(fmt::format("metadata.{}: metadata keys must be at most 64 characters [invalid_metadata]", std::string(65, 'k'))));
}

TEST_CASE("environments: config update patches and keeps") {
  ApiFixture f;
  json created = f.ok_post("/v1/environments",
                           {{"name", "n"},
                            {"description", "first"},
                            {"config", {{"type", "cloud"},
                                        {"networking", {{"type", "limited"}, {"allowed_hosts", {"a.example"}}, {"allow_mcp_servers", true}}}}}});
  std::string item = "/v1/environments/" + created["id"].get<std::string>();

  json toggled = f.ok_post(item, {{"config", {{"type", "cloud"}, {"networking", {{"type", "limited"}, {"allow_package_managers", true}}}}}});
  CHECK(toggled["config"]["networking"] == json{{"type", "limited"},
                                                {"allowed_hosts", {"a.example"}},
                                                {"allow_mcp_servers", true},
                                                {"allow_package_managers", true}});
  json with_packages = f.ok_post(item, {{"config", {{"type", "cloud"}, {"packages", {{"pip", {"x"}}}}}}});
  CHECK(with_packages["config"]["networking"] == toggled["config"]["networking"]);
  CHECK(with_packages["config"]["packages"]["pip"] == json{"x"});

  json renamed = f.ok_post(item, {{"name", "renamed"}, {"description", ""}});
  CHECK(renamed["name"] == "renamed");
  CHECK(renamed["description"] == "");  // "" is kept as ""
  CHECK(renamed["config"] == with_packages["config"]);
  CHECK(f.ok_post(item, {{"description", nullptr}})["description"].is_null());
  CHECK(f.ok_post(item, {{"name", nullptr}})["name"] == "renamed");

  json unrestricted = f.ok_post(item, {{"config", {{"type", "cloud"}, {"networking", {{"type", "unrestricted"}}}}}});
  CHECK(unrestricted["config"]["networking"] == json{{"type", "unrestricted"}});
  CHECK(unrestricted["config"]["packages"]["pip"] == json{"x"});
}

TEST_CASE("environments: config.type cannot change") {
  EnvironmentFixture f;
  CHECK(refusal(f.post(f.item(), json{{"config", {{"type", "self_hosted"}}}})) ==
        bad("config.type: an environment's config type cannot change (it is \"cloud\") [invalid_config_type_change]"));
  json self_hosted = f.ok_post("/v1/environments", {{"name", "sh"}, {"config", {{"type", "self_hosted"}}}});
  CHECK(refusal(f.post("/v1/environments/" + self_hosted["id"].get<std::string>(), json{{"config", {{"type", "cloud"}}}})) ==
        bad("config.type: an environment's config type cannot change (it is \"self_hosted\") [invalid_config_type_change]"));
  CHECK(f.ok_get(f.item()) == f.environment);
}

TEST_CASE("environments: archived environments cannot change") {
  EnvironmentFixture f;
  f.advance(std::chrono::seconds(1));
  json archived = f.ok_post(f.item() + "/archive");
  CHECK(archived["archived_at"] == f.clock.text());
  CHECK(refusal(f.post(f.item(), json{{"name", "x"}})) ==
        bad(fmt::format("environment {} is archived; archived environments cannot change [environment_archived]", f.id)));
  CHECK(f.ok_get("/v1/environments")["data"].empty());
  CHECK(ApiFixture::ids(f.ok_get("/v1/environments?include_archived=true")) == std::vector<std::string>{f.id});
}

TEST_CASE("environments: unknown ids carry error_code environment_not_found") {
  ApiFixture f;
  const std::string message = "404 not_found_error: environment env_missing was not found [environment_not_found]";
  CHECK(refusal(f.get("/v1/environments/env_missing")) == message);
  CHECK(refusal(f.post("/v1/environments/env_missing", json{{"name", "x"}})) == message);
  CHECK(refusal(f.post("/v1/environments/env_missing/archive")) == message);
  CHECK(refusal(f.del("/v1/environments/env_missing")) == message);
}

TEST_CASE("environments: delete") {
  EnvironmentFixture f;
  CHECK(f.ok("DELETE", f.item()) == json{{"id", f.id}, {"type", "environment_deleted"}});
  CHECK(refusal(f.get(f.item())) ==
        fmt::format("404 not_found_error: environment {} was not found [environment_not_found]", f.id));
}

}  // namespace airlock::control
