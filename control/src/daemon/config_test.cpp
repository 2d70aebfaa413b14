// load_config: ARCHITECTURE.md's defaults, every flag, every YAML key, flags over YAML, repeatable flags
// replacing YAML lists, AIRLOCK_API_KEY, and the exact messages of every refusal.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::TempDir;

Config load(std::vector<std::string_view> args, std::string_view env = {}) { return load_config(args, env); }

// The ConfigError's message; any other outcome fails the test.
std::string config_error(std::vector<std::string_view> args, std::string_view env = {}) {
  try {
    load_config(args, env);
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("not a ConfigError: " << e.what());
    return "<not a ConfigError>";
  }
  FAIL_CHECK("no ConfigError was thrown");
  return "<no error>";
}

std::string usage_after(std::string_view first_line) { return fmt::format("{}\n{}", first_line, kServeUsage); }

}  // namespace

TEST_CASE("config: defaults are ARCHITECTURE.md's table") {
  Config config = load({});
  CHECK_FALSE(config.config_file.has_value());
  CHECK(config.data_dir == ".airlock");
  CHECK(config.api_listen.host == "127.0.0.1");
  CHECK(config.api_listen.port == 8420);
  CHECK(config.api_keys.empty());  // serve generates DATA_DIR/admin.key
  CHECK(config.proxy_listen.host == "127.0.0.1");
  CHECK(config.proxy_listen.port == 8421);
  CHECK(config.proxy_advertise_url.empty());  // resolved to http:// + the bound proxy address at startup
  CHECK(config.upstream_ca.empty());
  CHECK(config.resolve.empty());
  CHECK(config.placeholder_violation == "block");
  CHECK(config.passthrough_hosts.empty());
  CHECK(config.allow_plaintext_substitution == false);
  CHECK(config.metrics_host_labels == false);
  CHECK(config.max_header_bytes == 65536);
  CHECK(config.max_decoded_body_bytes == 8u << 20);
  CHECK(config.catch_up_window_seconds == 900);
  CHECK(config.max_jitter_seconds == 60);
  CHECK(config.audit_retention_days == 30);
  CHECK(config.allow_weak_secrets == false);
  CHECK(config.log_level == LogLevel::info);
  CHECK_FALSE(config.ready_file.has_value());
}

TEST_CASE("config: every flag") {
  Config config = load({"--data-dir", "/var/lib/airlock", "--api-listen", "0.0.0.0:9000", "--proxy-listen", "127.0.0.2:0",
                        "--upstream-ca", "/a.pem", "--upstream-ca", "/b.pem", "--resolve", "api.example.com:127.0.0.1",
                        "--resolve", "other.example:10.0.0.1", "--log-level", "debug", "--ready-file", "/tmp/ready.json"});
  CHECK(config.data_dir == "/var/lib/airlock");
  CHECK(config.api_listen.host == "0.0.0.0");
  CHECK(config.api_listen.port == 9000);
  CHECK(config.proxy_listen.host == "127.0.0.2");
  CHECK(config.proxy_listen.port == 0);
  CHECK(config.upstream_ca == std::vector<std::string>{"/a.pem", "/b.pem"});
  CHECK(config.resolve == std::map<std::string, std::string>{{"api.example.com", "127.0.0.1"}, {"other.example", "10.0.0.1"}});
  CHECK(config.log_level == LogLevel::debug);
  REQUIRE(config.ready_file.has_value());
  CHECK(*config.ready_file == "/tmp/ready.json");
}

TEST_CASE("config: every log level by flag") {
  CHECK(load({"--log-level", "debug"}).log_level == LogLevel::debug);
  CHECK(load({"--log-level", "info"}).log_level == LogLevel::info);
  CHECK(load({"--log-level", "warn"}).log_level == LogLevel::warn);
  CHECK(load({"--log-level", "error"}).log_level == LogLevel::error);
  CHECK(to_string(LogLevel::warn) == "warn");
}

TEST_CASE("config: the metrics listener: none by default, by flag or by api.metrics_listen, flag over file") {
  CHECK_FALSE(load({}).metrics_listen.has_value());
  CHECK(load({"--metrics-listen", "127.0.0.1:9464"}).metrics_listen->to_string() == "127.0.0.1:9464");
  TempDir dir;
  auto file = dir.write("airlock.yaml", "api:\n  metrics_listen: \"[::1]:9464\"\n");
  CHECK(load({"--config", file.string()}).metrics_listen->to_string() == "[::1]:9464");
  CHECK(load({"--config", file.string(), "--metrics-listen", "10.0.0.5:9000"}).metrics_listen->to_string() == "10.0.0.5:9000");
}

TEST_CASE("config: audit.max_bytes and audit.jsonl: off by default, and checked") {
  CHECK(load({}).audit_max_bytes == 0);
  CHECK_FALSE(load({}).audit_jsonl.has_value());
  TempDir dir;
  auto file = dir.write("airlock.yaml", "audit:\n  max_bytes: 8589934592\n  jsonl: /var/log/airlock/audit.jsonl\n");
  const Config config = load({"--config", file.string()});
  CHECK(config.audit_max_bytes == 8589934592);
  CHECK(config.audit_jsonl == "/var/log/airlock/audit.jsonl");
  auto empty = dir.write("empty.yaml", "audit:\n  jsonl: \"\"\n");
  CHECK(config_error({"--config", empty.string()}) == "audit.jsonl: give a file path, or - for stdout");
  auto negative = dir.write("negative.yaml", "audit:\n  max_bytes: -1\n");
  CHECK(config_error({"--config", negative.string()}).find("audit.max_bytes") != std::string::npos);
}

