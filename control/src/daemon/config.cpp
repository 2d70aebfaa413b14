// Loading the configuration; see config.hpp.
#include "daemon/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>
#include <span>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "runtime/sandbox_command.hpp"

namespace airlock::control {
namespace {

// runtime.sandbox_uid_base's largest value: base + 4096 sandboxes still fits below 2^31.
constexpr long long kMaxSandboxUidBase = (1LL << 31) - 1 - 4096;

std::vector<std::string> split_keys(std::string_view text) {
  std::vector<std::string> keys;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view key = text.substr(0, comma);
    while (!key.empty() && (key.front() == ' ' || key.front() == '\t')) key.remove_prefix(1);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (!key.empty()) keys.emplace_back(key);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return keys;
}

// YAML access with paths in messages ("proxy.max_header_bytes: expected an integer").
class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  void check_keys(const YAML::Node& node, std::string_view path, std::initializer_list<std::string_view> known) const {
    check_keys(node, path, std::span<const std::string_view>(known.begin(), known.size()));
  }
  void check_keys(const YAML::Node& node, std::string_view path, std::span<const std::string_view> known) const {
    if (!node.IsMap()) fail(path, "expected a mapping");
    for (const auto& item : node) {
      if (!item.first.IsScalar()) fail(path, "keys must be plain names");
      std::string key = item.first.as<std::string>();
      bool found = false;
      for (std::string_view k : known) found = found || k == key;
      if (!found) {
        std::string accepted;
        for (std::string_view k : known) accepted += fmt::format("{}{}", accepted.empty() ? "" : ", ", k);
        fail(join(path, key), fmt::format("unknown key; accepted here: {}", accepted));
      }
    }
  }
  std::string string(const YAML::Node& node, std::string_view path) const {
    if (!node.IsScalar()) fail(path, "expected a string");
    return node.as<std::string>();
  }
  bool boolean(const YAML::Node& node, std::string_view path) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) fail(path, "expected true or false");
    return value;
  }
  long long integer(const YAML::Node& node, std::string_view path, long long min, long long max) const {
    long long value = 0;
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
      fail(path, fmt::format("expected an integer from {} to {}", min, max));
    }
    return value;
  }
  double number(const YAML::Node& node, std::string_view path, double min, double max) const {
    double value = 0;
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !(value >= min && value <= max)) {
      fail(path, fmt::format("expected a number from {} to {}", min, max));
    }
    return value;
  }
  std::vector<std::string> strings(const YAML::Node& node, std::string_view path) const {
    if (!node.IsSequence()) fail(path, "expected a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < node.size(); ++i) out.push_back(string(node[i], fmt::format("{}[{}]", path, i)));
    return out;
  }
  [[noreturn]] void fail(std::string_view path, std::string_view message) const {
    throw ConfigError(fmt::format("{}: {}: {}", file_, path, message));
  }
  static std::string join(std::string_view parent, std::string_view key) {
    return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
  }

 private:
  std::string file_;
};

// A harness name: what environments name in their airlock.harness metadata.
bool valid_harness_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

// The bounds of runtime.limits and runtime.harnesses.NAME.limits: below them nothing a harness does
// (a shell, node) starts; above them the limit means nothing.
constexpr long long kMinMemoryBytes = 16LL << 20;
constexpr long long kMaxMemoryBytes = 1LL << 40;
constexpr long long kMaxPids = 1 << 22;
constexpr long long kMinWorkspaceBytes = 16LL << 20;  // an ext4 file system's smallest useful size
constexpr long long kMaxWorkspaceBytes = 1LL << 44;

