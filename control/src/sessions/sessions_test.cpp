// Sessions over the API (API.md §6): the complete Session object, agent references and overrides, the
// checks on environment, agent, vaults and resources with their JSON paths, the secret_name clash across
// vaults (§10), initial events, update, the BidirectionalPageCursor list with its filters, archive and
// delete. create_session as the deployment runner calls it is in session_factory_test.cpp.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using namespace std::chrono_literals;
using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

struct SessionFixture : ApiFixture {
  json agent_v1 = ok_post("/v1/agents", {{"name", "Report bot"}, {"model", "claude-opus-5-5"}, {"system", "Be brief."}});
  std::string agent = agent_v1["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "reports"}})["id"];

  json body(json extra = json::object()) const {
    json out = {{"agent", agent}, {"environment_id", environment}};
    if (!extra.is_null()) out.update(extra);
    return out;
  }
  json create(json extra = json::object()) { return ok_post("/v1/sessions", body(std::move(extra))); }
  std::string create_refusal(json extra) { return refusal(post("/v1/sessions", body(std::move(extra)))); }
  std::size_t session_count() {
    return ok_get("/v1/sessions?include_archived=true&limit=100")["data"].size();
  }
};

json snapshot_of(const json& agent) {
  json out = agent;
  for (const char* key : {"metadata", "created_at", "updated_at", "archived_at"}) out.erase(key);
  return out;
}

}  // namespace

TEST_CASE("sessions: create returns the complete Session object, and retrieve the same") {
  SessionFixture f;
  json session = f.create();
  const std::string id = session["id"];
  CHECK(id.starts_with("sesn_01"));
  const std::string now = f.clock.text();
  json agent = {{"id", f.agent},
                {"type", "agent"},
                {"version", 1},
                {"name", "Report bot"},
                {"description", nullptr},
                {"system", "Be brief."},
                {"model", {{"id", "claude-opus-5-5"}}},
                {"tools", json::array()},
                {"mcp_servers", json::array()},
                {"skills", json::array()},
                {"multiagent", nullptr},
                {"execution_identity", {{"type", "service_account"}}}};
  CHECK(session == json{{"id", id},
                        {"type", "session"},
                        {"status", "idle"},
                        {"agent", agent},
                        {"environment_id", f.environment},
                        {"vault_ids", json::array()},
                        {"resources", json::array()},
                        {"metadata", json::object()},
                        {"title", nullptr},
                        {"budget", nullptr},
                        {"outcome_evaluations", json::array()},
                        {"stats", json::object()},
                        {"usage", json::object()},
                        {"deployment_id", nullptr},
                        {"created_at", now},
                        {"updated_at", now},
                        {"archived_at", nullptr}});
  CHECK(snapshot_of(f.agent_v1) == agent);
  CHECK(f.ok_get("/v1/sessions/" + id) == session);
  CHECK(refusal(f.get("/v1/sessions/sesn_01nope")) == "404 not_found_error: session sesn_01nope was not found");
}