TEST_CASE("config: the log format: text by default, json by flag or by log.format, flag over file") {
  CHECK(load({}).log_format == LogFormat::text);
  CHECK(load({"--log-format", "json"}).log_format == LogFormat::json_lines);
  TempDir dir;
  auto file = dir.write("airlock.yaml", "log:\n  format: json\n  level: warn\n");
  CHECK(load({"--config", file.string()}).log_format == LogFormat::json_lines);
  CHECK(load({"--config", file.string(), "--log-format", "text"}).log_format == LogFormat::text);
  CHECK(config_error({"--log-format", "logfmt"}) == "--log-format: \"logfmt\" is not a log format; use text or json");
  auto bad = dir.write("bad.yaml", "log:\n  format: xml\n");
  CHECK(config_error({"--config", bad.string()}) == "log.format: \"xml\" is not a log format; use text or json");
}

TEST_CASE("config: every YAML key") {
  TempDir dir;
  auto file = dir.write("airlock.yaml", R"(data_dir: /srv/airlock
api:
  listen: 127.0.0.1:7000
  keys: [key-one, key-two]
proxy:
  listen: "[::1]:7001"
  advertise_url: http://proxy.internal:7001
  upstream_ca:
    - /etc/ca1.pem
  resolve:
    api.example.com: 192.0.2.10
  placeholder_violation: passthrough
  passthrough_hosts: [bank.example.com]
  allow_plaintext_substitution: true
  metrics_host_labels: true
  max_header_bytes: 32768
  max_decoded_body_bytes: 1048576
credentials:
  allow_weak_secrets: true
scheduler:
  catch_up_window_seconds: 60
  max_jitter_seconds: 0
runtime:
  default_harness: digest
  max_concurrent_sessions: 2
  bwrap: /usr/bin/bwrap
  stderr_log_bytes: 4096
  stdout_event_bytes: 8192
  sandbox_uid_base: 3000000
  harnesses:
    digest:
      command: ["/bin/sh", "/usr/share/digest.sh"]
      read_only_paths: ["/usr/share/", "/etc"]
      timeout_seconds: 600
      stdin: open
      env: {REPORT_TZ: Europe/Paris}
    plain:
      command: [/usr/bin/true]
audit:
  retention_days: 7
log:
  level: warn
)");
  std::string path = file.string();
  Config config = load({"--config", path});
  REQUIRE(config.config_file.has_value());
  CHECK(*config.config_file == file);
  CHECK(config.data_dir == "/srv/airlock");
  CHECK(config.api_listen.to_string() == "127.0.0.1:7000");
  CHECK(config.api_keys == std::vector<std::string>{"key-one", "key-two"});
  CHECK(config.proxy_listen.host == "::1");
  CHECK(config.proxy_listen.port == 7001);
  CHECK(config.proxy_listen.to_string() == "[::1]:7001");
  CHECK(config.proxy_advertise_url == "http://proxy.internal:7001");
  CHECK(config.upstream_ca == std::vector<std::string>{"/etc/ca1.pem"});
  CHECK(config.resolve == std::map<std::string, std::string>{{"api.example.com", "192.0.2.10"}});
  CHECK(config.placeholder_violation == "passthrough");
  CHECK(config.passthrough_hosts == std::vector<std::string>{"bank.example.com"});
  CHECK(config.allow_plaintext_substitution == true);
  CHECK(config.metrics_host_labels == true);
  CHECK(config.max_header_bytes == 32768);
  CHECK(config.max_decoded_body_bytes == 1048576);
  CHECK(config.catch_up_window_seconds == 60);
  CHECK(config.max_jitter_seconds == 0);
  CHECK(config.audit_retention_days == 7);
  CHECK(config.allow_weak_secrets == true);
  CHECK(config.log_level == LogLevel::warn);
  CHECK(config.runtime.default_harness == "digest");
  CHECK(config.runtime.max_concurrent_sessions == 2);
  CHECK(config.runtime.bwrap == "/usr/bin/bwrap");
  CHECK(config.runtime.stderr_log_bytes == 4096);
  CHECK(config.runtime.stdout_event_bytes == 8192);
  CHECK(config.runtime.sandbox_uid_base == 3000000);
  REQUIRE(config.runtime.harnesses.size() == 2);
  const HarnessConfig& digest = config.runtime.harnesses.at("digest");
  CHECK(digest.command == std::vector<std::string>{"/bin/sh", "/usr/share/digest.sh"});
  CHECK(digest.read_only_paths == std::vector<std::filesystem::path>{"/usr/share", "/etc"});
  CHECK(digest.timeout_seconds == 600);
  CHECK(digest.keep_stdin_open);
  CHECK_FALSE(digest.stdin_json);
  CHECK(digest.env == std::map<std::string, std::string>{{"REPORT_TZ", "Europe/Paris"}});
  const HarnessConfig& plain = config.runtime.harnesses.at("plain");
  CHECK(plain.command == std::vector<std::string>{"/usr/bin/true"});
  CHECK(plain.read_only_paths.empty());
  CHECK(plain.timeout_seconds == 3600);
  CHECK_FALSE(plain.keep_stdin_open);
}