HarnessConfig::LimitOverrides limits_from_yaml(const YamlReader& yaml, const YAML::Node& node, const std::string& path) {
  yaml.check_keys(node, path, {"memory_bytes", "pids", "cpus", "workspace_bytes"});
  HarnessConfig::LimitOverrides limits;
  if (auto bytes = node["memory_bytes"]) {
    limits.memory_bytes = static_cast<std::uint64_t>(yaml.integer(bytes, path + ".memory_bytes", kMinMemoryBytes, kMaxMemoryBytes));
  }
  if (auto pids = node["pids"]) limits.pids = static_cast<std::uint32_t>(yaml.integer(pids, path + ".pids", 8, kMaxPids));
  if (auto cpus = node["cpus"]) limits.cpus = yaml.number(cpus, path + ".cpus", 0.01, 1024);
  if (auto bytes = node["workspace_bytes"]) {
    limits.workspace_bytes = bytes.IsScalar() && bytes.Scalar() == "none"
                                 ? 0
                                 : static_cast<std::uint64_t>(yaml.integer(bytes, path + ".workspace_bytes", kMinWorkspaceBytes,
                                                                           kMaxWorkspaceBytes));
  }
  return limits;
}

ResourceLimits with_overrides(ResourceLimits limits, const HarnessConfig::LimitOverrides& overrides) {
  if (overrides.memory_bytes) limits.memory_bytes = *overrides.memory_bytes;
  if (overrides.pids) limits.pids = *overrides.pids;
  if (overrides.cpus) limits.cpus = *overrides.cpus;
  if (overrides.workspace_bytes) limits.workspace_bytes = *overrides.workspace_bytes;
  return limits;
}

// `builtin`: the entry is runtime.harnesses.agent, which without a command configures the built-in agent.
HarnessConfig harness_from_yaml(const YamlReader& yaml, const YAML::Node& node, const std::string& path, bool builtin) {
  if (builtin && node.IsNull()) return builtin_agent_harness();  // "agent:" with nothing under it
  yaml.check_keys(node, path, {"command", "read_only_paths", "timeout_seconds", "stdin", "env", "limits"});
  const bool configures_builtin = builtin && !node["command"];
  HarnessConfig harness = configures_builtin ? builtin_agent_harness() : HarnessConfig{};
  if (auto command = node["command"]) harness.command = yaml.strings(command, path + ".command");
  if (harness.command.empty() || harness.command[0].empty()) {
    yaml.fail(path + ".command", "required: the harness's argv as a list, e.g. [\"/bin/sh\", \"/opt/harness/run.sh\"]");
  }
  if (auto paths = node["read_only_paths"]) {
    std::vector<std::string> list = yaml.strings(paths, path + ".read_only_paths");
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::filesystem::path entry = std::filesystem::path(list[i]).lexically_normal();
      std::string where = fmt::format("{}.read_only_paths[{}]", path, i);
      if (!entry.is_absolute()) yaml.fail(where, fmt::format("\"{}\" must be an absolute path", list[i]));
      if (entry == entry.root_path()) yaml.fail(where, "\"/\" cannot be mounted into a sandbox; name the directories the harness needs");
      if (entry.string().size() > 1 && entry.string().back() == '/') entry = entry.parent_path();
      harness.read_only_paths.push_back(entry);
    }
  }
  if (auto timeout = node["timeout_seconds"]) {
    harness.timeout_seconds = static_cast<int>(yaml.integer(timeout, path + ".timeout_seconds", 1, 7 * 86400));
  }
  if (auto stdin_mode = node["stdin"]) {
    std::string mode = yaml.string(stdin_mode, path + ".stdin");
    if (mode != "open" && mode != "close" && mode != "json") yaml.fail(path + ".stdin", "expected open, close or json");
    if (configures_builtin && mode != "json") {
      yaml.fail(path + ".stdin", "the built-in agent takes its turns as JSON lines: json, or leave stdin out");
    }
    harness.keep_stdin_open = mode != "close";
    harness.stdin_json = mode == "json";
  }
  if (auto env = node["env"]) {
    if (!env.IsMap()) yaml.fail(path + ".env", "expected a mapping of NAME: value");
    for (const auto& item : env) {
      if (!item.first.IsScalar()) yaml.fail(path + ".env", "keys must be variable names");
      std::string name = item.first.as<std::string>();
      if (name.empty() || name.find('=') != std::string::npos) yaml.fail(path + ".env", fmt::format("\"{}\" is not a variable name", name));
      harness.env[name] = yaml.string(item.second, fmt::format("{}.env.{}", path, name));
    }
  }
  if (auto limits = node["limits"]) harness.limits = limits_from_yaml(yaml, limits, path + ".limits");
  return harness;
}