TEST_CASE("sessions: metadata, title, budget and vault_ids are echoed") {
  SessionFixture f;
  std::string a = f.create_vault("A");
  std::string b = f.create_vault("B");
  json budget = {{"type", "limit"}, {"max_list_cost", {{"amount", "2500"}, {"currency", "USD"}}}};
  json session = f.create({{"vault_ids", {b, a}}, {"metadata", {{"team", "data"}}}, {"title", "Nightly"}, {"budget", budget}});
  CHECK(session["vault_ids"] == json{b, a});
  CHECK(session["metadata"] == json{{"team", "data"}});
  CHECK(session["title"] == "Nightly");
  CHECK(session["budget"] == budget);
  CHECK(f.ok_get("/v1/sessions/" + session["id"].get<std::string>()) == session);

  CHECK(f.create_refusal({{"budget", {{"type", "limit"}, {"max_list_cost", {{"amount", "025"}, {"currency", "USD"}}}}}}) ==
        bad("budget.max_list_cost.amount: must be an integer in minor units without leading zeros, e.g. \"2500\" for $25.00"));
  CHECK(f.create_refusal({{"budget", {{"type", "limit"}, {"max_list_cost", {{"amount", "1"}, {"currency", "EUR"}}}}}}) ==
        bad("budget.max_list_cost.currency: must be \"USD\""));
  CHECK(f.create_refusal({{"budget", {{"type", "cap"}}}}) == bad("budget.type: must be \"limit\""));
  CHECK(f.create_refusal({{"metadata", {{"k", 1}}}}) == bad("metadata.k: metadata values must be strings, got a number"));
  CHECK(f.create_refusal({{"title", 5}}) == bad("title: expected a string or null, got a number"));
  CHECK(f.create_refusal({{"vault_ids", {a, 7}}}) == bad("vault_ids[1]: expected a vault id, got a number"));
  CHECK(f.create_refusal({{"vault_ids", {a, b, a}}}) == bad("vault_ids[2]: vault " + a + " is already listed at vault_ids[0]"));
  CHECK(f.create_refusal({{"colour", "red"}}) ==
        bad("colour: unknown field; accepted fields here: agent, environment_id, vault_ids, resources, initial_events, "
            "metadata, title, budget"));
  CHECK(refusal(f.post("/v1/sessions", json{{"environment_id", f.environment}})) == bad("agent: required field is missing"));
  CHECK(refusal(f.post("/v1/sessions", json{{"agent", f.agent}})) == bad("environment_id: required field is missing"));
  CHECK(f.session_count() == 1);
}

TEST_CASE("sessions: agent references pin a version, overrides replace snapshot fields") {
  SessionFixture f;
  f.ok_post("/v1/agents/" + f.agent, {{"version", 1}, {"system", "Be thorough."}});  // version 2

  json latest = f.create();
  CHECK(latest["agent"]["version"] == 2);
  CHECK(latest["agent"]["system"] == "Be thorough.");
  json pinned = f.create({{"agent", {{"id", f.agent}, {"type", "agent"}, {"version", 1}}}});
  CHECK(pinned["agent"]["version"] == 1);
  CHECK(pinned["agent"]["system"] == "Be brief.");
  CHECK(f.create({{"agent", {{"id", f.agent}, {"type", "agent"}}}})["agent"]["version"] == 2);

  json overridden = f.create({{"agent",
                               {{"id", f.agent},
                                {"type", "agent_with_overrides"},
                                {"version", 1},
                                {"model", {{"id", "claude-haiku-5"}, {"effort", "low"}}},
                                {"system", nullptr},
                                {"mcp_servers", {{{"name", "docs"}, {"type", "url"}, {"url", "https://mcp.example.com/mcp"}}}},
                                {"tools", {{{"type", "mcp_toolset"}, {"mcp_server_name", "docs"}}}}}}});
  CHECK(overridden["agent"]["version"] == 1);
  CHECK(overridden["agent"]["model"] == json{{"id", "claude-haiku-5"}, {"effort", {{"type", "low"}}}});
  CHECK(overridden["agent"]["system"] == nullptr);
  CHECK(overridden["agent"]["tools"] == json{{{"type", "mcp_toolset"}, {"mcp_server_name", "docs"}}});
  CHECK(overridden["agent"]["name"] == "Report bot");
  CHECK(f.ok_get("/v1/agents/" + f.agent)["system"] == "Be thorough.");  // the agent itself is untouched

  CHECK(f.create_refusal({{"agent", {{"id", f.agent}, {"type", "agent_with_overrides"},
                                     {"mcp_servers", {{{"name", "docs"}, {"type", "url"}, {"url", "https://m.example.com"}}}}}}}) ==
        bad("agent.mcp_servers: \"docs\" is not used by any mcp_toolset in tools"));
  CHECK(f.create_refusal({{"agent", {{"id", f.agent}, {"type", "agent_with_overrides"}, {"model", {{"id", "m"}, {"effort", "huge"}}}}}}) ==
        bad("agent.model.effort: must be one of low, medium, high, xhigh, max; got \"huge\""));
  CHECK(f.create_refusal({{"agent", {{"id", f.agent}, {"type", "agent"}, {"model", "m"}}}}) ==
        bad("agent.model: unknown field; accepted fields here: id, type, version"));
  CHECK(f.create_refusal({{"agent", {{"id", f.agent}, {"type", "robot"}}}}) ==
        bad("agent.type: must be agent or agent_with_overrides; got \"robot\""));
  CHECK(f.create_refusal({{"agent", {{"id", f.agent}, {"type", "agent"}, {"version", 0}}}}) ==
        bad("agent.version: expected an integer >= 1"));
  CHECK(f.create_refusal({{"agent", 42}}) == bad("agent: expected an agent id or an object with id and type, got a number"));
  CHECK(f.create_refusal({{"agent", "agent_01nope"}}) == "404 not_found_error: agent: agent agent_01nope was not found");
  CHECK(f.create_refusal({{"agent", {{"id", "agent_01nope"}, {"type", "agent"}}}}) ==
        "404 not_found_error: agent.id: agent agent_01nope was not found");
  CHECK(f.create_refusal({{"agent", {{"id", f.agent}, {"type", "agent"}, {"version", 3}}}}) ==
        "404 not_found_error: agent.version: agent " + f.agent + " has no version 3");

  f.ok_post("/v1/agents/" + f.agent + "/archive");
  CHECK(f.create_refusal({}) == bad("agent: agent " + f.agent + " is archived; sessions need an active agent"));
}

