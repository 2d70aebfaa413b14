// The sandbox's bubblewrap command line, exactly: namespaces, identity, what is mounted and how, what is
// masked, the environment, and the relay starting the harness.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/sandbox_command.hpp"

namespace airlock::control {
namespace {

using Kind = HostEntry::Kind;

HostLayout small_host() {
  HostLayout host;
  host.root = {{"bin", Kind::symlink, "usr/bin"}, {"home", Kind::directory, ""}, {"lib", Kind::symlink, "usr/lib"},
               {"lib64", Kind::directory, ""},   {"root", Kind::directory, ""}, {"sbin", Kind::symlink, "usr/sbin"}};
  host.etc = {{"airlock", Kind::directory, ""}, {"gshadow", Kind::file, ""},       {"hosts", Kind::file, ""},
              {"localtime", Kind::symlink, "/usr/share/zoneinfo/Etc/UTC"},          {"passwd", Kind::file, ""},
              {"shadow", Kind::file, ""},        {"ssh", Kind::directory, ""},      {"ssl", Kind::directory, ""}};
  host.etc_ssl_private = true;
  return host;
}

SandboxSpec small_spec() {
  SandboxSpec spec;
  spec.workspace = "/data/sessions/sesn_1/workspace";
  spec.proxy_socket = "/data/proxy.sock";
  spec.airlock_binary = "/opt/airlock/bin/airlock";
  spec.ca_bundle = "/data/ca-bundle.pem";
  spec.trust_store = "/data/ca-truststore.p12";
  spec.events_file = "/data/sessions/sesn_1/initial_events.json";
  spec.agent_file = "/data/sessions/sesn_1/agent.json";
  spec.read_only_paths = {"/opt/harness"};
  spec.hidden_paths = {{"/opt/harness/state", true}, {"/etc/airlock.yaml", false}, {"/data", true}};
  spec.command = {"/bin/sh", "/opt/harness/digest.sh", "--fast"};
  spec.env = {{"HOME", "/workspace"}, {"TOKEN", "airlock_ph_x"}};
  return spec;
}

}  // namespace

TEST_CASE("sandbox command: the whole bwrap command line for a small host") {
  BwrapCommand command = bwrap_command(small_spec(), small_host());
  const std::vector<std::string> expected = {
      "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--unshare-net",
      "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
      "--cap-drop", "ALL", "--die-with-parent", "--new-session",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--symlink", "usr/lib", "/lib",
      "--ro-bind", "/lib64", "/lib64",
      "--symlink", "usr/sbin", "/sbin",
      "--tmpfs", "/etc",
      "--ro-bind", "/etc/hosts", "/etc/hosts",
      "--symlink", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime",
      "--ro-bind", "/etc/passwd", "/etc/passwd",
      "--ro-bind", "/etc/ssl", "/etc/ssl", "--tmpfs", "/etc/ssl/private",
      "--dir", "/etc/airlock",
      "--ro-bind", "/data/ca-bundle.pem", "/etc/airlock/ca-bundle.pem",
      "--ro-bind", "/data/ca-truststore.p12", "/etc/airlock/ca-truststore.p12",
      "--proc", "/proc", "--dev", "/dev", "--size", "268435456", "--tmpfs", "/tmp", "--tmpfs", "/run", "--dir", "/run/airlock",
      "--ro-bind", "/opt/airlock/bin/airlock", "/run/airlock/airlock",
      "--ro-bind", "/data/proxy.sock", "/run/airlock/proxy.sock",
      "--ro-bind", "/data/sessions/sesn_1/initial_events.json", "/run/airlock/initial_events.json",
      "--ro-bind", "/data/sessions/sesn_1/agent.json", "/run/airlock/agent.json",
      "--bind", "/data/sessions/sesn_1/workspace", "/workspace",
      "--ro-bind", "/opt/harness", "/opt/harness",
      "--tmpfs", "/opt/harness/state",
      "--chdir", "/workspace", "--clearenv",
      "--setenv", "HOME", "/workspace",
      "--setenv", "TOKEN", "airlock_ph_x"};
  CHECK(command.options == expected);
  CHECK(command.command == std::vector<std::string>{"/run/airlock/airlock", "relay", "--listen", "127.0.0.1:3128", "--socket",
                                                    "/run/airlock/proxy.sock", "--", "/bin/sh", "/opt/harness/digest.sh",
                                                    "--fast"});
}

TEST_CASE("sandbox command: never the host root and never a secret /etc entry") {
  HostLayout host = small_host();
  for (const char* name : {"shadow-", "gshadow-", "sudoers", "sudoers.d", "krb5.keytab", "machine-id", "docker"}) {
    host.etc.push_back({name, Kind::file, ""});
  }
  BwrapCommand command = bwrap_command(small_spec(), host);
  const auto& options = command.options;
  for (std::size_t i = 0; i + 2 < options.size(); ++i) {
    if (options[i] == "--ro-bind" || options[i] == "--bind") {
      INFO("mount ", options[i + 1], " -> ", options[i + 2]);
      CHECK(options[i + 1] != "/");
      CHECK(options[i + 2] != "/");
    }
  }
  for (const std::string& word : options) {
    INFO(word);
    CHECK(word.find("shadow") == std::string::npos);
    CHECK(word.find("sudoers") == std::string::npos);
    CHECK(word.find("keytab") == std::string::npos);
    CHECK(word.find("machine-id") == std::string::npos);
    CHECK(word.find("/etc/ssh") == std::string::npos);
    CHECK(word.find("/etc/docker") == std::string::npos);
    CHECK(word != "/home");
    CHECK(word != "/root");
  }
  CHECK(is_secret_etc_entry("shadow"));
  CHECK(is_secret_etc_entry("airlock"));
  CHECK_FALSE(is_secret_etc_entry("passwd"));
  CHECK_FALSE(is_secret_etc_entry("ssl"));
}

TEST_CASE("sandbox command: hidden paths are masked only where a mount would show them") {
  SandboxSpec spec = small_spec();
  spec.hidden_paths = {{"/usr/local/airlock-data", true}, {"/etc/passwd", false}, {"/srv/airlock", true},
                       {"/opt/harnessed", true}};
  BwrapCommand command = bwrap_command(spec, small_host());
  auto contains = [&](std::vector<std::string> run) {
    return std::search(command.options.begin(), command.options.end(), run.begin(), run.end()) != command.options.end();
  };
  CHECK(contains({"--tmpfs", "/usr/local/airlock-data"}));      // below /usr
  CHECK(contains({"--ro-bind", "/dev/null", "/etc/passwd"}));   // a file below a mounted /etc entry
  CHECK_FALSE(contains({"--tmpfs", "/srv/airlock"}));           // nothing mounts /srv
  CHECK_FALSE(contains({"--tmpfs", "/opt/harnessed"}));         // a sibling of /opt/harness, not below it
}

TEST_CASE("sandbox command: without read-only paths or environment the harness still gets its relay") {
  SandboxSpec spec = small_spec();
  spec.read_only_paths.clear();
  spec.env.clear();
  spec.hidden_paths.clear();
  spec.command = {"true"};
  BwrapCommand command = bwrap_command(spec, HostLayout{});
  CHECK(command.options.back() == "--clearenv");
  CHECK(command.command.back() == "true");
  CHECK(std::count(command.options.begin(), command.options.end(), "--setenv") == 0);
}

TEST_CASE("sandbox command: scan_host reads this machine's / and /etc") {
  HostLayout host = scan_host();
  auto has = [](const std::vector<HostEntry>& entries, std::string_view name) {
    return std::any_of(entries.begin(), entries.end(), [&](const HostEntry& e) { return e.name == name; });
  };
  CHECK(has(host.root, "usr"));
  CHECK(has(host.etc, "passwd"));
  CHECK(std::is_sorted(host.etc.begin(), host.etc.end(), [](const HostEntry& a, const HostEntry& b) { return a.name < b.name; }));
}

}  // namespace airlock::control