TEST_CASE("config: runtime defaults") {
  Config config = load({});
  CHECK(config.runtime.default_harness == "agent");  // the built-in agent, defined for it
  CHECK(config.runtime.max_concurrent_sessions == 4);
  REQUIRE(config.runtime.harnesses.size() == 1);
  const HarnessConfig& agent = config.runtime.harnesses.at("agent");
  CHECK(agent.command == std::vector<std::string>{"/run/airlock/airlock", "agent"});
  CHECK(agent.keep_stdin_open);
  CHECK(agent.stdin_json);
  CHECK(config.runtime.bwrap == "bwrap");
  CHECK(config.runtime.stderr_log_bytes == 1048576);
  CHECK(config.runtime.stdout_event_bytes == 16777216);
  CHECK(config.runtime.sandbox_uid_base == 2000000000);
  CHECK(config.runtime.limits == ResourceLimits{.memory_bytes = 1073741824, .pids = 512, .cpus = 1.0});
}

TEST_CASE("config: the built-in agent: configured without a command, replaced with one, or none at all") {
  TempDir dir;
  auto load_yaml = [&](std::string_view name, std::string_view text) {
    std::string path = dir.write(name, text).string();
    return load({"--config", path});
  };
  Config configured = load_yaml("a.yaml", "runtime:\n  harnesses:\n    agent:\n      env: {ANTHROPIC_BASE_URL: https://llm.test}\n"
                                          "      timeout_seconds: 60\n");
  const HarnessConfig& agent = configured.runtime.harnesses.at("agent");
  CHECK(agent.command == std::vector<std::string>{"/run/airlock/airlock", "agent"});
  CHECK(agent.stdin_json);
  CHECK(agent.timeout_seconds == 60);
  CHECK(agent.env == std::map<std::string, std::string>{{"ANTHROPIC_BASE_URL", "https://llm.test"}});
  CHECK(configured.runtime.default_harness == "agent");

  Config replaced = load_yaml("b.yaml", "runtime:\n  harnesses:\n    agent: {command: [/bin/true]}\n");
  CHECK(replaced.runtime.harnesses.at("agent").command == std::vector<std::string>{"/bin/true"});
  CHECK_FALSE(replaced.runtime.harnesses.at("agent").stdin_json);

  Config none = load_yaml("c.yaml", "runtime:\n  default_harness: none\n");
  CHECK_FALSE(none.runtime.default_harness.has_value());
  CHECK(none.runtime.harnesses.empty());  // sessions run nothing here, as before the built-in agent
  Config none_but_agent = load_yaml("d.yaml", "runtime:\n  default_harness: none\n  harnesses:\n    agent:\n");
  CHECK_FALSE(none_but_agent.runtime.default_harness.has_value());
  CHECK(none_but_agent.runtime.harnesses.at("agent").stdin_json);  // environments may still name it

  Config other = load_yaml("e.yaml", "runtime:\n  harnesses:\n    digest: {command: [/bin/true]}\n");
  CHECK(other.runtime.default_harness == "agent");
  CHECK(other.runtime.harnesses.size() == 2);

  auto error_for = [&](std::string_view name, std::string_view text) {
    const std::string path = dir.write(name, text).string();
    return config_error({"--config", path}).substr(path.size() + 2);  // after "PATH: "
  };
  CHECK(error_for("f.yaml", "runtime:\n  harnesses:\n    agent: {stdin: close}\n") ==
        "runtime.harnesses.agent.stdin: the built-in agent takes its turns as JSON lines: json, or leave stdin out");
  CHECK(error_for("g.yaml", "runtime:\n  harnesses:\n    none: {command: [/bin/true]}\n") ==
        "runtime.harnesses.none: \"none\" is reserved: it selects no harness");
}

