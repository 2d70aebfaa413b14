// Where a session runs, decided at creation: placement from the environment's metadata, the concurrency
// limit, and the refusal of self_hosted environments with environment_variable credentials. (Sandboxes
// that really run are tested end to end in tests/sdk/runtime*.test.mjs.) And the sandbox probe.
#include <doctest/doctest.h>

#include <unistd.h>

#include <string>

#include "airlock/testing/skip.hpp"
#include "runtime/sandbox_identity.hpp"
#include "sessions/session_factory.hpp"
#include "runtime/session_runtime.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

struct RuntimeFixture : ApiFixture {
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];

  std::string environment(json metadata, std::string type = "cloud") {
    return ok_post("/v1/environments", {{"name", "env"}, {"config", {{"type", type}}}, {"metadata", metadata}})["id"];
  }
  Response create(const std::string& environment_id, json vault_ids = json::array()) {
    return post("/v1/sessions", json{{"agent", agent}, {"environment_id", environment_id}, {"vault_ids", vault_ids}});
  }
  json runtime_of(const std::string& session_id) { return ok_get("/v1/sessions/" + session_id + "/runtime"); }
};

RuntimeSettings with_harness(int max_concurrent) {
  RuntimeSettings settings;
  settings.config.max_concurrent_sessions = max_concurrent;
  HarnessConfig digest;
  digest.command = {"/bin/true"};
  digest.timeout_seconds = 60;
  settings.config.harnesses["digest"] = digest;
  return settings;
}

}  // namespace

TEST_CASE("session runtime: without harnesses a session runs nowhere and stays idle") {
  RuntimeFixture f;
  Response r = f.create(f.environment(json::object()));
  REQUIRE(r.status == 200);
  CHECK(r.json_body["status"] == "idle");
  CHECK_FALSE(r.json_body.contains("runtime"));  // the placement is Airlock's, not the Session object's
  json runtime = f.runtime_of(r.json_body["id"]);
  CHECK(runtime == json{{"type", "session_runtime"},   {"session_id", r.json_body["id"]}, {"runtime", "none"},
                        {"harness", nullptr},          {"state", nullptr},              {"started_at", nullptr},
                        {"ended_at", nullptr},         {"exit_code", nullptr},          {"signal", nullptr},
                        {"duration_seconds", nullptr}, {"limits", nullptr},            {"oom_kills", nullptr},
                        {"memory_peak_bytes", nullptr}, {"stderr", {{"bytes", 0}, {"truncated", false}, {"tail", ""}}},
                        {"stdout", {{"bytes", 0}, {"truncated", false}}}});
}

TEST_CASE("session runtime: airlock.runtime external is recorded and starts nothing") {
  RuntimeFixture f;
  Response r = f.create(f.environment({{"airlock.runtime", "external"}}));
  REQUIRE(r.status == 200);
  CHECK(f.runtime_of(r.json_body["id"])["runtime"] == "external");
  CHECK(f.runtime.active() == 0);
}

TEST_CASE("session runtime: metadata naming an unknown harness or runtime is a 400 that says what is defined") {
  RuntimeFixture f;
  std::string unknown = f.environment({{"airlock.harness", "nightly"}});
  CHECK(refusal(f.create(unknown)) ==
        bad(fmt::format("environment_id: environment {} selects harness \"nightly\" (metadata airlock.harness), which this "
                        "daemon's runtime.harnesses does not define (none are defined)",
                        unknown)));
  std::string odd = f.environment({{"airlock.runtime", "kubernetes"}});
  CHECK(refusal(f.create(odd)) ==
        bad(fmt::format("environment_id: environment {} has metadata airlock.runtime: \"kubernetes\"; accepted values are "
                        "local and external",
                        odd)));
  std::string both = f.environment({{"airlock.runtime", "external"}, {"airlock.harness", "digest"}});
  CHECK(refusal(f.create(both)) ==
        bad(fmt::format("environment_id: environment {} sets both airlock.runtime: external and airlock.harness: digest; an "
                        "external runtime starts its own container, so remove one of the two",
                        both)));
  CHECK(f.ok_get("/v1/sessions")["data"].empty());
}

