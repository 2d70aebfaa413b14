// Agents over the API (API.md §3): the default object, versioning (a new version only on change), the
// optimistic lock, ?version=N, the versions list, and the refusals.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

json minimal_agent() { return {{"name", "Report bot"}, {"model", "claude-opus-5-5"}}; }

struct AgentFixture : ApiFixture {
  json agent = ok_post("/v1/agents", minimal_agent());
  std::string id = agent["id"];
  std::string item() const { return "/v1/agents/" + id; }
};

}  // namespace

TEST_CASE("agents: create returns the defaults of API.md section 3") {
  ApiFixture f;
  json agent = f.ok_post("/v1/agents", minimal_agent());
  std::string id = agent["id"];
  CHECK(id.starts_with("agent_01"));
  const std::string now = f.clock.text();
  CHECK(agent == json{{"id", id},
                      {"type", "agent"},
                      {"name", "Report bot"},
                      {"description", nullptr},
                      {"system", nullptr},
                      {"model", {{"id", "claude-opus-5-5"}}},
                      {"tools", json::array()},
                      {"mcp_servers", json::array()},
                      {"skills", json::array()},
                      {"multiagent", nullptr},
                      {"execution_identity", {{"type", "service_account"}}},
                      {"metadata", json::object()},
                      {"version", 1},
                      {"created_at", now},
                      {"updated_at", now},
                      {"archived_at", nullptr}});
  CHECK(f.ok_get("/v1/agents/" + id) == agent);
}

TEST_CASE("agents: create with every optional field") {
  ApiFixture f;
  json body = {{"name", "Full"},
               {"model", {{"id", "claude-opus-5-5"}, {"effort", "high"}, {"inference_geo", "us"}, {"speed", "fast"}}},
               {"description", "does things"},
               {"system", "be brief"},
               {"mcp_servers", {{{"name", "docs"}, {"type", "url"}, {"url", "https://docs.example/mcp"}}}},
               {"tools", {{{"type", "agent_toolset_20260401"}}, {{"type", "mcp_toolset"}, {"mcp_server_name", "docs"}}}},
               {"skills", {{{"skill_id", "skill_1"}, {"type", "custom"}}}},
               {"multiagent", {{"type", "coordinator"}}},
               {"execution_identity", {{"type", "aws_role"}, {"role_arn", "arn:aws:iam::1:role/x"}}},
               {"metadata", {{"team", "ops"}}}};
  json agent = f.ok_post("/v1/agents", body);
  CHECK(agent["model"] == json{{"id", "claude-opus-5-5"}, {"effort", {{"type", "high"}}}, {"inference_geo", "us"}, {"speed", "fast"}});
  CHECK(agent["description"] == "does things");
  CHECK(agent["system"] == "be brief");
  CHECK(agent["mcp_servers"] == body["mcp_servers"]);
  CHECK(agent["tools"] == body["tools"]);
  CHECK(agent["skills"] == body["skills"]);
  CHECK(agent["multiagent"] == body["multiagent"]);
  CHECK(agent["execution_identity"] == body["execution_identity"]);
  CHECK(agent["metadata"] == body["metadata"]);
  // effort as {type} is accepted too and comes back the same way.
  json object_effort = f.ok_post("/v1/agents", {{"name", "E"}, {"model", {{"id", "m"}, {"effort", {{"type", "max"}}}}}});
  CHECK(object_effort["model"] == json{{"id", "m"}, {"effort", {{"type", "max"}}}});
}

TEST_CASE("agents: create refusals") {
  ApiFixture f;
  CHECK(refusal(f.post("/v1/agents", json{{"model", "m"}})) == bad("name: required field is missing"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}})) == bad("model: required field is missing"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", nullptr}})) == bad("model: required field is missing"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", ""}})) == bad("model: must not be empty"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", 3}})) ==
        bad("model: expected a model id string or an object with id, got a number"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", {{"id", "m"}, {"effort", "extreme"}}}})) ==
        bad("model.effort: must be one of low, medium, high, xhigh, max; got \"extreme\""));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", {{"id", "m"}, {"speed", "slow"}}}})) ==
        bad("model.speed: must be standard or fast"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", "m"}, {"version", 1}})) ==
        bad("version: unknown field; accepted fields here: name, model, description, system, metadata, mcp_servers, "
            "tools, skills, multiagent, execution_identity"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", "m"},
                                           {"mcp_servers", {{{"name", "docs"}, {"type", "url"}, {"url", "https://d.example"}}}}})) ==
        bad("mcp_servers: \"docs\" is not used by any mcp_toolset in tools"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", "m"},
                                           {"tools", {{{"type", "mcp_toolset"}, {"mcp_server_name", "ghost"}}}}})) ==
        bad("tools: an mcp_toolset names MCP server \"ghost\", which is not in mcp_servers"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", "m"}, {"tools", {{{"type", "shell"}}}}})) ==
        bad("tools[0].type: must be one of agent_toolset_20260401, mcp_toolset, custom; got \"shell\""));
  CHECK(refusal(f.post("/v1/agents", json{{"name", "n"}, {"model", "m"}, {"execution_identity", {{"type", "root"}}}})) ==
        bad("execution_identity.type: must be service_account or aws_role"));
  CHECK(refusal(f.post("/v1/agents", json{{"name", std::string(257, 'n')}, {"model", "m"}})) ==
        bad("name: must be at most 256 characters (got 257)"));
  CHECK(f.ok_get("/v1/agents")["data"].empty());
}