TEST_CASE("config: runtime.limits, per-harness overrides, and none") {
  TempDir dir;
  auto load_yaml = [&](std::string_view name, std::string_view text) {
    std::string path = dir.write(name, text).string();
    return load({"--config", path});
  };
  Config config = load_yaml("a.yaml",
                            "runtime:\n  limits: {memory_bytes: 536870912, cpus: 2.5}\n  harnesses:\n"
                            "    small: {command: [sh], limits: {memory_bytes: 67108864, pids: 32}}\n"
                            "    plain: {command: [sh]}\n");
  REQUIRE(config.runtime.limits);
  CHECK(*config.runtime.limits == ResourceLimits{.memory_bytes = 536870912, .pids = 512, .cpus = 2.5});
  CHECK(harness_limits(config.runtime, config.runtime.harnesses.at("small")) ==
        ResourceLimits{.memory_bytes = 67108864, .pids = 32, .cpus = 2.5});
  CHECK(harness_limits(config.runtime, config.runtime.harnesses.at("plain")) == config.runtime.limits);

  // The workspace's size: 1 GiB unless said, per harness too, and none (0) on its own.
  config = load_yaml("w.yaml",
                     "runtime:\n  limits: {workspace_bytes: 67108864}\n  harnesses:\n"
                     "    free: {command: [sh], limits: {workspace_bytes: none}}\n"
                     "    big: {command: [sh], limits: {workspace_bytes: 8589934592}}\n");
  CHECK(config.runtime.limits->workspace_bytes == 67108864);
  CHECK(harness_limits(config.runtime, config.runtime.harnesses.at("free"))->workspace_bytes == 0);
  CHECK(harness_limits(config.runtime, config.runtime.harnesses.at("big"))->workspace_bytes == 8589934592);
  CHECK(ResourceLimits{}.workspace_bytes == 1073741824);

  config = load_yaml("b.yaml", "runtime:\n  limits: none\n  harnesses:\n    plain: {command: [sh]}\n");
  CHECK_FALSE(config.runtime.limits);
  CHECK_FALSE(harness_limits(config.runtime, config.runtime.harnesses.at("plain")));
  // stdin: json keeps stdin open and hands the harness its turns.
  config = load_yaml("j.yaml", "runtime:\n  harnesses:\n    agent: {command: [/usr/bin/agent], stdin: json}\n");
  CHECK(config.runtime.harnesses.at("agent").keep_stdin_open);
  CHECK(config.runtime.harnesses.at("agent").stdin_json);

  auto error_for = [&](std::string_view name, std::string_view text) {
    std::string path = dir.write(name, text).string();
    std::string message = config_error({"--config", path});
    CHECK(message.starts_with(path + ": "));
    return message.substr(path.size() + 2);
  };
  CHECK(error_for("c.yaml", "runtime:\n  limits: unlimited\n") ==
        "runtime.limits: expected a mapping (memory_bytes, pids, cpus, workspace_bytes) or none");
  CHECK(error_for("d.yaml", "runtime:\n  limits: {memory: 1}\n") ==
        "runtime.limits.memory: unknown key; accepted here: memory_bytes, pids, cpus, workspace_bytes");
  CHECK(error_for("e.yaml", "runtime:\n  limits: {memory_bytes: 1000}\n") ==
        "runtime.limits.memory_bytes: expected an integer from 16777216 to 1099511627776");
  CHECK(error_for("w.yaml", "runtime:\n  limits: {workspace_bytes: 4096}\n") ==
        "runtime.limits.workspace_bytes: expected an integer from 16777216 to 17592186044416");
  CHECK(error_for("f.yaml", "runtime:\n  limits: {pids: 2}\n") == "runtime.limits.pids: expected an integer from 8 to 4194304");
  CHECK(error_for("g.yaml", "runtime:\n  limits: {cpus: 0}\n") == "runtime.limits.cpus: expected a number from 0.01 to 1024");
  CHECK(error_for("h.yaml", "runtime:\n  limits: {cpus: many}\n") == "runtime.limits.cpus: expected a number from 0.01 to 1024");
  CHECK(error_for("i.yaml", "runtime:\n  limits: none\n  harnesses:\n    d: {command: [sh], limits: {pids: 64}}\n") ==
        "runtime.harnesses.d.limits: runtime.limits is none, so no session has a cgroup to hold these limits; remove them, "
        "or give runtime.limits its values instead of none");
}

TEST_CASE("config: runtime refusals name the key and what to do") {
  TempDir dir;
  auto error_for = [&](std::string_view name, std::string_view text, std::vector<std::string_view> extra = {}) {
    std::string path = dir.write(name, text).string();
    std::vector<std::string_view> args = {"--config", path};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string message = config_error(args);
    CHECK(message.starts_with(path + ": "));
    return message.substr(path.size() + 2);
  };
  CHECK(error_for("a.yaml", "runtime:\n  harness: x\n") ==
        "runtime.harness: unknown key; accepted here: default_harness, max_concurrent_sessions, harnesses, bwrap, "
        "stderr_log_bytes, stdout_event_bytes, sandbox_uid_base, limits");
  CHECK(error_for("b.yaml", "runtime:\n  default_harness: digest\n") ==
        "runtime.default_harness: \"digest\" is not defined under runtime.harnesses (or give agent, the built-in, or none)");
  CHECK(error_for("c.yaml", "runtime:\n  harnesses:\n    d:\n      timeout_seconds: 5\n") ==
        "runtime.harnesses.d.command: required: the harness's argv as a list, e.g. [\"/bin/sh\", \"/opt/harness/run.sh\"]");
  CHECK(error_for("d.yaml", "runtime:\n  harnesses:\n    d:\n      command: [sh]\n      read_only_paths: [opt/h]\n") ==
        "runtime.harnesses.d.read_only_paths[0]: \"opt/h\" must be an absolute path");
  CHECK(error_for("e.yaml", "runtime:\n  harnesses:\n    d:\n      command: [sh]\n      read_only_paths: [/]\n") ==
        "runtime.harnesses.d.read_only_paths[0]: \"/\" cannot be mounted into a sandbox; name the directories the harness needs");
  CHECK(error_for("f.yaml", "runtime:\n  harnesses:\n    d:\n      command: [sh]\n      stdin: keep\n") ==
        "runtime.harnesses.d.stdin: expected open, close or json");
  CHECK(error_for("g.yaml", "runtime:\n  harnesses:\n    d:\n      command: [sh]\n      timeout_seconds: 0\n") ==
        "runtime.harnesses.d.timeout_seconds: expected an integer from 1 to 604800");
  CHECK(error_for("h.yaml", "runtime:\n  harnesses:\n    bad name:\n      command: [sh]\n") ==
        "runtime.harnesses.bad name: a harness name is 1-64 letters, digits, '-', '_' or '.'");
  CHECK(error_for("s.yaml", "runtime:\n  sandbox_uid_base: 1000\n") ==
        "runtime.sandbox_uid_base: expected an integer from 65536 to 2147479551");
  CHECK(error_for("t.yaml", "runtime:\n  sandbox_uid_base: 2147479552\n") ==
        "runtime.sandbox_uid_base: expected an integer from 65536 to 2147479551");
  CHECK(error_for("i.yaml", "runtime:\n  max_concurrent_sessions: 0\n") ==
        "runtime.max_concurrent_sessions: expected an integer from 1 to 4096");
  CHECK(error_for("j.yaml", "runtime:\n  harnesses:\n    d:\n      command: [sh]\n      read_only_paths: [/no/such/dir]\n") ==
        "runtime.harnesses.d.read_only_paths[0]: /no/such/dir does not exist");
  // The data dir must never be reachable from a sandbox: not as a read-only path, not below one.
  std::string data = (dir.path() / "data").string();
  std::string inside = fmt::format("runtime:\n  harnesses:\n    d:\n      command: [sh]\n      read_only_paths: [{}]\n",
                                   dir.path().string());
  CHECK(error_for("k.yaml", inside, {"--data-dir", data}) ==
        fmt::format("runtime.harnesses.d.read_only_paths[0]: {} overlaps the data dir {}; a sandbox must never see the data "
                    "dir (it holds the master key and the database)",
                    dir.path().string(), std::filesystem::weakly_canonical(data).string()));
}