void apply_runtime(const YamlReader& yaml, const YAML::Node& node, RuntimeConfig& runtime) {
  yaml.check_keys(node, "runtime", {"default_harness", "max_concurrent_sessions", "harnesses", "bwrap", "stderr_log_bytes",
                                    "stdout_event_bytes", "sandbox_uid_base", "limits"});
  if (auto limits = node["limits"]) {
    if (limits.IsScalar() && limits.as<std::string>() == "none") {
      runtime.limits.reset();
    } else if (limits.IsMap()) {
      runtime.limits = with_overrides(ResourceLimits{}, limits_from_yaml(yaml, limits, "runtime.limits"));
    } else {
      yaml.fail("runtime.limits", "expected a mapping (memory_bytes, pids, cpus, workspace_bytes) or none");
    }
  }
  if (auto harnesses = node["harnesses"]) {
    if (!harnesses.IsMap()) yaml.fail("runtime.harnesses", "expected a mapping of harness name to its settings");
    for (const auto& item : harnesses) {
      if (!item.first.IsScalar()) yaml.fail("runtime.harnesses", "keys must be harness names");
      std::string name = item.first.as<std::string>();
      std::string path = "runtime.harnesses." + name;
      if (!valid_harness_name(name)) yaml.fail(path, "a harness name is 1-64 letters, digits, '-', '_' or '.'");
      if (name == kNoHarness) yaml.fail(path, "\"none\" is reserved: it selects no harness");
      runtime.harnesses[name] = harness_from_yaml(yaml, item.second, path, name == kBuiltinAgentHarness);
      const HarnessConfig::LimitOverrides& own = runtime.harnesses[name].limits;
      if (!runtime.limits && (own.memory_bytes || own.pids || own.cpus || own.workspace_bytes)) {
        yaml.fail(path + ".limits", "runtime.limits is none, so no session has a cgroup to hold these limits; remove them, "
                                    "or give runtime.limits its values instead of none");
      }
    }
  }
  if (auto name = node["default_harness"]) {
    std::string value = yaml.string(name, "runtime.default_harness");
    if (value == kNoHarness) {
      runtime.default_harness.reset();
    } else if (value == kBuiltinAgentHarness || runtime.harnesses.contains(value)) {
      runtime.default_harness = std::move(value);
    } else {
      yaml.fail("runtime.default_harness",
                fmt::format("\"{}\" is not defined under runtime.harnesses (or give agent, the built-in, or none)", value));
    }
  }
  if (auto limit = node["max_concurrent_sessions"]) {
    runtime.max_concurrent_sessions = static_cast<int>(yaml.integer(limit, "runtime.max_concurrent_sessions", 1, 4096));
  }
  if (auto bwrap = node["bwrap"]) runtime.bwrap = yaml.string(bwrap, "runtime.bwrap");
  if (auto bytes = node["stdout_event_bytes"]) {
    runtime.stdout_event_bytes = static_cast<std::size_t>(yaml.integer(bytes, "runtime.stdout_event_bytes", 0, 1LL << 30));
  }
  if (auto bytes = node["stderr_log_bytes"]) {
    runtime.stderr_log_bytes = static_cast<std::size_t>(yaml.integer(bytes, "runtime.stderr_log_bytes", 0, 1LL << 30));
  }
  if (auto base = node["sandbox_uid_base"]) {
    // Above the 16-bit ids (users, nobody, systemd's dynamic users), and with room for 4096 sandboxes below
    // 2^31 (some tools take ids above it for negative numbers).
    runtime.sandbox_uid_base = static_cast<std::uint32_t>(yaml.integer(base, "runtime.sandbox_uid_base", 65536, kMaxSandboxUidBase));
  }
}