TEST_CASE("agents: update bumps the version only when something changes") {
  AgentFixture f;
  f.advance(std::chrono::seconds(5));
  json same = f.ok_post(f.item(), {{"name", "Report bot"}, {"model", "claude-opus-5-5"}});
  CHECK(same == f.agent);  // no change: version 1, updated_at untouched
  CHECK(f.ok_post(f.item()) == f.agent);  // empty body

  json v2 = f.ok_post(f.item(), {{"system", "be brief"}});
  CHECK(v2["version"] == 2);
  CHECK(v2["system"] == "be brief");
  CHECK(v2["updated_at"] == f.clock.text());
  CHECK(v2["created_at"] == f.agent["created_at"]);

  json repeated = f.ok_post(f.item(), {{"system", "be brief"}});
  CHECK(repeated == v2);

  f.advance(std::chrono::seconds(5));
  json v3 = f.ok_post(f.item(), {{"system", ""}, {"metadata", {{"k", "v"}}}});  // "" clears
  CHECK(v3["version"] == 3);
  CHECK(v3["system"].is_null());
  CHECK(v3["metadata"] == json{{"k", "v"}});
}

TEST_CASE("agents: the version field is an optimistic lock") {
  AgentFixture f;
  json v2 = f.ok_post(f.item(), {{"version", 1}, {"description", "first change"}});
  CHECK(v2["version"] == 2);

  Response stale = f.post(f.item(), json{{"version", 1}, {"description", "stale change"}});
  CHECK(refusal(stale) == fmt::format("409 conflict_error: version: agent {} is at version 2, not 1; retrieve it and apply "
                                      "your change again",
                                      f.id));
  CHECK(stale.header("x-should-retry") == "false");
  CHECK(f.ok_get(f.item()) == v2);  // nothing written

  CHECK(refusal(f.post(f.item(), json{{"version", 0}})) == bad("version: expected an integer from 1 to 2147483647"));
  CHECK(refusal(f.post(f.item(), json{{"version", "2"}})) == bad("version: expected an integer from 1 to 2147483647"));
  CHECK(refusal(f.post(f.item(), json{{"version", 2.0}})) == bad("version: expected an integer from 1 to 2147483647"));
  CHECK(f.ok_post(f.item(), {{"version", nullptr}, {"description", "no lock"}})["version"] == 3);
  CHECK(f.ok_post(f.item(), {{"version", 3}})["version"] == 3);  // matching version and no change
}

// A version is checked against int range before use: 4294967297 (2^32 + 1) must not wrap to 1 and pass the
// optimistic lock of an agent at version 1.
TEST_CASE("agents: a version beyond int range is refused") {
  AgentFixture f;
  Response r = f.post(f.item(), json{{"version", 4294967297LL}, {"description", "sneaked in"}});
  CHECK(refusal(r) == bad("version: expected an integer from 1 to 2147483647"));
  CHECK(f.ok_get(f.item())["version"] == 1);
}

TEST_CASE("agents: update refusals") {
  AgentFixture f;
  CHECK(refusal(f.post(f.item(), json{{"name", nullptr}})) == bad("name: cannot be cleared"));
  CHECK(refusal(f.post(f.item(), json{{"model", nullptr}})) == bad("model: cannot be cleared"));
  CHECK(refusal(f.post(f.item(), json{{"name", ""}})) == bad("name: must not be empty"));
  CHECK(refusal(f.post(f.item(), json{{"id", "x"}})) ==
        bad("id: unknown field; accepted fields here: version, name, model, description, system, metadata, mcp_servers, "
            "tools, skills, multiagent, execution_identity"));
  CHECK(refusal(f.post("/v1/agents/agent_missing", json{{"name", "x"}})) == "404 not_found_error: agent agent_missing was not found");
  CHECK(f.ok_get(f.item()) == f.agent);
}