TEST_CASE("config: an empty YAML file keeps every default") {
  TempDir dir;
  std::string path = dir.write("empty.yaml", "").string();
  Config config = load({"--config", path});
  CHECK(config.api_listen.to_string() == "127.0.0.1:8420");
  CHECK(config.max_header_bytes == 65536);
  CHECK(config.log_level == LogLevel::info);
}

TEST_CASE("config: flags override YAML keys wherever --config stands") {
  TempDir dir;
  std::string path = dir.write("airlock.yaml", R"(data_dir: /from/yaml
api: {listen: "127.0.0.1:7000"}
proxy: {listen: "127.0.0.1:7001"}
log: {level: error}
)").string();
  // Flags before and after --config both win over the file.
  Config config = load({"--data-dir", "/from/flag", "--config", path, "--api-listen", "127.0.0.1:9000", "--log-level", "debug"});
  CHECK(config.data_dir == "/from/flag");
  CHECK(config.api_listen.port == 9000);
  CHECK(config.proxy_listen.port == 7001);  // no flag: the YAML value stays
  CHECK(config.log_level == LogLevel::debug);
}

TEST_CASE("config: a repeatable flag replaces the YAML list instead of appending") {
  TempDir dir;
  std::string path = dir.write("airlock.yaml", R"(proxy:
  upstream_ca: [/yaml/one.pem, /yaml/two.pem]
  resolve: {a.example: 10.0.0.1, b.example: 10.0.0.2}
)").string();

  Config kept = load({"--config", path});
  CHECK(kept.upstream_ca == std::vector<std::string>{"/yaml/one.pem", "/yaml/two.pem"});
  CHECK(kept.resolve.size() == 2);

  Config replaced = load({"--config", path, "--upstream-ca", "/flag.pem", "--resolve", "c.example:10.0.0.3"});
  CHECK(replaced.upstream_ca == std::vector<std::string>{"/flag.pem"});
  CHECK(replaced.resolve == std::map<std::string, std::string>{{"c.example", "10.0.0.3"}});
}

TEST_CASE("config: unknown YAML keys are errors naming the key and the accepted ones") {
  TempDir dir;
  std::string top = dir.write("top.yaml", "data_dir: /x\nlisten: 127.0.0.1:1\n").string();
  CHECK(config_error({"--config", top}) ==
        top + ": listen: unknown key; accepted here: data_dir, api, proxy, credentials, scheduler, runtime, audit, log");

  std::string nested = dir.write("nested.yaml", "proxy:\n  lisen: 127.0.0.1:1\n").string();
  CHECK(config_error({"--config", nested}) ==
        nested + ": proxy.lisen: unknown key; accepted here: listen, advertise_url, upstream_ca, resolve, "
                 "placeholder_violation, passthrough_hosts, allow_plaintext_substitution, max_header_bytes, "
                 "max_decoded_body_bytes, allow_private, policy_file, default_policy, max_connections, "
                 "max_connections_per_session, max_connections_per_source, max_requests_per_second_per_session, transparent_listen, "
                                                "transparent_sessions, "
                "upstream_mark, timeouts, metrics_host_labels");

  std::string api = dir.write("api.yaml", "api:\n  key: abc\n").string();
  CHECK(config_error({"--config", api}) == api + ": api.key: unknown key; accepted here: listen, metrics_listen, keys, max_connections_per_source");

  std::string scheduler = dir.write("scheduler.yaml", "scheduler:\n  jitter: 1\n").string();
  CHECK(config_error({"--config", scheduler}) ==
        scheduler + ": scheduler.jitter: unknown key; accepted here: catch_up_window_seconds, max_jitter_seconds");

  std::string credentials = dir.write("credentials.yaml", "credentials:\n  allow_weak: true\n").string();
  CHECK(config_error({"--config", credentials}) ==
        credentials + ": credentials.allow_weak: unknown key; accepted here: allow_weak_secrets");

  std::string audit = dir.write("audit.yaml", "audit:\n  days: 1\n").string();
  CHECK(config_error({"--config", audit}) == audit + ": audit.days: unknown key; accepted here: retention_days, max_bytes, jsonl");

  std::string log = dir.write("log.yaml", "log:\n  lvl: debug\n").string();
  CHECK(config_error({"--config", log}) == log + ": log.lvl: unknown key; accepted here: level, format");
}