// Read-only paths may not expose the data dir (master key, CA key, database) to a sandbox, and must exist.
void check_runtime_paths(const Config& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path data_dir = fs::weakly_canonical(fs::absolute(config.data_dir), ec).lexically_normal();
  auto inside = [](const fs::path& child, const fs::path& parent) {
    auto [p, c] = std::mismatch(parent.begin(), parent.end(), child.begin(), child.end());
    return p == parent.end();
  };
  std::string origin = config.config_file ? config.config_file->string() : std::string("configuration");
  for (const auto& [name, harness] : config.runtime.harnesses) {
    for (std::size_t i = 0; i < harness.read_only_paths.size(); ++i) {
      const fs::path& entry = harness.read_only_paths[i];
      std::string where = fmt::format("{}: runtime.harnesses.{}.read_only_paths[{}]", origin, name, i);
      if (!fs::exists(entry, ec)) throw ConfigError(fmt::format("{}: {} does not exist", where, entry.string()));
      fs::path real = fs::weakly_canonical(entry, ec).lexically_normal();
      if (inside(real, data_dir) || inside(data_dir, real)) {
        throw ConfigError(fmt::format("{}: {} overlaps the data dir {}; a sandbox must never see the data dir (it holds "
                                      "the master key and the database)",
                                      where, entry.string(), data_dir.string()));
      }
    }
  }
}

// proxy.transparent_sessions: a mapping of source range to session id.
std::vector<TransparentSession> transparent_sessions_of(const YAML::Node& node, const YamlReader& yaml) {
  constexpr std::string_view path = "proxy.transparent_sessions";
  if (!node.IsMap()) yaml.fail(path, "expected a mapping of source range (CIDR) to session id, e.g. 10.0.0.5/32: sesn_...");
  std::vector<TransparentSession> out;
  for (const auto& item : node) {
    const std::string range = item.first.IsScalar() ? item.first.as<std::string>() : "";
    auto cidr = policies::Cidr::parse(range);
    if (!cidr) yaml.fail(fmt::format("{}.{}", path, range), cidr.error());
    const std::string session = yaml.string(item.second, fmt::format("{}.{}", path, range));
    if (session.rfind("sesn_", 0) != 0) yaml.fail(fmt::format("{}.{}", path, range), "expected a session id (sesn_...)");
    for (const TransparentSession& earlier : out) {
      if (earlier.source == cidr.value()) yaml.fail(fmt::format("{}.{}", path, range), "this range is given twice");
    }
    out.push_back({cidr.value(), session});
  }
  return out;
}

// proxy.timeouts: each ProxyTimeouts member by name, in milliseconds (1 ms to a day); unset ones keep
// their defaults.
proxy::ProxyTimeouts proxy_timeouts_of(const YAML::Node& node, const YamlReader& yaml) {
  using Member = std::chrono::milliseconds proxy::ProxyTimeouts::*;
  static constexpr std::array<std::pair<std::string_view, Member>, 10> kTimeouts{{
      {"request_head_ms", &proxy::ProxyTimeouts::request_head},
      {"keep_alive_idle_ms", &proxy::ProxyTimeouts::keep_alive_idle},
      {"client_handshake_ms", &proxy::ProxyTimeouts::client_handshake},
      {"body_idle_ms", &proxy::ProxyTimeouts::body_idle},
      {"upstream_connect_ms", &proxy::ProxyTimeouts::upstream_connect},
      {"upstream_response_ms", &proxy::ProxyTimeouts::upstream_response},
      {"tunnel_idle_ms", &proxy::ProxyTimeouts::tunnel_idle},
      {"tls_shutdown_ms", &proxy::ProxyTimeouts::tls_shutdown},
      {"pool_idle_ms", &proxy::ProxyTimeouts::pool_idle},
      {"drain_ms", &proxy::ProxyTimeouts::drain},
  }};
  std::array<std::string_view, kTimeouts.size()> names;
  for (std::size_t i = 0; i < kTimeouts.size(); ++i) names[i] = kTimeouts[i].first;
  yaml.check_keys(node, "proxy.timeouts", names);
  proxy::ProxyTimeouts timeouts;
  for (const auto& [name, member] : kTimeouts) {
    if (auto value = node[std::string(name)]) {
      timeouts.*member = std::chrono::milliseconds(yaml.integer(value, fmt::format("proxy.timeouts.{}", name), 1, 86'400'000));
    }
  }
  return timeouts;
}