TEST_CASE("session runtime: a local session is pending until launched, and the limit refuses the next one") {
  RuntimeFixture f;
  SessionRuntime runtime(f.io.get_executor(), f.store(), with_harness(1), f.log);
  std::string environment = f.environment({{"airlock.harness", "digest"}});
  SessionRequest request;
  request.agent = f.agent;
  request.environment_id = environment;
  json first = create_session(f.store(), request, runtime);
  CHECK(first["status"] == "idle");
  CHECK(runtime.describe(f.store().get_session(first["id"].get<std::string>()).value())["state"] == "pending");
  CHECK(runtime.active() == 1);  // launched once the io_context runs, after the creating transaction
  try {
    (void)create_session(f.store(), request, runtime);
    FAIL("a second session was admitted past max_concurrent_sessions = 1");
  } catch (const SessionCreationError& e) {
    CHECK(e.status() == 429);
    CHECK(e.type() == "rate_limit_error");
    CHECK(e.run_error_type() == "session_rate_limited_error");
    CHECK(std::string(e.what()) ==
          "1 sessions are already running here (runtime.max_concurrent_sessions = 1); retry when one finishes");
  }
  // Without airlock.harness and without runtime.default_harness, nothing runs: the limit does not apply.
  request.environment_id = f.environment(json::object());
  json none = create_session(f.store(), request, runtime);
  CHECK(runtime.describe(f.store().get_session(none["id"].get<std::string>()).value())["runtime"] == "none");
  CHECK(runtime.active() == 1);
}

TEST_CASE("session runtime: a self_hosted environment refuses vaults with environment_variable credentials") {
  RuntimeFixture f;
  std::string vault = f.create_vault();
  std::string credential = f.create_env_credential(vault, "METRICS_API_TOKEN");
  std::string self_hosted = f.environment(json::object(), "self_hosted");
  const std::string message = fmt::format(
      "environment_id: environment {} is self_hosted, so its sandboxes run outside Airlock's egress proxy and the "
      "placeholders of environment_variable credentials would never be swapped for their secrets: METRICS_API_TOKEN "
      "(vault {}). Use a cloud environment (whose sandboxes reach the internet only through the proxy), or leave out the "
      "vaults that hold environment_variable credentials",
      self_hosted, vault);
  Response refused = f.create(self_hosted, {vault});
  CHECK(refusal(refused) == fmt::format("400 invalid_request_error: {} [self_hosted_placeholders]", message));
  // Deployments are refused the same way, at create and when an update brings the two together.
  json deployment = {{"name", "d"}, {"agent", f.agent}, {"environment_id", self_hosted}, {"vault_ids", {vault}},
                     {"initial_events", {{{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", "go"}}}}}}}};
  CHECK(refusal(f.post("/v1/deployments", deployment)) == fmt::format("400 invalid_request_error: {} [self_hosted_placeholders]", message));
  deployment["vault_ids"] = json::array();
  std::string id = f.ok_post("/v1/deployments", deployment)["id"];
  CHECK(refusal(f.post("/v1/deployments/" + id, json{{"vault_ids", {vault}}})) ==
        fmt::format("400 invalid_request_error: {} [self_hosted_placeholders]", message));
  // Without the vault, or on a cloud environment, it is fine.
  CHECK(f.create(self_hosted).status == 200);
  CHECK(f.create(f.environment(json::object()), {vault}).status == 200);
  // An archived credential exposes nothing.
  f.ok_post("/v1/vaults/" + vault + "/credentials/" + credential + "/archive");
  CHECK(f.create(self_hosted, {vault}).status == 200);
}

}  // namespace airlock::control

namespace airlock::control {

TEST_CASE("session runtime: the sandbox probe says what is wrong") {
  CHECK(probe_sandbox({"/no/such/bwrap", std::nullopt, {}}) ==
        std::optional<std::string>("cannot start /no/such/bwrap: No such file or directory"));
  CHECK(probe_sandbox({"/bin/false", std::nullopt, {}}) == std::optional<std::string>("bubblewrap exited with status 1"));
  // Whether the real bwrap works is the machine's business; tests/sdk/runtime*.test.mjs run sandboxes.
}

TEST_CASE("session runtime: the probe, as a sandbox's uid, names a path that uid cannot reach") {
  const std::optional<RunAs> sandbox = ::geteuid() == 0 ? std::optional<RunAs>(sandbox_identity(2000000000, 0)) : std::nullopt;
  const auto probe = [&](std::vector<std::filesystem::path> host_paths) {
    return probe_sandbox({"bwrap", sandbox, std::move(host_paths)});
  };
  AIRLOCK_SKIP_UNLESS(!probe({}), "bubblewrap cannot create a sandbox here (docs/runtime.md, Requirements)");
  testing::TempDir dir;  // 0700, Airlock's: out of a sandbox uid's reach when Airlock is root
  const std::filesystem::path inside = dir.path() / "inside";
  std::filesystem::create_directory(inside);
  if (sandbox) {
    CHECK(probe({"/usr/share", inside}) == fmt::format("bwrap: Can't find source path {}: Permission denied", inside.string()));
  }
  std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
  CHECK(probe({"/usr/share", inside}) == std::nullopt);
  CHECK(probe({"/usr/share", dir.path() / "missing"}) ==
        fmt::format("bwrap: Can't find source path {}: No such file or directory", (dir.path() / "missing").string()));
}

}  // namespace airlock::control
