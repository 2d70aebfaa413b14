// Configuration of `airlock serve`: embedded defaults, then the YAML file (--config), then flags. The
// names and defaults are ARCHITECTURE.md's table ("Command line, configuration and files"); flags override
// YAML keys, and a repeatable flag replaces the YAML list. Unknown keys and malformed values are errors
// that name the key and the accepted form, so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/policies/address.hpp"
#include "airlock/proxy/proxy.hpp"
#include "runtime/cgroup_limits.hpp"

namespace airlock::control {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

enum class LogLevel { debug, info, warn, error };
// text: "TIME LEVEL message key=value..."; json: one JSON object per line, for log shippers (daemon/log.hpp).
enum class LogFormat { text, json_lines };

// runtime.harnesses.<name>: a command that runs a session's agent inside a sandbox (docs/runtime.md).
struct HarnessConfig {
  std::vector<std::string> command;                     // argv inside the sandbox; command[0] absolute or on PATH
  std::vector<std::filesystem::path> read_only_paths;   // host paths bind-mounted read-only at the same path
  int timeout_seconds = 3600;                           // the session's time limit; the process tree is killed then
  bool keep_stdin_open = false;                         // stdin: open (events sent later arrive as lines) | close
  bool stdin_json = false;                              // stdin: json (client events as JSON lines; the harness ends turns)
  std::map<std::string, std::string> env;               // extra variables (not secrets: keep those in vaults)
  // runtime.harnesses.NAME.limits: each key set here replaces runtime.limits' for this harness.
  struct LimitOverrides {
    std::optional<std::uint64_t> memory_bytes;
    std::optional<std::uint32_t> pids;
    std::optional<double> cpus;
    std::optional<std::uint64_t> workspace_bytes;  // 0: none
  } limits;
};

// The built-in agent harness's name (docs/runtime.md, "The built-in agent"), and the name that selects no
// harness at all (runtime.default_harness: none, metadata airlock.harness: none).
inline constexpr std::string_view kBuiltinAgentHarness = "agent";
inline constexpr std::string_view kNoHarness = "none";

// The built-in agent: `airlock agent` from the binary mounted in every sandbox, taking turns on stdin.
HarnessConfig builtin_agent_harness();

// runtime.*: which sessions start a local sandbox and how many at once.
struct RuntimeConfig {
  // A loaded configuration has "agent" (the built-in, defined in `harnesses` then) unless it says none;
  // nullopt: sessions whose environment names no harness run nothing here.
  std::optional<std::string> default_harness;
  int max_concurrent_sessions = 4;
  std::map<std::string, HarnessConfig> harnesses;
  std::string bwrap = "bwrap";                   // the bubblewrap binary (a path, or a name found on PATH)
  std::size_t stderr_log_bytes = 1 << 20;        // per session; the rest is counted, not kept
  std::size_t stdout_event_bytes = 16 << 20;     // per session, stdout stored as events; the rest is counted
  // When Airlock runs as root: gid of the sandboxes' group; sandbox N runs as uid/gid base+1+N
  // (sandbox_identity.hpp, SECURITY.md N6). 2000000000 lies in the range no distribution or systemd assigns.
  std::uint32_t sandbox_uid_base = 2000000000;
  // runtime.limits: what each session's cgroup allows (1 GiB, 512 processes, 1 CPU by default). nullopt is
  // "runtime.limits: none": sessions run without a cgroup, which must be asked for by name.
  std::optional<ResourceLimits> limits = ResourceLimits{};
};

// A harness's limits: runtime.limits with its own overrides; nullopt when runtime.limits is none.
std::optional<ResourceLimits> harness_limits(const RuntimeConfig& runtime, const HarnessConfig& harness);

// proxy.transparent_sessions: connections to a transparent listener from `source` belong to `session_id`.
struct TransparentSession {
  policies::Cidr source;
  std::string session_id;
};

struct Config {
  std::optional<std::filesystem::path> config_file;
  std::filesystem::path data_dir = ".airlock";
  Endpoint api_listen{"127.0.0.1", 8420};
  // A listener that serves GET /metrics (and /healthz) without an API key, nothing else; none by default.
  std::optional<Endpoint> metrics_listen;
  std::vector<std::string> api_keys;  // api.keys, plus AIRLOCK_API_KEY
  std::size_t api_max_connections_per_source = 256;  // api.max_connections_per_source (0: no limit)
  Endpoint proxy_listen{"127.0.0.1", 8421};
  std::string proxy_advertise_url;  // default http:// + proxy.listen (the bound port when 0)
  // Transparent listeners (docs/sidecar.md): proxy.transparent_listen, --transparent-listen (IP:PORT).
  std::vector<Endpoint> transparent_listen;
  std::vector<TransparentSession> transparent_sessions;  // proxy.transparent_sessions; reloaded on SIGHUP
  std::uint32_t upstream_mark = 0x1a1;                   // proxy.upstream_mark: SO_MARK of upstream sockets (0: none)
  std::vector<std::string> upstream_ca;
  std::map<std::string, std::string> resolve;
  // proxy.allow_private and --allow-private together (SECURITY.md N1), each with where it came from.
  std::vector<policies::AllowedRange> allow_private;
  std::optional<std::filesystem::path> policy_file;  // proxy.policy_file, --policy: network policies (docs/policy.md)
  std::string default_policy;  // proxy.default_policy: overrides the file's default_policy
  std::size_t max_connections = 10'000;           // proxy.max_connections (0: no limit)
  std::size_t max_connections_per_session = 256;  // proxy.max_connections_per_session (0: no limit)
  std::size_t max_connections_per_source = 1024;  // proxy.max_connections_per_source (0: no limit)
  std::size_t max_requests_per_second_per_session = 1000;  // proxy.max_requests_per_second_per_session (0: no limit)
  std::string placeholder_violation = "block";
  std::vector<std::string> passthrough_hosts;
  bool allow_plaintext_substitution = false;
  bool metrics_host_labels = false;  // proxy.metrics_host_labels: per-host series in /metrics (bounded)
  std::size_t max_header_bytes = 65536;
  std::size_t max_decoded_body_bytes = 8 << 20;  // S11: compressed responses from credential hosts, decoded whole
  proxy::ProxyTimeouts proxy_timeouts;           // proxy.timeouts.<name>_ms; unset ones keep the proxy's defaults
  int catch_up_window_seconds = 900;
  int max_jitter_seconds = 60;
  int audit_retention_days = 30;
  std::int64_t audit_max_bytes = 0;            // audit.max_bytes: past this the oldest egress rows go; 0: no limit
  std::optional<std::string> audit_jsonl;      // audit.jsonl: append every exchange to this file ("-": stdout)
  bool allow_weak_secrets = false;  // credentials.allow_weak_secrets: store weak secret values with a warning
  RuntimeConfig runtime;
  LogLevel log_level = LogLevel::info;
  LogFormat log_format = LogFormat::text;
  std::optional<std::filesystem::path> ready_file;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the arguments after "serve" (and the file they name). `api_key_env` is AIRLOCK_API_KEY's value.
Config load_config(std::span<const std::string_view> args, std::string_view api_key_env);

Endpoint parse_endpoint(std::string_view text, std::string_view what);
// IP:PORT (a transparent listener: an IP address, not a name); ConfigError naming `what`.
Endpoint parse_ip_endpoint(std::string_view text, std::string_view what);
// HOST:IP for --resolve.
std::pair<std::string, std::string> parse_resolve(std::string_view text, std::string_view what);
LogLevel parse_log_level(std::string_view text, std::string_view what);
LogFormat parse_log_format(std::string_view text, std::string_view what);
// proxy.transparent_sessions as the config file says now (SIGHUP); empty without a file. ConfigError
// naming the entry when it is malformed.
std::vector<TransparentSession> load_transparent_sessions(const std::optional<std::filesystem::path>& file);
// A range for proxy.allow_private / --allow-private; ConfigError naming `what` and the accepted forms.
policies::Cidr parse_cidr(std::string_view text, std::string_view what);
std::string_view to_string(LogLevel level);

inline constexpr std::string_view kServeUsage =
    "usage: airlock serve [--config FILE] [--data-dir DIR] [--api-listen HOST:PORT] [--proxy-listen HOST:PORT]\n"
    "                     [--upstream-ca FILE]... [--resolve HOST:IP]... [--allow-private CIDR]... [--policy FILE]\n"
    "                     [--transparent-listen IP:PORT]...\n"
    "                     [--metrics-listen HOST:PORT] [--log-level debug|info|warn|error] [--log-format text|json]\n"
    "                     [--ready-file FILE]\n"
    "  --allow-private CIDR  let sandboxes reach this private, loopback or link-local range through the proxy\n"
    "                        (refused by default; cloud metadata only by its exact address, e.g. 169.254.169.254/32;\n"
    "                        Airlock's own listeners never). See docs/policy.md\n"
    "  --policy FILE         network policies (YAML); an environment picks one with metadata airlock.policy.\n"
    "                        Reloaded on SIGHUP. See docs/policy.md\n"
    "  --transparent-listen IP:PORT  take connections that iptables/nftables REDIRECT or TPROXY send here, from\n"
    "                        sandboxes with no proxy settings (proxy.transparent_sessions maps them to sessions).\n"
    "                        See docs/sidecar.md\n"
    "  --metrics-listen HOST:PORT  serve GET /metrics there without an API key (and nothing else but /healthz)\n"
    "  --log-format text|json  json: one JSON object per log line, for log shippers (docs/operations.md)\n";

}  // namespace airlock::control