TEST_CASE("agents: update replaces model and arrays as a whole") {
  ApiFixture f;
  json created = f.ok_post("/v1/agents",
                           {{"name", "n"},
                            {"model", {{"id", "m1"}, {"inference_geo", "eu"}}},
                            {"mcp_servers", {{{"name", "docs"}, {"type", "url"}, {"url", "https://d.example"}}}},
                            {"tools", {{{"type", "mcp_toolset"}, {"mcp_server_name", "docs"}}}}});
  std::string item = "/v1/agents/" + created["id"].get<std::string>();
  json updated = f.ok_post(item, {{"model", "m2"}});
  CHECK(updated["model"] == json{{"id", "m2"}});  // inference_geo cleared with the old model

  // Dropping the server without dropping its toolset is refused; dropping both works.
  CHECK(refusal(f.post(item, json{{"mcp_servers", nullptr}})) ==
        bad("tools: an mcp_toolset names MCP server \"docs\", which is not in mcp_servers"));
  json cleared = f.ok_post(item, {{"mcp_servers", json::array()}, {"tools", nullptr}});
  CHECK(cleared["mcp_servers"] == json::array());
  CHECK(cleared["tools"] == json::array());
  CHECK(cleared["version"] == 3);
}

TEST_CASE("agents: retrieve a past version with ?version=N") {
  AgentFixture f;
  f.advance(std::chrono::seconds(1));
  json v2 = f.ok_post(f.item(), {{"name", "Renamed"}});
  CHECK(f.ok_get(f.item() + "?version=1") == f.agent);
  CHECK(f.ok_get(f.item() + "?version=2") == v2);
  CHECK(f.ok_get(f.item() + "?version=") == v2);  // empty: the latest
  CHECK(refusal(f.get(f.item() + "?version=3")) == fmt::format("404 not_found_error: agent {} has no version 3", f.id));
  CHECK(refusal(f.get(f.item() + "?version=0")) == bad("version: expected an integer >= 1, got \"0\""));
  CHECK(refusal(f.get(f.item() + "?version=two")) == bad("version: expected an integer >= 1, got \"two\""));
  CHECK(refusal(f.get("/v1/agents/agent_missing?version=1")) == "404 not_found_error: agent agent_missing was not found");
}

TEST_CASE("agents: the versions list is newest first and paginates") {
  AgentFixture f;
  std::vector<json> versions{f.agent};
  for (int i = 2; i <= 4; ++i) {
    f.advance(std::chrono::seconds(1));
    versions.push_back(f.ok_post(f.item(), {{"description", fmt::format("change {}", i)}}));
  }
  json all = f.ok_get(f.item() + "/versions");
  REQUIRE(all["data"].size() == 4);
  CHECK(all["next_page"].is_null());
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(all["data"][i]["version"] == 4 - i);
    CHECK(all["data"][i]["id"] == f.id);
    CHECK(all["data"][i] == f.ok_get(f.item() + fmt::format("?version={}", 4 - i)));
  }
  CHECK(all["data"][0] == versions[3]);

  json first = f.ok_get(f.item() + "/versions?limit=3");
  CHECK(first["data"].size() == 3);
  REQUIRE(first["next_page"].is_string());
  json rest = f.ok_get(f.item() + "/versions?limit=3&page=" + first["next_page"].get<std::string>());
  REQUIRE(rest["data"].size() == 1);
  CHECK(rest["data"][0]["version"] == 1);
  CHECK(rest["next_page"].is_null());

  CHECK(refusal(f.get("/v1/agents/agent_missing/versions")) == "404 not_found_error: agent agent_missing was not found");
}

TEST_CASE("agents: archive hides the agent from lists and blocks updates") {
  AgentFixture f;
  f.advance(std::chrono::seconds(1));
  json archived = f.ok_post(f.item() + "/archive");
  CHECK(archived["archived_at"] == f.clock.text());
  CHECK(archived["version"] == 1);
  CHECK(f.ok_get("/v1/agents")["data"].empty());
  CHECK(ApiFixture::ids(f.ok_get("/v1/agents?include_archived=true")) == std::vector<std::string>{f.id});
  CHECK(refusal(f.post(f.item(), json{{"name", "x"}})) ==
        bad(fmt::format("agent {} is archived; archived agents cannot change", f.id)));
  CHECK(refusal(f.post("/v1/agents/agent_missing/archive")) == "404 not_found_error: agent agent_missing was not found");
}

}  // namespace airlock::control