TEST_CASE("config: malformed YAML values name the key and the accepted form") {
  TempDir dir;
  auto error_for = [&](std::string_view name, std::string_view text) {
    std::string path = dir.write(name, text).string();
    std::string message = config_error({"--config", path});
    CHECK(message.starts_with(path + ": "));
    return message.substr(path.size() + 2);
  };
  CHECK(error_for("a.yaml", "proxy:\n  max_header_bytes: 1023\n") ==
        "proxy.max_header_bytes: expected an integer from 1024 to 1048576");
  CHECK(error_for("b.yaml", "proxy:\n  max_header_bytes: 1048577\n") ==
        "proxy.max_header_bytes: expected an integer from 1024 to 1048576");
  CHECK(error_for("c.yaml", "proxy:\n  max_header_bytes: 64k\n") ==
        "proxy.max_header_bytes: expected an integer from 1024 to 1048576");
  CHECK(error_for("d.yaml", "scheduler:\n  max_jitter_seconds: 3601\n") ==
        "scheduler.max_jitter_seconds: expected an integer from 0 to 3600");
  CHECK(error_for("e.yaml", "scheduler:\n  catch_up_window_seconds: -1\n") ==
        "scheduler.catch_up_window_seconds: expected an integer from 0 to 604800");
  CHECK(error_for("f.yaml", "audit:\n  retention_days: 0\n") == "audit.retention_days: expected an integer from 1 to 3650");
  CHECK(error_for("g.yaml", "proxy:\n  placeholder_violation: allow\n") ==
        "proxy.placeholder_violation: expected block or passthrough");
  CHECK(error_for("h.yaml", "proxy:\n  allow_plaintext_substitution: maybe\n") ==
        "proxy.allow_plaintext_substitution: expected true or false");
  CHECK(error_for("hl.yaml", "proxy:\n  metrics_host_labels: sometimes\n") ==
        "proxy.metrics_host_labels: expected true or false");
  CHECK(error_for("i.yaml", "api:\n  keys: just-one\n") == "api.keys: expected a list of strings");
  CHECK(error_for("n.yaml", "credentials:\n  allow_weak_secrets: 1234\n") ==
        "credentials.allow_weak_secrets: expected true or false");
  CHECK(error_for("j.yaml", "api:\n  keys: [ok, [nested]]\n") == "api.keys[1]: expected a string");
  CHECK(error_for("k.yaml", "proxy:\n  resolve: [a.example]\n") == "proxy.resolve: expected a mapping of host: ip");
  CHECK(error_for("l.yaml", "data_dir: [a, b]\n") == "data_dir: expected a string");
  CHECK(error_for("m.yaml", "proxy: 5\n") == "proxy: expected a mapping");
}

TEST_CASE("config: endpoint values from YAML are checked too") {
  TempDir dir;
  std::string port = dir.write("port.yaml", "api:\n  listen: 127.0.0.1:70000\n").string();
  CHECK(config_error({"--config", port}) ==
        "api.listen: \"127.0.0.1:70000\" has no valid port (0-65535; 0 lets the kernel pick)");
  std::string level = dir.write("level.yaml", "log:\n  level: verbose\n").string();
  CHECK(config_error({"--config", level}) == "log.level: \"verbose\" is not a log level; use debug, info, warn or error");
}

TEST_CASE("config: YAML syntax errors give the file and the line") {
  TempDir dir;
  std::string path = dir.write("broken.yaml", "api:\n  listen: [unclosed\n").string();
  std::string message = config_error({"--config", path});
  CHECK(message.starts_with(path + ": line "));
}

TEST_CASE("config: a YAML document that is not a mapping is refused") {
  TempDir dir;
  std::string path = dir.write("scalar.yaml", "just a string\n").string();
  std::string message = config_error({"--config", path});
  CHECK(message.starts_with(path + ": "));
  CHECK(message.ends_with("expected a mapping"));
}

// A key that is not a scalar is a ConfigError with a message, not a yaml-cpp exception that would end
// `airlock serve` without one.
TEST_CASE("config: a YAML key that is not a scalar is a ConfigError") {
  TempDir dir;
  std::string path = dir.write("complex-key.yaml", "? [a, b]\n: 1\n").string();
  std::vector<std::string_view> args{"--config", path};
  CHECK_THROWS_AS(load_config(args, ""), ConfigError);
}

TEST_CASE("config: bad ports and endpoints by flag") {
  CHECK(config_error({"--api-listen", "127.0.0.1:65536"}) ==
        "--api-listen: \"127.0.0.1:65536\" has no valid port (0-65535; 0 lets the kernel pick)");
  CHECK(config_error({"--api-listen", "127.0.0.1:"}) ==
        "--api-listen: \"127.0.0.1:\" has no valid port (0-65535; 0 lets the kernel pick)");
  CHECK(config_error({"--proxy-listen", "127.0.0.1:-1"}) ==
        "--proxy-listen: \"127.0.0.1:-1\" has no valid port (0-65535; 0 lets the kernel pick)");
  CHECK(config_error({"--proxy-listen", "127.0.0.1:80x"}) ==
        "--proxy-listen: \"127.0.0.1:80x\" has no valid port (0-65535; 0 lets the kernel pick)");
  CHECK(config_error({"--api-listen", "127.0.0.1"}) == "--api-listen: \"127.0.0.1\" must be HOST:PORT, e.g. 127.0.0.1:8420");
  CHECK(config_error({"--api-listen", ":8420"}) == "--api-listen: \":8420\" must be HOST:PORT, e.g. 127.0.0.1:8420");
  CHECK(load({"--api-listen", "127.0.0.1:65535"}).api_listen.port == 65535);
  CHECK(load({"--api-listen", "127.0.0.1:0"}).api_listen.port == 0);
  Endpoint v6 = parse_endpoint("[::1]:8420", "x");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 8420);
}