TEST_CASE("sessions: the environment must exist and be active (typed error codes)") {
  SessionFixture f;
  CHECK(f.create_refusal({{"environment_id", "env_01nope"}}) ==
        "404 not_found_error: environment_id: environment env_01nope was not found [environment_not_found]");
  f.ok_post("/v1/environments/" + f.environment + "/archive");
  CHECK(f.create_refusal({}) == bad("environment_id: environment " + f.environment +
                                    " is archived; sessions need an active environment") +
                                    " [environment_archived]");
  CHECK(f.session_count() == 0);
}

TEST_CASE("sessions: every vault must exist and be active, named by its index") {
  SessionFixture f;
  std::string a = f.create_vault("A");
  std::string b = f.create_vault("B");
  CHECK(f.create_refusal({{"vault_ids", {a, "vlt_01nope"}}}) == "404 not_found_error: vault_ids[1]: vault vlt_01nope was not found");
  f.ok_post("/v1/vaults/" + b + "/archive");
  CHECK(f.create_refusal({{"vault_ids", {a, b}}}) ==
        bad("vault_ids[1]: vault " + b + " is archived; sessions can only use active vaults"));
  CHECK(f.session_count() == 0);
}

TEST_CASE("sessions: two vaults exposing one secret_name are a 409 naming both, archiving one credential frees it") {
  SessionFixture f;
  std::string a = f.create_vault("A");
  std::string b = f.create_vault("B");
  std::string c = f.create_vault("C");
  f.create_env_credential(a, "METRICS_API_TOKEN", "value-a-3c9e1f7b5d");
  std::string clashing = f.create_env_credential(b, "METRICS_API_TOKEN", "value-b-8a2d6f0c4e");
  f.create_env_credential(c, "OTHER_TOKEN", "value-c-1e5b9d3f7a");

  Response r = f.post("/v1/sessions", f.body({{"vault_ids", {a, c, b}}}));
  CHECK(refusal(r) == "409 conflict_error: vault_ids: secret_name \"METRICS_API_TOKEN\" is defined in both vault " + a +
                          " and vault " + b +
                          "; a sandbox can hold only one value per variable. Archive one of the two credentials, or "
                          "leave one of the vaults out");
  CHECK(r.header("x-should-retry") == "false");
  CHECK(f.session_count() == 0);

  f.create({{"vault_ids", {a, c}}});  // no clash within one set of names
  f.ok_post("/v1/vaults/" + b + "/credentials/" + clashing + "/archive");
  CHECK(f.create({{"vault_ids", {a, c, b}}})["vault_ids"] == json{a, c, b});
}

