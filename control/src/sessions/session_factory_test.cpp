// create_session as a deployment runner calls it: the deployment_id, system messages among the initial
// events, and which run error type each refusal carries (API.md §5), with malformed requests left as
// plain ApiErrors (session_creation_rejected_error for the runner).
#include <doctest/doctest.h>

#include <string>

#include "sessions/session_factory.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;

struct FactoryFixture : ApiFixture {
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "env"}})["id"];

  SessionRequest request() const {
    SessionRequest r;
    r.agent = {{"id", agent}, {"type", "agent"}, {"version", 1}};
    r.environment_id = environment;
    return r;
  }

  // "<run error type> <status> <message>" of the SessionCreationError create_session throws.
  std::string failure(const SessionRequest& r) {
    try {
      (void)create_session(store(), r, runtime);
    } catch (const SessionCreationError& e) {
      return fmt::format("{} {} {}", e.run_error_type(), e.status(), e.what());
    } catch (const ApiError& e) {
      return fmt::format("plain {} {}", e.status(), e.what());
    }
    return "no error";
  }
};

}  // namespace

TEST_CASE("create_session: a deployment's session carries its deployment_id and its system messages") {
  FactoryFixture f;
  std::string vault = f.create_vault();
  SessionRequest r = f.request();
  r.vault_ids = {vault};
  r.deployment_id = "depl_01abc";
  r.initial_events = {{{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", "go"}}}}},
                      {{"type", "system.message"}, {"content", {{{"type", "text"}, {"text", "scheduled"}}}}}};
  r.metadata = {{"source", "cron"}};
  json session;
  {
    store::Store::Transaction tx(f.store());  // the runner records its run in the same transaction
    session = create_session(f.store(), r, f.runtime);
    CHECK_FALSE(tx.commit());
  }
  CHECK(session["deployment_id"] == "depl_01abc");
  CHECK(session["vault_ids"] == json{vault});
  CHECK(session["metadata"] == json{{"source", "cron"}});
  CHECK(session["agent"] == json{{"id", f.agent},
                                 {"type", "agent"},
                                 {"version", 1},
                                 {"name", "bot"},
                                 {"description", nullptr},
                                 {"system", nullptr},
                                 {"model", {{"id", "claude-opus-5-5"}}},
                                 {"tools", json::array()},
                                 {"mcp_servers", json::array()},
                                 {"skills", json::array()},
                                 {"multiagent", nullptr},
                                 {"execution_identity", {{"type", "service_account"}}}});
  const std::string id = session["id"];
  CHECK(f.ok_get("/v1/sessions/" + id) == session);
  json events = f.ok_get("/v1/sessions/" + id + "/events");
  REQUIRE(events["data"].size() == 2);
  CHECK(events["data"][1]["type"] == "system.message");
  CHECK(ApiFixture::ids(f.ok_get("/v1/sessions?deployment_id=depl_01abc")) == std::vector<std::string>{id});
}

TEST_CASE("create_session: each refusal names its deployment run error type") {
  FactoryFixture f;
  SessionRequest r = f.request();

  r.environment_id = "env_01nope";
  CHECK(f.failure(r) == "environment_not_found_error 404 environment_id: environment env_01nope was not found");
  r.environment_id = f.ok_post("/v1/environments", {{"name", "old"}})["id"];
  f.ok_post("/v1/environments/" + r.environment_id + "/archive");
  CHECK(f.failure(r) == "environment_archived_error 400 environment_id: environment " + r.environment_id +
                            " is archived; sessions need an active environment");
  r.environment_id = f.environment;

  std::string archived_agent = f.ok_post("/v1/agents", {{"name", "old"}, {"model", "m"}})["id"];
  f.ok_post("/v1/agents/" + archived_agent + "/archive");
  r.agent = archived_agent;
  CHECK(f.failure(r) == "agent_archived_error 400 agent: agent " + archived_agent + " is archived; sessions need an active agent");
  r.agent = "agent_01nope";
  CHECK(f.failure(r) == "session_creation_rejected_error 404 agent: agent agent_01nope was not found");
  r.agent = f.agent;

  std::string vault = f.create_vault();
  r.vault_ids = {vault, "vlt_01nope"};
  CHECK(f.failure(r) == "vault_not_found_error 404 vault_ids[1]: vault vlt_01nope was not found");
  std::string archived_vault = f.create_vault();
  f.ok_post("/v1/vaults/" + archived_vault + "/archive");
  r.vault_ids = {archived_vault};
  CHECK(f.failure(r) == "vault_archived_error 400 vault_ids[0]: vault " + archived_vault +
                            " is archived; sessions can only use active vaults");

  std::string other = f.create_vault();
  f.create_env_credential(vault, "TOKEN");
  f.create_env_credential(other, "TOKEN");
  r.vault_ids = {vault, other};
  CHECK(f.failure(r).starts_with("session_creation_rejected_error 409 vault_ids: secret_name \"TOKEN\" is defined in both vault " +
                                 vault + " and vault " + other));
  r.vault_ids = {};

  r.resources = {{{"type", "file"}, {"file_id", "file_01x"}}};
  CHECK(f.failure(r) == "file_not_found_error 404 resources[0].file_id: file file_01x was not found; this Airlock stores no files");
  r.resources = {{{"type", "memory_store"}, {"memory_store_id", "memstore_01x"}}};
  CHECK(f.failure(r) == "session_resource_not_found_error 404 resources[0].memory_store_id: memory store memstore_01x was "
                        "not found; this Airlock has no memory stores");
  r.resources = json::array();

  // Malformed requests are plain ApiErrors.
  r.agent = {{"id", f.agent}, {"type", "nope"}};
  CHECK(f.failure(r) == "plain 400 agent.type: must be agent or agent_with_overrides; got \"nope\"");
  r.agent = f.agent;
  r.initial_events = {{{"type", "user.interrupt"}}};
  CHECK(f.failure(r) == "plain 400 initial_events[0].type: must be one of user.message, user.define_outcome, system.message; "
                        "got \"user.interrupt\"");
  r.initial_events = json::array();
  r.budget = {{"type", "limit"}};
  CHECK(f.failure(r) == "plain 400 budget.max_list_cost: required field is missing");

  CHECK(f.ok_get("/v1/sessions?include_archived=true")["data"].empty());  // nothing was written
}

TEST_CASE("validators a deployment uses at create time") {
  CHECK(validate_agent_reference("agent_01a", "agent", false) == json{{"id", "agent_01a"}, {"type", "agent"}});
  CHECK(validate_agent_reference(json{{"id", "agent_01a"}, {"type", "agent"}, {"version", 4}}, "agent", false) ==
        json{{"id", "agent_01a"}, {"type", "agent"}, {"version", 4}});
  CHECK_THROWS_WITH_AS(validate_agent_reference(json{{"id", "a"}, {"type", "agent_with_overrides"}}, "agent", false),
                       "agent.type: must be agent; got \"agent_with_overrides\"", ApiError);
  CHECK(validate_resources(json{{{"type", "memory_store"}, {"memory_store_id", "memstore_1"}}}, "resources") ==
        json{{{"type", "memory_store"}, {"memory_store_id", "memstore_1"}, {"access", "read_write"}, {"instructions", nullptr}}});
  CHECK(validate_resources(json{{{"type", "file"}, {"file_id", "file_1"}}}, "resources") ==
        json{{{"type", "file"}, {"file_id", "file_1"}, {"mount_path", "/mnt/session/uploads/file_1"}}});
  CHECK_THROWS_WITH_AS(
      validate_resources(json{{{"type", "file"}, {"file_id", "f"}, {"mount_path", "/m"}}, {{"type", "file"}, {"file_id", "g"}, {"mount_path", "/m"}}},
                         "resources"),
      "resources[1].mount_path: \"/m\" is used by another resource", ApiError);
  json events = validate_events(json{{{"type", "system.message"}, {"content", {{{"type", "text"}, {"text", "x"}}}}}},
                                "initial_events", kDeploymentEventTypes, 1, 50);
  CHECK(events == json{{{"type", "system.message"}, {"content", {{{"type", "text"}, {"text", "x"}}}}}});
  CHECK_THROWS_WITH_AS(validate_events(json::array(), "initial_events", kDeploymentEventTypes, 1, 50),
                       "initial_events: at least 1 event is required", ApiError);
  CHECK(validate_budget(json{{"type", "limit"}, {"max_list_cost", {{"amount", "0"}, {"currency", "USD"}}}}, "budget") ==
        json{{"type", "limit"}, {"max_list_cost", {{"amount", "0"}, {"currency", "USD"}}}});
}

}  // namespace airlock::control