TEST_CASE("config: bad log level by flag") {
  CHECK(config_error({"--log-level", "verbose"}) == "--log-level: \"verbose\" is not a log level; use debug, info, warn or error");
  CHECK(config_error({"--log-level", "INFO"}) == "--log-level: \"INFO\" is not a log level; use debug, info, warn or error");
}

TEST_CASE("config: bad --resolve values") {
  for (std::string_view value : {"nocolon", ":127.0.0.1", "host:"}) {
    CAPTURE(value);
    CHECK(config_error({"--resolve", value}) ==
          fmt::format("--resolve: \"{}\" must be HOST:IP, e.g. api.example.com:127.0.0.1", value));
  }
}

TEST_CASE("config: unknown arguments and missing values print the usage") {
  CHECK(config_error({"--bogus"}) == usage_after("unknown argument \"--bogus\""));
  CHECK(config_error({"positional"}) == usage_after("unknown argument \"positional\""));
  CHECK(config_error({"--data-dir"}) == usage_after("--data-dir needs a value"));
  CHECK(config_error({"--config"}) == usage_after("--config needs a value"));
  CHECK(config_error({"--log-level", "info", "--ready-file"}) == usage_after("--ready-file needs a value"));
}

TEST_CASE("config: --config naming a missing file") {
  TempDir dir;
  std::string path = (dir.path() / "does-not-exist.yaml").string();
  CHECK(config_error({"--config", path}) == path + ": cannot read the config file");
}

TEST_CASE("config: AIRLOCK_API_KEY is split on commas with spaces trimmed") {
  CHECK(load({}, "single").api_keys == std::vector<std::string>{"single"});
  CHECK(load({}, " k1 , k2,,\tk3 ,").api_keys == std::vector<std::string>{"k1", "k2", "k3"});
  CHECK(load({}, " , ,").api_keys.empty());
  CHECK(load({}, "").api_keys.empty());
  CHECK(load({}, "inner space,x").api_keys == std::vector<std::string>{"inner space", "x"});
}

TEST_CASE("config: AIRLOCK_API_KEY adds to api.keys from YAML") {
  TempDir dir;
  std::string path = dir.write("keys.yaml", "api:\n  keys: [from-yaml]\n").string();
  CHECK(load({"--config", path}, "env-1, env-2").api_keys == std::vector<std::string>{"from-yaml", "env-1", "env-2"});
}

}  // namespace airlock::control

