// The bubblewrap command line of a session's sandbox; see sandbox_command.hpp.
#include "runtime/sandbox_command.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace airlock::control {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 24> kSecretEtcEntries = {
    "shadow",    "shadow-",      "gshadow",       "gshadow-",          "sudoers",     "sudoers.d",
    "ssh",       "krb5.keytab",  "security",      "docker",            "containerd",  "NetworkManager",
    "wireguard", "ipsec.secrets", "ipsec.d",      "letsencrypt",       "credstore",   "credstore.encrypted",
    "ppp",       "openvpn",      "airlock",       "machine-id",        "subuid",      "subgid"};

// Root entries that carry programs and libraries (usually symlinks into /usr on Debian 12).
bool is_system_root_entry(std::string_view name) {
  return name == "bin" || name == "sbin" || name == "lib" || name == "lib32" || name == "lib64" || name == "libx32";
}

// True when `path` is `mount` or lies under it.
bool is_within(const fs::path& path, const fs::path& mount) {
  auto [m, p] = std::mismatch(mount.begin(), mount.end(), path.begin(), path.end());
  return m == mount.end();
}

class Args {
 public:
  void add(std::initializer_list<std::string_view> words) {
    for (std::string_view word : words) out_.emplace_back(word);
  }
  void ro_bind(const fs::path& source, const fs::path& target) { add({"--ro-bind", source.string(), target.string()}); }
  std::vector<std::string> take() { return std::move(out_); }

 private:
  std::vector<std::string> out_;
};

}  // namespace

bool is_secret_etc_entry(std::string_view name) {
  return std::find(kSecretEtcEntries.begin(), kSecretEtcEntries.end(), name) != kSecretEtcEntries.end();
}

BwrapCommand bwrap_command(const SandboxSpec& spec, const HostLayout& host) {
  Args args;
  args.add({"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--unshare-net"});
  const std::string uid = std::to_string(kSandboxUid);
  args.add({"--uid", uid, "--gid", uid, "--hostname", "sandbox"});
  args.add({"--cap-drop", "ALL", "--die-with-parent", "--new-session"});

  // System directories, read-only. "/" itself never: a sandbox sees only what is named here.
  std::vector<fs::path> mounted = {"/usr"};
  args.ro_bind("/usr", "/usr");
  for (const HostEntry& entry : host.root) {
    if (!is_system_root_entry(entry.name)) continue;
    fs::path target = fs::path("/") / entry.name;
    if (entry.kind == HostEntry::Kind::symlink) {
      args.add({"--symlink", entry.symlink_target, target.string()});
    } else if (entry.kind == HostEntry::Kind::directory) {
      args.ro_bind(target, target);
      mounted.push_back(target);
    }
  }
  // /etc on a tmpfs, rebuilt from the host's entries without the secret ones.
  args.add({"--tmpfs", "/etc"});
  for (const HostEntry& entry : host.etc) {
    if (is_secret_etc_entry(entry.name)) continue;
    fs::path target = fs::path("/etc") / entry.name;
    if (entry.kind == HostEntry::Kind::symlink) {
      args.add({"--symlink", entry.symlink_target, target.string()});
    } else {
      args.ro_bind(target, target);
      mounted.push_back(target);
      if (entry.name == "ssl" && host.etc_ssl_private) args.add({"--tmpfs", "/etc/ssl/private"});
    }
  }
  args.add({"--dir", "/etc/airlock"});
  args.ro_bind(spec.ca_bundle, kSandboxCaBundle);
  args.ro_bind(spec.trust_store, kSandboxTrustStore);

  // /tmp is memory: bounded, so a harness cannot take the host's RAM with it (/workspace is for output).
  args.add({"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(kSandboxTmpBytes), "--tmpfs", "/tmp", "--tmpfs",
            "/run", "--dir", "/run/airlock"});
  args.ro_bind(spec.airlock_binary, kSandboxRelayBinary);
  args.ro_bind(spec.proxy_socket, kSandboxProxySocket);
  args.ro_bind(spec.events_file, kSandboxEventsFile);
  args.ro_bind(spec.agent_file, kSandboxAgentFile);
  args.add({"--bind", spec.workspace.string(), kSandboxWorkspace});
  for (const fs::path& path : spec.read_only_paths) {
    args.ro_bind(path, path);
    mounted.push_back(path);
  }
  // A hidden path under a mount (a data dir below /usr, a config file in /etc) is covered, so its
  // contents never show: a directory by an empty tmpfs, a file by /dev/null.
  for (const SandboxSpec::Hidden& hidden : spec.hidden_paths) {
    bool exposed = std::any_of(mounted.begin(), mounted.end(), [&](const fs::path& m) { return is_within(hidden.path, m); });
    if (!exposed) continue;
    if (hidden.directory) {
      args.add({"--tmpfs", hidden.path.string()});
    } else {
      args.ro_bind("/dev/null", hidden.path);
    }
  }

  args.add({"--chdir", kSandboxWorkspace, "--clearenv"});
  for (const auto& [name, value] : spec.env) args.add({"--setenv", name, value});
  BwrapCommand out{args.take(), {kSandboxRelayBinary, "relay", "--listen", "127.0.0.1:" + std::to_string(kRelayPort),
                                 "--socket", kSandboxProxySocket, "--"}};
  out.command.insert(out.command.end(), spec.command.begin(), spec.command.end());
  return out;
}

HostLayout scan_host() {
  auto scan = [](const fs::path& dir) {
    std::vector<HostEntry> entries;
    std::error_code ec;
    for (const fs::directory_entry& item : fs::directory_iterator(dir, ec)) {
      HostEntry entry;
      entry.name = item.path().filename().string();
      std::error_code type_ec;
      if (item.is_symlink(type_ec)) {
        entry.kind = HostEntry::Kind::symlink;
        entry.symlink_target = fs::read_symlink(item.path(), type_ec).string();
        if (type_ec) continue;
      } else if (item.is_directory(type_ec)) {
        entry.kind = HostEntry::Kind::directory;
      } else if (item.is_regular_file(type_ec)) {
        entry.kind = HostEntry::Kind::file;
      } else {
        continue;  // sockets, fifos and devices in /etc are not for sandboxes
      }
      entries.push_back(std::move(entry));
    }
    std::sort(entries.begin(), entries.end(), [](const HostEntry& a, const HostEntry& b) { return a.name < b.name; });
    return entries;
  };
  HostLayout layout{scan("/"), scan("/etc")};
  std::error_code ec;
  layout.etc_ssl_private = fs::is_directory("/etc/ssl/private", ec);
  return layout;
}

}  // namespace airlock::control
