// The bubblewrap command line of a session's sandbox: a pure function of what the host has and what the
// session needs, so every isolation rule is visible in one place and testable without starting anything.
//
// The sandbox (docs/runtime.md):
//   - new user, PID, IPC, UTS, cgroup and network namespaces; uid/gid 65534 (on the host, whatever uid
//     bubblewrap runs as: sandbox_identity.hpp); no capabilities; killed with its parent; a new terminal
//     session (no TIOCSTI into Airlock's terminal);
//   - read-only system directories only: /usr, the /bin, /sbin and /lib* entries (symlinks stay
//     symlinks), and /etc rebuilt on a tmpfs from the host's entries minus the ones that hold secrets;
//   - fresh /proc (of the new PID namespace), /dev and /tmp;
//   - /workspace: the session's private writable directory, also the working directory and HOME;
//   - /run/airlock: the airlock binary (the relay), the proxy's Unix socket and the initial events, all
//     read-only; /etc/airlock/ca-bundle.pem: the CA bundle;
//   - each of the harness's read_only_paths at the same path, read-only;
//   - paths that must stay hidden (the data dir, the config file) masked wherever a mount would show them.
// Inside, the relay listens on 127.0.0.1:kRelayPort and starts the harness; loopback is the only network.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace airlock::control {

inline constexpr int kSandboxUid = 65534;
inline constexpr int kRelayPort = 3128;
inline constexpr std::size_t kSandboxTmpBytes = 256u << 20;  // the size of the sandbox's /tmp (a tmpfs)
inline constexpr const char* kSandboxWorkspace = "/workspace";
inline constexpr const char* kSandboxRelayBinary = "/run/airlock/airlock";
inline constexpr const char* kSandboxProxySocket = "/run/airlock/proxy.sock";
inline constexpr const char* kSandboxEventsFile = "/run/airlock/initial_events.json";
inline constexpr const char* kSandboxAgentFile = "/run/airlock/agent.json";
inline constexpr const char* kSandboxCaBundle = "/etc/airlock/ca-bundle.pem";
inline constexpr const char* kSandboxTrustStore = "/etc/airlock/ca-truststore.p12";

// One entry of a host directory, as the sandbox builder needs to know it.
struct HostEntry {
  enum class Kind { directory, file, symlink };
  std::string name;
  Kind kind = Kind::file;
  std::string symlink_target;  // for symlinks
};

// What the host looks like (gathered by scan_host; tests write their own).
struct HostLayout {
  std::vector<HostEntry> root;  // entries of "/" (only bin, sbin, lib* are used)
  std::vector<HostEntry> etc;   // entries of "/etc"
  bool etc_ssl_private = false; // /etc/ssl/private exists (masked when /etc/ssl is mounted)
};
HostLayout scan_host();

struct SandboxSpec {
  std::string bwrap = "bwrap";
  std::filesystem::path workspace;       // host: DATA_DIR/sessions/<id>/workspace
  std::filesystem::path proxy_socket;    // host: DATA_DIR/proxy.sock
  std::filesystem::path airlock_binary;  // host: this executable
  std::filesystem::path ca_bundle;       // host: DATA_DIR/ca-bundle.pem
  std::filesystem::path trust_store;     // host: DATA_DIR/ca-truststore.p12
  std::filesystem::path events_file;     // host: DATA_DIR/sessions/<id>/initial_events.json
  std::filesystem::path agent_file;      // host: DATA_DIR/sessions/<id>/agent.json
  std::vector<std::filesystem::path> read_only_paths;
  struct Hidden {
    std::filesystem::path path;  // absolute
    bool directory = true;       // a directory is covered by a tmpfs, a file by /dev/null
  };
  std::vector<Hidden> hidden_paths;                 // masked if a mount would expose them
  std::vector<std::string> command;                 // the harness's argv
  std::map<std::string, std::string> env;           // the sandbox's whole environment
};

// The /etc entries never mounted into a sandbox: password hashes, host keys, private keys, keytabs and
// the like, and Airlock's own /etc/airlock (the sandbox gets its own, with only the CA bundle).
bool is_secret_etc_entry(std::string_view name);

// bwrap's command line: `options` are handed over through `--args FD`, so they stay out of the host's
// process list (the proxy URL in the environment carries the session's proxy token); `command` (after
// "--") is the relay starting the harness, with nothing secret in it.
struct BwrapCommand {
  std::vector<std::string> options;
  std::vector<std::string> command;
};
BwrapCommand bwrap_command(const SandboxSpec& spec, const HostLayout& host);

}  // namespace airlock::control