TEST_CASE("sessions: initial events are stored in order, with ids and processed_at") {
  SessionFixture f;
  json message = {{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", "Compile the report."}}}}};
  json outcome = {{"type", "user.define_outcome"},
                  {"description", "A report exists"},
                  {"rubric", {{"type", "text"}, {"content", "report.md is present"}}}};
  json session = f.create({{"initial_events", {message, outcome}}});
  json events = f.ok_get("/v1/sessions/" + session["id"].get<std::string>() + "/events");
  REQUIRE(events["data"].size() == 2);
  CHECK(events["next_page"] == nullptr);
  json first = events["data"][0];
  CHECK(first["id"].get<std::string>().starts_with("sevt_01"));
  CHECK(first == json{{"id", first["id"]},
                      {"type", "user.message"},
                      {"processed_at", f.clock.text()},
                      {"content", {{{"type", "text"}, {"text", "Compile the report."}}}}});
  json second = events["data"][1];
  CHECK(second["outcome_id"].get<std::string>().starts_with("outc_01"));
  CHECK(second == json{{"id", second["id"]},
                       {"type", "user.define_outcome"},
                       {"processed_at", f.clock.text()},
                       {"description", "A report exists"},
                       {"rubric", {{"type", "text"}, {"content", "report.md is present"}}},
                       {"max_iterations", 3},
                       {"outcome_id", second["outcome_id"]}});

  CHECK(f.create_refusal({{"initial_events", {{{"type", "system.message"}, {"content", {{{"type", "text"}, {"text", "x"}}}}}}}}) ==
        bad("initial_events[0].type: must be one of user.message, user.define_outcome; got \"system.message\""));
  CHECK(f.create_refusal({{"initial_events", {{{"type", "user.message"}, {"content", json::array()}}}}}) ==
        bad("initial_events[0].content: must hold at least one content block"));
  CHECK(f.create_refusal({{"initial_events", {{{"type", "user.message"}, {"content", {{{"type", "text"}}}}}}}}) ==
        bad("initial_events[0].content[0].text: required field is missing"));
  json max_iterations = outcome;
  max_iterations["max_iterations"] = 21;
  CHECK(f.create_refusal({{"initial_events", {message, max_iterations}}}) ==
        bad("initial_events[1].max_iterations: expected an integer from 1 to 20"));
  CHECK(f.create_refusal({{"initial_events", json(std::vector<json>(51, message))}}) ==
        bad("initial_events: at most 50 entries are allowed (got 51)"));
  CHECK(f.session_count() == 1);
}

TEST_CASE("sessions: resources - github repositories get a mount path, tokens and unknown files are refused") {
  SessionFixture f;
  json session = f.create({{"resources",
                            {{{"type", "github_repository"}, {"url", "https://github.com/acme/reports.git"}},
                             {{"type", "github_repository"},
                              {"url", "https://github.com/acme/tools"},
                              {"checkout", {{"type", "branch"}, {"name", "main"}}},
                              {"mount_path", "/src/tools"}}}}});
  json resources = session["resources"];
  REQUIRE(resources.size() == 2);
  CHECK(resources[0]["id"].get<std::string>().starts_with("sesrsc_01"));
  CHECK(resources[0] == json{{"id", resources[0]["id"]},
                             {"type", "github_repository"},
                             {"url", "https://github.com/acme/reports.git"},
                             {"checkout", nullptr},
                             {"mount_path", "/workspace/reports"},
                             {"created_at", session["created_at"]},
                             {"updated_at", session["created_at"]}});
  CHECK(resources[1]["checkout"] == json{{"type", "branch"}, {"name", "main"}});
  CHECK(resources[1]["mount_path"] == "/src/tools");

  CHECK(f.create_refusal({{"resources", {{{"type", "github_repository"}, {"url", "https://github.com/a/b"},
                                          {"authorization_token", "ghp_secret"}}}}}) ==
        bad("resources[0].authorization_token: not supported; keep the token in a vault as an environment_variable "
            "credential limited to the git host, and the proxy supplies it"));
  CHECK(f.create_refusal({{"resources", {{{"type", "github_repository"}, {"url", "git@github.com:a/b"}}}}}) ==
        bad("resources[0].url: must be an https:// repository URL, e.g. https://github.com/org/repo"));
  CHECK(f.create_refusal({{"resources", {{{"type", "github_repository"}, {"url", "https://github.com/a/b"}, {"mount_path", "x"}}}}}) ==
        bad("resources[0].mount_path: must be an absolute path without \"..\", e.g. /workspace/repo"));
  CHECK(f.create_refusal({{"resources", {{{"type", "file"}, {"file_id", "file_01x"}}}}}) ==
        "404 not_found_error: resources[0].file_id: file file_01x was not found; this Airlock stores no files");
  CHECK(f.create_refusal({{"resources", {{{"type", "disk"}}}}}) ==
        bad("resources[0].type: must be one of github_repository, file, memory_store; got \"disk\""));
  CHECK(f.session_count() == 1);
}

TEST_CASE("sessions: update title, metadata (patch) and budget, vault_ids are refused") {
  SessionFixture f;
  json budget = {{"type", "limit"}, {"max_list_cost", {{"amount", "2500"}, {"currency", "USD"}}}};
  json session = f.create({{"metadata", {{"a", "1"}, {"b", "2"}}}, {"title", "old"}, {"budget", budget}});
  const std::string item = "/v1/sessions/" + session["id"].get<std::string>();
  f.advance(2s);
  json updated = f.ok_post(item, {{"title", "new"}, {"metadata", {{"a", nullptr}, {"c", "3"}}}});
  CHECK(updated["title"] == "new");
  CHECK(updated["metadata"] == json{{"b", "2"}, {"c", "3"}});
  CHECK(updated["budget"] == budget);
  CHECK(updated["updated_at"] == f.clock.text());
  CHECK(updated["created_at"] == session["created_at"]);
  CHECK(f.ok_get(item) == updated);

  json smaller = {{"type", "limit"}, {"max_list_cost", {{"amount", "100"}, {"currency", "USD"}}}};
  CHECK(f.ok_post(item, {{"budget", smaller}})["budget"] == smaller);
  CHECK(f.ok_post(item, {{"budget", nullptr}, {"title", nullptr}, {"metadata", nullptr}})["budget"] == nullptr);
  CHECK(f.ok_get(item)["title"] == nullptr);
  CHECK(f.ok_get(item)["metadata"] == json{{"b", "2"}, {"c", "3"}});
  CHECK(refusal(f.post(item, json{{"budget", budget}})) ==
        bad("budget: this session was created without a budget, and one cannot be added later"));
  CHECK(refusal(f.post(item, json{{"vault_ids", json::array()}})) ==
        bad("vault_ids: changing a session's vaults is not supported; create a new session with the vaults it needs"));

  json tools = f.ok_post(item, {{"agent", {{"tools", {{{"type", "agent_toolset_20260401"}}}}}}});
  CHECK(tools["agent"]["tools"] == json{{{"type", "agent_toolset_20260401"}}});
  CHECK(tools["agent"]["system"] == "Be brief.");
  CHECK(refusal(f.post(item, json{{"agent", {{"name", "x"}}}})) ==
        bad("agent.name: unknown field; accepted fields here: tools, mcp_servers"));

  f.ok_post(item + "/archive");
  CHECK(refusal(f.post(item, json{{"title", "late"}})) ==
        bad("session " + session["id"].get<std::string>() + " is archived; archived sessions cannot change"));
  CHECK(refusal(f.post("/v1/sessions/sesn_01nope", json{{"title", "x"}})) ==
        "404 not_found_error: session sesn_01nope was not found");
}

TEST_CASE("sessions: list is newest first and pages both ways (BidirectionalPageCursor)") {
  SessionFixture f;
  std::vector<std::string> ids;  // oldest first
  for (int i = 0; i < 5; ++i) {
    ids.push_back(f.create()["id"]);
    f.advance(1s);
  }
  json first = f.ok_get("/v1/sessions?limit=2");
  CHECK(ApiFixture::ids(first) == std::vector<std::string>{ids[4], ids[3]});
  CHECK(first["prev_page"] == nullptr);
  REQUIRE(first["next_page"].is_string());
  json second = f.ok_get("/v1/sessions?limit=2&page=" + first["next_page"].get<std::string>());
  CHECK(ApiFixture::ids(second) == std::vector<std::string>{ids[2], ids[1]});
  REQUIRE(second["prev_page"].is_string());
  json last = f.ok_get("/v1/sessions?limit=2&page=" + second["next_page"].get<std::string>());
  CHECK(ApiFixture::ids(last) == std::vector<std::string>{ids[0]});
  CHECK(last["next_page"] == nullptr);

  // Back from the last page: the two before it, then the first page, which has no prev_page.
  json back = f.ok_get("/v1/sessions?limit=2&page=" + last["prev_page"].get<std::string>());
  CHECK(ApiFixture::ids(back) == std::vector<std::string>{ids[2], ids[1]});
  REQUIRE(back["prev_page"].is_string());
  json front = f.ok_get("/v1/sessions?limit=2&page=" + back["prev_page"].get<std::string>());
  CHECK(ApiFixture::ids(front) == std::vector<std::string>{ids[4], ids[3]});
  CHECK(front["prev_page"] == nullptr);
  CHECK(front["next_page"].is_string());

  json ascending = f.ok_get("/v1/sessions?order=asc&limit=3");
  CHECK(ApiFixture::ids(ascending) == std::vector<std::string>{ids[0], ids[1], ids[2]});
  json rest = f.ok_get("/v1/sessions?order=asc&limit=3&page=" + ascending["next_page"].get<std::string>());
  CHECK(ApiFixture::ids(rest) == std::vector<std::string>{ids[3], ids[4]});
  CHECK(rest["next_page"] == nullptr);

  CHECK(refusal(f.get("/v1/sessions?order=up")) == bad("order: must be asc or desc, got \"up\""));
  CHECK(refusal(f.get("/v1/sessions?page=bm9wZQ")) ==
        bad("page: not a cursor this server issued; pass next_page or prev_page from a previous list response"));
  CHECK(refusal(f.get("/v1/sessions?limit=101")) == bad("limit: must be an integer from 1 to 100, got \"101\""));
}

TEST_CASE("sessions: list filters - agent and version, deployment, statuses, archived, created_at") {
  SessionFixture f;
  std::string other_agent = f.ok_post("/v1/agents", {{"name", "Other"}, {"model", "m"}})["id"];
  std::string s1 = f.create()["id"];
  f.advance(1s);
  f.ok_post("/v1/agents/" + f.agent, {{"name", "Report bot 2"}});  // version 2
  std::string s2 = f.create()["id"];
  f.advance(1s);
  std::string s3 = f.create({{"agent", other_agent}})["id"];
  f.advance(1s);
  std::string archived = f.create()["id"];
  f.ok_post("/v1/sessions/" + archived + "/archive");
  REQUIRE(f.store().set_session_status(s2, "running").has_value());
  REQUIRE(f.store().set_session_status(s3, "terminated").has_value());

  using V = std::vector<std::string>;
  auto ids = [&](const std::string& query) { return ApiFixture::ids(f.ok_get("/v1/sessions?" + query)); };
  CHECK(ids("") == V{s3, s2, s1});
  CHECK(ids("include_archived=true") == V{archived, s3, s2, s1});
  CHECK(ids("agent_id=" + f.agent) == V{s2, s1});
  CHECK(ids("agent_id=" + f.agent + "&agent_version=1") == V{s1});
  CHECK(ids("agent_id=" + f.agent + "&agent_version=2&include_archived=true") == V{archived, s2});
  CHECK(ids("statuses%5B%5D=running&statuses%5B%5D=terminated") == V{s3, s2});
  CHECK(ids("statuses=idle") == V{s1});
  CHECK(ids("statuses=idle,running") == V{s2, s1});
  CHECK(ids("statuses%5B%5D=") == V{s3, s2, s1});
  CHECK(ids("deployment_id=depl_01nope").empty());
  CHECK(ids("memory_store_id=memstore_01x").empty());
  CHECK(ids("created_at%5Bgte%5D=" + f.ok_get("/v1/sessions/" + s2)["created_at"].get<std::string>()) == V{s3, s2});
  CHECK(refusal(f.get("/v1/sessions?agent_version=1")) == bad("agent_version: applies only together with agent_id"));
  CHECK(refusal(f.get("/v1/sessions?agent_id=" + f.agent + "&agent_version=x")) ==
        bad("agent_version: expected an integer >= 1, got \"x\""));
  CHECK(refusal(f.get("/v1/sessions?statuses%5B%5D=idle&statuses%5B%5D=paused")) ==
        bad("statuses[1]: must be one of idle, running, rescheduling, terminated; got \"paused\""));
  CHECK(f.ok_get("/v1/sessions?statuses=running")["data"][0]["status"] == "running");
}

TEST_CASE("sessions: archive, then delete with its events") {
  SessionFixture f;
  json message = {{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}};
  json session = f.create({{"initial_events", json::array({message})}});
  const std::string id = session["id"];
  const std::string item = "/v1/sessions/" + id;
  f.advance(3s);
  json archived = f.ok_post(item + "/archive");
  CHECK(archived["archived_at"] == f.clock.text());
  CHECK(archived["updated_at"] == f.clock.text());
  f.advance(1s);
  CHECK(f.ok_post(item + "/archive")["archived_at"] == archived["archived_at"]);
  CHECK(f.ok_get("/v1/sessions")["data"].empty());
  CHECK(f.ok_get(item + "/events")["data"].size() == 1);  // still readable

  CHECK(f.ok("DELETE", item) == json{{"id", id}, {"type", "session_deleted"}});
  CHECK(refusal(f.get(item)) == "404 not_found_error: session " + id + " was not found");
  CHECK(refusal(f.get(item + "/events")) == "404 not_found_error: session " + id + " was not found");
  CHECK(refusal(f.del(item)) == "404 not_found_error: session " + id + " was not found");
  CHECK(refusal(f.post("/v1/sessions/sesn_01nope/archive")) == "404 not_found_error: session sesn_01nope was not found");
}

TEST_CASE("sessions: a refused create writes nothing, and an Idempotency-Key replays the first session") {
  SessionFixture f;
  Response first = f.request("POST", "/v1/sessions", f.body().dump(), {{"Idempotency-Key", "k-1"}});
  REQUIRE(first.status == 200);
  Response again = f.request("POST", "/v1/sessions", f.body().dump(), {{"Idempotency-Key", "k-1"}});
  CHECK(again.body == first.body);
  CHECK(again.header("Idempotent-Replayed") == "true");
  CHECK(f.session_count() == 1);
}

}  // namespace airlock::control