// proxy.upstream_mark: decimal or 0x-prefixed hexadecimal, 0 to 2^32-1.
std::uint32_t parse_mark(const YAML::Node& node, const YamlReader& yaml) {
  const std::string text = yaml.string(node, "proxy.upstream_mark");
  const bool hex = text.size() > 2 && (text.starts_with("0x") || text.starts_with("0X"));
  const std::string_view digits = hex ? std::string_view(text).substr(2) : std::string_view(text);
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, hex ? 16 : 10);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
    yaml.fail("proxy.upstream_mark", "expected a firewall mark, decimal or 0x-hexadecimal (e.g. 0x1a1), or 0 for none");
  }
  return value;
}

void apply_yaml(Config& config, const std::filesystem::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw ConfigError(fmt::format("{}: cannot read the config file", file.string()));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}: line {}: {}", file.string(), e.mark.line + 1, e.msg));
  }
  if (root.IsNull()) return;
  YamlReader yaml(file.string());
  yaml.check_keys(root, "", {"data_dir", "api", "proxy", "credentials", "scheduler", "runtime", "audit", "log"});
  if (auto node = root["data_dir"]) config.data_dir = yaml.string(node, "data_dir");
  if (auto api = root["api"]) {
    yaml.check_keys(api, "api", {"listen", "metrics_listen", "keys", "max_connections_per_source"});
    if (auto node = api["listen"]) config.api_listen = parse_endpoint(yaml.string(node, "api.listen"), "api.listen");
    if (auto node = api["metrics_listen"]) {
      config.metrics_listen = parse_endpoint(yaml.string(node, "api.metrics_listen"), "api.metrics_listen");
    }
    if (auto node = api["keys"]) config.api_keys = yaml.strings(node, "api.keys");
    if (auto node = api["max_connections_per_source"]) {
      config.api_max_connections_per_source =
          static_cast<std::size_t>(yaml.integer(node, "api.max_connections_per_source", 0, 1'000'000));
    }
  }
  if (auto proxy = root["proxy"]) {
    yaml.check_keys(proxy, "proxy", {"listen", "advertise_url", "upstream_ca", "resolve", "placeholder_violation",
                                     "passthrough_hosts", "allow_plaintext_substitution", "max_header_bytes",
                                     "max_decoded_body_bytes", "allow_private", "policy_file", "default_policy", "max_connections",
                                     "max_connections_per_session", "max_connections_per_source", "max_requests_per_second_per_session",
                                     "transparent_listen", "transparent_sessions", "upstream_mark", "timeouts",
                                     "metrics_host_labels"});
    if (auto node = proxy["timeouts"]) config.proxy_timeouts = proxy_timeouts_of(node, yaml);
    if (auto node = proxy["listen"]) config.proxy_listen = parse_endpoint(yaml.string(node, "proxy.listen"), "proxy.listen");
    if (auto node = proxy["advertise_url"]) config.proxy_advertise_url = yaml.string(node, "proxy.advertise_url");
    if (auto node = proxy["transparent_listen"]) {
      const std::vector<std::string> listeners = yaml.strings(node, "proxy.transparent_listen");
      for (std::size_t i = 0; i < listeners.size(); ++i) {
        config.transparent_listen.push_back(parse_ip_endpoint(listeners[i], fmt::format("proxy.transparent_listen[{}]", i)));
      }
    }
    if (auto node = proxy["transparent_sessions"]) config.transparent_sessions = transparent_sessions_of(node, yaml);
    if (auto node = proxy["upstream_mark"]) config.upstream_mark = parse_mark(node, yaml);
    if (auto node = proxy["upstream_ca"]) config.upstream_ca = yaml.strings(node, "proxy.upstream_ca");
    if (auto node = proxy["resolve"]) {
      if (!node.IsMap()) yaml.fail("proxy.resolve", "expected a mapping of host: ip");
      for (const auto& item : node) {
        if (!item.first.IsScalar()) yaml.fail("proxy.resolve", "keys must be host names");
        std::string host = item.first.as<std::string>();
        config.resolve[host] = yaml.string(item.second, "proxy.resolve." + host);
      }
    }
    if (auto node = proxy["placeholder_violation"]) {
      config.placeholder_violation = yaml.string(node, "proxy.placeholder_violation");
      if (config.placeholder_violation != "block" && config.placeholder_violation != "passthrough") {
        yaml.fail("proxy.placeholder_violation", "expected block or passthrough");
      }
    }
    if (auto node = proxy["allow_private"]) {
      const std::vector<std::string> ranges = yaml.strings(node, "proxy.allow_private");
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        auto cidr = policies::Cidr::parse(ranges[i]);
        if (!cidr) yaml.fail(fmt::format("proxy.allow_private[{}]", i), cidr.error());
        config.allow_private.push_back({cidr.value(), fmt::format("proxy.allow_private in {}", file.string())});
      }
    }
    if (auto node = proxy["policy_file"]) config.policy_file = std::filesystem::path(yaml.string(node, "proxy.policy_file"));
    if (auto node = proxy["default_policy"]) config.default_policy = yaml.string(node, "proxy.default_policy");
    if (auto node = proxy["max_connections"]) {
      config.max_connections = static_cast<std::size_t>(yaml.integer(node, "proxy.max_connections", 0, 1'000'000));
    }
    if (auto node = proxy["max_connections_per_session"]) {
      config.max_connections_per_session =
          static_cast<std::size_t>(yaml.integer(node, "proxy.max_connections_per_session", 0, 1'000'000));
    }
    if (auto node = proxy["max_connections_per_source"]) {
      config.max_connections_per_source =
          static_cast<std::size_t>(yaml.integer(node, "proxy.max_connections_per_source", 0, 1'000'000));
    }
    if (auto node = proxy["max_requests_per_second_per_session"]) {
      config.max_requests_per_second_per_session =
          static_cast<std::size_t>(yaml.integer(node, "proxy.max_requests_per_second_per_session", 0, 1'000'000));
    }
    if (auto node = proxy["passthrough_hosts"]) config.passthrough_hosts = yaml.strings(node, "proxy.passthrough_hosts");
    if (auto node = proxy["allow_plaintext_substitution"]) {
      config.allow_plaintext_substitution = yaml.boolean(node, "proxy.allow_plaintext_substitution");
    }
    if (auto node = proxy["metrics_host_labels"]) {
      config.metrics_host_labels = yaml.boolean(node, "proxy.metrics_host_labels");
    }
    if (auto node = proxy["max_header_bytes"]) {
      config.max_header_bytes = static_cast<std::size_t>(yaml.integer(node, "proxy.max_header_bytes", 1024, 1 << 20));
    }
    if (auto node = proxy["max_decoded_body_bytes"]) {
      config.max_decoded_body_bytes =
          static_cast<std::size_t>(yaml.integer(node, "proxy.max_decoded_body_bytes", 65536, 1LL << 30));
    }
  }
  if (auto credentials = root["credentials"]) {
    yaml.check_keys(credentials, "credentials", {"allow_weak_secrets"});
    if (auto node = credentials["allow_weak_secrets"]) {
      config.allow_weak_secrets = yaml.boolean(node, "credentials.allow_weak_secrets");
    }
  }
  if (auto scheduler = root["scheduler"]) {
    yaml.check_keys(scheduler, "scheduler", {"catch_up_window_seconds", "max_jitter_seconds"});
    if (auto node = scheduler["catch_up_window_seconds"]) {
      config.catch_up_window_seconds = static_cast<int>(yaml.integer(node, "scheduler.catch_up_window_seconds", 0, 86400 * 7));
    }
    if (auto node = scheduler["max_jitter_seconds"]) {
      config.max_jitter_seconds = static_cast<int>(yaml.integer(node, "scheduler.max_jitter_seconds", 0, 3600));
    }
  }
  if (auto audit = root["audit"]) {
    yaml.check_keys(audit, "audit", {"retention_days", "max_bytes", "jsonl"});
    if (auto node = audit["retention_days"]) {
      config.audit_retention_days = static_cast<int>(yaml.integer(node, "audit.retention_days", 1, 3650));
    }
    if (auto node = audit["max_bytes"]) {
      config.audit_max_bytes = yaml.integer(node, "audit.max_bytes", 0, std::int64_t{1} << 50);
    }
    if (auto node = audit["jsonl"]) {
      std::string path = yaml.string(node, "audit.jsonl");
      if (path.empty()) throw ConfigError("audit.jsonl: give a file path, or - for stdout");
      config.audit_jsonl = std::move(path);
    }
  }
  if (auto log = root["log"]) {
    yaml.check_keys(log, "log", {"level", "format"});
    if (auto node = log["level"]) config.log_level = parse_log_level(yaml.string(node, "log.level"), "log.level");
    if (auto node = log["format"]) config.log_format = parse_log_format(yaml.string(node, "log.format"), "log.format");
  }
  if (auto runtime = root["runtime"]) apply_runtime(yaml, runtime, config.runtime);
}

}  // namespace