namespace airlock::control {
namespace {

TEST_CASE("config: address allow list and policy file, by flag and by YAML key, with messages for bad ranges") {
  CHECK(load({}).allow_private.empty());  // fail closed: nothing private is reachable by default
  CHECK_FALSE(load({}).policy_file);
  const Config flags = load({"--allow-private", "127.0.0.1/32", "--allow-private", "10.0.0.0/8", "--policy", "/p.yaml"});
  REQUIRE(flags.allow_private.size() == 2);
  CHECK(flags.allow_private[0].cidr.text() == "127.0.0.1/32");
  CHECK(flags.allow_private[0].source == "--allow-private");
  CHECK(flags.allow_private[1].cidr.text() == "10.0.0.0/8");
  CHECK(*flags.policy_file == "/p.yaml");

  TempDir dir;
  const std::string file =
      dir.write("a.yaml", "proxy:\n  allow_private: [\"fd00::/8\", 169.254.169.254]\n  policy_file: /etc/airlock/policies.yaml\n  default_policy: read-only\n")
          .string();
  const Config yaml = load({"--config", file});
  REQUIRE(yaml.allow_private.size() == 2);
  CHECK(yaml.allow_private[0].cidr.text() == "fd00::/8");
  CHECK(yaml.allow_private[0].source == "proxy.allow_private in " + file);
  CHECK(yaml.allow_private[1].cidr.text() == "169.254.169.254/32");
  CHECK(*yaml.policy_file == "/etc/airlock/policies.yaml");
  CHECK(yaml.default_policy == "read-only");
  CHECK(yaml.max_connections == 10'000);
  CHECK(yaml.max_connections_per_session == 256);
  CHECK(yaml.max_connections_per_source == 1024);
  CHECK(yaml.max_requests_per_second_per_session == 1000);
  const std::string limits = dir.write("l.yaml", "proxy:\n  max_connections: 50\n  max_connections_per_session: 5\n  max_connections_per_source: 7\n"
                                                 "  max_requests_per_second_per_session: 0\n").string();
  const Config limited = load({"--config", limits});
  CHECK(limited.max_connections == 50);
  CHECK(limited.max_connections_per_session == 5);
  CHECK(limited.max_connections_per_source == 7);
  CHECK(yaml.api_max_connections_per_source == 256);
  CHECK(load({"--config", dir.write("s.yaml", "api:\n  max_connections_per_source: 0\n").string()}).api_max_connections_per_source == 0);
  CHECK(limited.max_requests_per_second_per_session == 0);
  // proxy.timeouts: the ones named change, the others keep the proxy's defaults.
  CHECK(yaml.proxy_timeouts.upstream_response == proxy::ProxyTimeouts{}.upstream_response);
  const std::string timeouts = dir.write("t.yaml", "proxy:\n  timeouts:\n    body_idle_ms: 1500\n    drain_ms: 250\n").string();
  const Config timed = load({"--config", timeouts});
  CHECK(timed.proxy_timeouts.body_idle == std::chrono::milliseconds(1500));
  CHECK(timed.proxy_timeouts.drain == std::chrono::milliseconds(250));
  CHECK(timed.proxy_timeouts.request_head == proxy::ProxyTimeouts{}.request_head);
  const std::string zero = dir.write("t0.yaml", "proxy:\n  timeouts:\n    body_idle_ms: 0\n").string();
  CHECK(config_error({"--config", zero}) == zero + ": proxy.timeouts.body_idle_ms: expected an integer from 1 to 86400000");
  const std::string unknown = dir.write("t1.yaml", "proxy:\n  timeouts:\n    body_idle: 5\n").string();
  CHECK(config_error({"--config", unknown}) ==
        unknown + ": proxy.timeouts.body_idle: unknown key; accepted here: request_head_ms, keep_alive_idle_ms, "
                  "client_handshake_ms, body_idle_ms, upstream_connect_ms, upstream_response_ms, tunnel_idle_ms, "
                  "tls_shutdown_ms, pool_idle_ms, drain_ms");
  // The flag adds to the YAML list (unlike other repeatable flags), wherever --config stands.
  const Config both = load({"--allow-private", "10.0.0.0/8", "--config", file});
  REQUIRE(both.allow_private.size() == 3);
  CHECK(both.allow_private[2].cidr.text() == "10.0.0.0/8");
  CHECK(both.allow_private[2].source == "--allow-private");

  CHECK(config_error({"--allow-private", "10.1.2.3/8"}) ==
        "--allow-private: \"10.1.2.3/8\" has bits set after the first 8; did you mean 10.0.0.0/8?");
  const std::string bad = dir.write("bad.yaml", "proxy:\n  allow_private: [private]\n").string();
  CHECK(config_error({"--config", bad}) ==
        bad + ": proxy.allow_private[0]: \"private\" is not a CIDR range; write an address and a prefix length, like 10.0.0.0/8 "
        "or fd00::/8");
}

TEST_CASE("config: transparent listeners, their source map and the upstream mark") {
  const Config defaults = load({});
  CHECK(defaults.transparent_listen.empty());
  CHECK(defaults.transparent_sessions.empty());
  CHECK(defaults.upstream_mark == 0x1a1);

  TempDir dir;
  const std::string file = dir.write("t.yaml",
                                     "proxy:\n  transparent_listen: [\"0.0.0.0:15001\", \"[::]:15001\"]\n"
                                     "  transparent_sessions:\n    10.0.0.5/32: sesn_01a\n    10.1.0.0/16: sesn_01b\n"
                                     "  upstream_mark: 0x2b\n")
                               .string();
  const Config yaml = load({"--config", file});
  REQUIRE(yaml.transparent_listen.size() == 2);
  CHECK(yaml.transparent_listen[0].to_string() == "0.0.0.0:15001");
  CHECK(yaml.transparent_listen[1].host == "::");
  REQUIRE(yaml.transparent_sessions.size() == 2);
  CHECK(yaml.transparent_sessions[0].source.text() == "10.0.0.5/32");
  CHECK(yaml.transparent_sessions[0].session_id == "sesn_01a");
  CHECK(yaml.transparent_sessions[1].source.text() == "10.1.0.0/16");
  CHECK(yaml.upstream_mark == 0x2b);
  CHECK(load_transparent_sessions(std::filesystem::path(file)).size() == 2);
  CHECK(load_transparent_sessions(std::nullopt).empty());
  // The flag replaces the YAML list.
  const Config flag = load({"--config", file, "--transparent-listen", "127.0.0.1:0"});
  REQUIRE(flag.transparent_listen.size() == 1);
  CHECK(flag.transparent_listen[0].to_string() == "127.0.0.1:0");
  CHECK(load({"--config", dir.write("m.yaml", "proxy:\n  upstream_mark: 0\n").string()}).upstream_mark == 0);

  CHECK(config_error({"--transparent-listen", "localhost:15001"}) ==
        "--transparent-listen: \"localhost:15001\" must be IP:PORT (an IP address, not a name)");
  const std::string not_session = dir.write("s.yaml", "proxy:\n  transparent_sessions:\n    10.0.0.5/32: agent_1\n").string();
  CHECK(config_error({"--config", not_session}) ==
        not_session + ": proxy.transparent_sessions.10.0.0.5/32: expected a session id (sesn_...)");
  const std::string twice =
      dir.write("d.yaml", "proxy:\n  transparent_sessions:\n    10.0.0.5: sesn_a\n    10.0.0.5/32: sesn_b\n").string();
  CHECK(config_error({"--config", twice}) == twice + ": proxy.transparent_sessions.10.0.0.5/32: this range is given twice");
  const std::string mark = dir.write("k.yaml", "proxy:\n  upstream_mark: lots\n").string();
  CHECK(config_error({"--config", mark}) ==
        mark + ": proxy.upstream_mark: expected a firewall mark, decimal or 0x-hexadecimal (e.g. 0x1a1), or 0 for none");
  CHECK_THROWS_AS(load_transparent_sessions(std::filesystem::path(not_session)), ConfigError);
}

}  // namespace
}  // namespace airlock::control