HarnessConfig builtin_agent_harness() {
  HarnessConfig harness;
  harness.command = {kSandboxRelayBinary, std::string(kBuiltinAgentHarness)};
  harness.keep_stdin_open = true;
  harness.stdin_json = true;
  return harness;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

LogLevel parse_log_level(std::string_view text, std::string_view what) {
  if (text == "debug") return LogLevel::debug;
  if (text == "info") return LogLevel::info;
  if (text == "warn") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  throw ConfigError(fmt::format("{}: \"{}\" is not a log level; use debug, info, warn or error", what, text));
}

LogFormat parse_log_format(std::string_view text, std::string_view what) {
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json_lines;
  throw ConfigError(fmt::format("{}: \"{}\" is not a log format; use text or json", what, text));
}

std::pair<std::string, std::string> parse_resolve(std::string_view text, std::string_view what) {
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    throw ConfigError(fmt::format("{}: \"{}\" must be HOST:IP, e.g. api.example.com:127.0.0.1", what, text));
  }
  return {std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

Endpoint parse_ip_endpoint(std::string_view text, std::string_view what) {
  Endpoint endpoint = parse_endpoint(text, what);
  boost::system::error_code ec;
  boost::asio::ip::make_address(endpoint.host, ec);
  if (ec) throw ConfigError(fmt::format("{}: \"{}\" must be IP:PORT (an IP address, not a name)", what, text));
  return endpoint;
}

Endpoint parse_endpoint(std::string_view text, std::string_view what) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw ConfigError(fmt::format("{}: \"{}\" must be HOST:PORT, e.g. 127.0.0.1:8420", what, text));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    throw ConfigError(fmt::format("{}: \"{}\" has no valid port (0-65535; 0 lets the kernel pick)", what, text));
  }
  return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

policies::Cidr parse_cidr(std::string_view text, std::string_view what) {
  auto cidr = policies::Cidr::parse(text);
  if (!cidr) throw ConfigError(fmt::format("{}: {}", what, cidr.error()));
  return cidr.value();
}

std::vector<TransparentSession> load_transparent_sessions(const std::optional<std::filesystem::path>& file) {
  if (!file) return {};
  YAML::Node root;
  try {
    root = YAML::LoadFile(file->string());
  } catch (const YAML::BadFile&) {
    throw ConfigError(fmt::format("{}: cannot read the config file", file->string()));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}: line {}: {}", file->string(), e.mark.line + 1, e.msg));
  }
  if (!root.IsMap() || !root["proxy"] || !root["proxy"].IsMap() || !root["proxy"]["transparent_sessions"]) return {};
  return transparent_sessions_of(root["proxy"]["transparent_sessions"], YamlReader(file->string()));
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

std::optional<ResourceLimits> harness_limits(const RuntimeConfig& runtime, const HarnessConfig& harness) {
  if (!runtime.limits) return std::nullopt;
  return with_overrides(*runtime.limits, harness.limits);
}

Config load_config(std::span<const std::string_view> args, std::string_view api_key_env) {
  Config config;
  // The file is applied first, wherever --config stands, so that every flag overrides it.
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--config") config.config_file = std::filesystem::path(args[i + 1]);
  }
  config.runtime.default_harness = std::string(kBuiltinAgentHarness);  // unless the file says otherwise
  if (config.config_file) apply_yaml(config, *config.config_file);
  // The built-in agent is defined when it is the default, or when runtime.harnesses.agent configures it.
  if (config.runtime.default_harness == kBuiltinAgentHarness && !config.runtime.harnesses.contains(std::string(kBuiltinAgentHarness))) {
    config.runtime.harnesses[std::string(kBuiltinAgentHarness)] = builtin_agent_harness();
  }

  std::vector<std::string> upstream_ca;
  std::map<std::string, std::string> resolve;
  std::vector<Endpoint> transparent_listen;
  bool transparent_given = false;
  bool upstream_ca_given = false;
  bool resolve_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= args.size()) throw ConfigError(fmt::format("{} needs a value\n{}", flag, kServeUsage));
      return args[++i];
    };
    if (flag == "--config") {
      (void)value();
    } else if (flag == "--data-dir") {
      config.data_dir = std::filesystem::path(value());
    } else if (flag == "--api-listen") {
      config.api_listen = parse_endpoint(value(), "--api-listen");
    } else if (flag == "--metrics-listen") {
      config.metrics_listen = parse_endpoint(value(), "--metrics-listen");
    } else if (flag == "--proxy-listen") {
      config.proxy_listen = parse_endpoint(value(), "--proxy-listen");
    } else if (flag == "--upstream-ca") {
      upstream_ca_given = true;
      upstream_ca.emplace_back(value());
    } else if (flag == "--resolve") {
      resolve_given = true;
      resolve.insert(parse_resolve(value(), "--resolve"));
    } else if (flag == "--allow-private") {
      // Adds to proxy.allow_private (unlike other repeatable flags): an operator opening one more range for a
      // run should not silently close the ones the file opens.
      config.allow_private.push_back({parse_cidr(value(), "--allow-private"), "--allow-private"});
    } else if (flag == "--transparent-listen") {
      transparent_given = true;
      transparent_listen.push_back(parse_ip_endpoint(value(), "--transparent-listen"));
    } else if (flag == "--policy") {
      config.policy_file = std::filesystem::path(value());
    } else if (flag == "--log-level") {
      config.log_level = parse_log_level(value(), "--log-level");
    } else if (flag == "--log-format") {
      config.log_format = parse_log_format(value(), "--log-format");
    } else if (flag == "--ready-file") {
      config.ready_file = std::filesystem::path(value());
    } else {
      throw ConfigError(fmt::format("unknown argument \"{}\"\n{}", flag, kServeUsage));
    }
  }
  if (upstream_ca_given) config.upstream_ca = std::move(upstream_ca);
  if (resolve_given) config.resolve = std::move(resolve);
  if (transparent_given) config.transparent_listen = std::move(transparent_listen);
  check_runtime_paths(config);  // after --data-dir, which may move the data dir
  for (std::string& key : split_keys(api_key_env)) config.api_keys.push_back(std::move(key));
  return config;
}

}  // namespace airlock::control
