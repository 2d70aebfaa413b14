// Session cgroups, the I/O (see session_cgroup.hpp).
#include "runtime/session_cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <iterator>
#include <set>
#include <chrono>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include <fmt/format.h>

namespace airlock::control {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kLimitsHint =
    "run Airlock as root or give it a delegated cgroup (docs/runtime.md, \"Resource limits\"), or set runtime.limits: "
    "none to run sessions without limits";

[[noreturn]] void fail(int error, const std::string& what) { throw std::system_error(error, std::generic_category(), what); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// A write of the whole value in one call, as the kernel wants for cgroup files. Throws naming the file.
void write_value(const fs::path& path, std::string_view value) {
  OwnedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail(errno, fmt::format("cannot open {}", path.string()));
  const ssize_t written = ::write(fd.get(), value.data(), value.size());
  if (written != static_cast<ssize_t>(value.size())) {
    fail(written < 0 ? errno : EIO, fmt::format("cannot write \"{}\" to {}", value, path.string()));
  }
}

void make_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(errno, fmt::format("cannot create {}", dir.string()));
}

// The words of a cgroup.controllers or cgroup.subtree_control file.
std::set<std::string> words_of(const std::string& list) {
  std::istringstream in(list);
  return {std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
}

bool has_all_controllers(const std::set<std::string>& have) {
  for (const char* controller : kCgroupControllers) {
    if (!have.contains(controller)) return false;
  }
  return true;
}

// v2: the daemon into <own>/daemon, and the controllers enabled for <own>'s children.
void delegate_v2(const fs::path& own, bool& io) {
  const std::string available = read_text(own / "cgroup.controllers");
  const std::set<std::string> offered = words_of(available);
  if (!has_all_controllers(offered)) {
    fail(ENOTSUP, fmt::format("{} does not offer the memory, pids and cpu controllers (it has: \"{}\")",
                              (own / "cgroup.controllers").string(), available.substr(0, available.find('\n'))));
  }
  io = offered.contains("io");
  const std::set<std::string> enabled = words_of(read_text(own / "cgroup.subtree_control"));
  if (has_all_controllers(enabled) && (!io || enabled.contains("io"))) return;  // a previous start, or the delegator
  make_dir(own / "daemon");
  write_value(own / "daemon" / "cgroup.procs", "0");
  write_value(own / "cgroup.subtree_control", io ? "+memory +pids +cpu +io" : "+memory +pids +cpu");
}

}  // namespace

CgroupHost CgroupHost::detect() {
  return detect(read_text("/proc/self/mountinfo"), read_text("/proc/self/cgroup"));
}

CgroupHost CgroupHost::detect(std::string_view mountinfo, std::string_view self_cgroup) {
  CgroupHost host;
  std::string why;
  auto placement = locate_cgroups(mountinfo, self_cgroup, why);
  if (!placement) {
    host.problem_ = fmt::format("{}; {}", why, kLimitsHint);
    return host;
  }
  host.placement_ = std::move(*placement);
  try {
    if (host.placement_.version == CgroupVersion::v1) {
      for (const auto& [controller, own] : host.placement_.own) make_dir(own / "airlock");
      host.v1_swap_accounting_ = fs::exists(host.placement_.own.at("memory") / "memory.memsw.limit_in_bytes");
    } else {
      delegate_v2(host.placement_.own.at(""), host.v2_io_);
    }
  } catch (const std::system_error& e) {
    host.problem_ = fmt::format("{}; {}", e.what(), kLimitsHint);
  }
  return host;
}

std::string CgroupHost::describe() const {
  std::string dirs;
  for (const auto& [controller, dir] : group_dirs("<session>")) dirs += (dirs.empty() ? "" : ", ") + dir.string();
  return fmt::format("cgroup {}: {}", placement_.version == CgroupVersion::v1 ? "v1" : "v2", dirs);
}

std::vector<std::pair<std::string, fs::path>> CgroupHost::group_dirs(const std::string& name) const {
  std::vector<std::pair<std::string, fs::path>> dirs;
  for (const auto& [controller, own] : placement_.own) {
    dirs.emplace_back(controller, placement_.version == CgroupVersion::v1 ? own / "airlock" / name : own / name);
  }
  return dirs;
}

void CgroupHost::remove_group(const std::string& name) const noexcept {
  try {
    for (const auto& [controller, dir] : group_dirs(name)) ::rmdir(dir.c_str());
  } catch (...) {
  }
}

SessionCgroup::SessionCgroup(const CgroupHost& host, const std::string& name, const ResourceLimits& limits)
    : version_(host.version()), dirs_(host.group_dirs(name)) {
  if (!host.usable()) fail(ENOTSUP, host.problem());
  auto dir_of = [this](const std::string& controller) -> const fs::path& {
    for (const auto& [owner, dir] : dirs_) {
      if (owner == controller) return dir;
    }
    return dirs_.front().second;  // v2: the one group
  };
  for (const auto& [controller, dir] : dirs_) make_dir(dir);
  for (const CgroupWrite& write : limit_writes(version_, limits, host.v1_swap_accounting(), host.v2_io())) {
    write_value(dir_of(write.controller) / write.file, write.value);
  }
  for (const auto& [controller, dir] : dirs_) {
    // O_CREAT: the kernel's file is always there; a folder standing in for cgroupfs (tests) gets one.
    OwnedFd procs(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (procs.get() < 0) fail(errno, fmt::format("cannot open {}", (dir / "cgroup.procs").string()));
    procs_.push_back(std::move(procs));
  }
}

SessionCgroup::~SessionCgroup() {
  procs_.clear();
  // The sandbox's pid namespace ends with its first process, so its processes are gone or going; anything
  // left (a process stopped mid-exit) is killed, and the group goes once it is empty.
  for (int attempt = 0; attempt < 50; ++attempt) {
    bool removed = true;
    for (const auto& [controller, dir] : dirs_) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) continue;
      removed = false;
      if (errno != EBUSY) return;  // not a cgroup file system (tests), or not ours to remove
      std::istringstream pids(read_text(dir / "cgroup.procs"));
      for (pid_t pid = 0; pids >> pid;) ::kill(pid, SIGKILL);
    }
    if (removed) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::vector<int> SessionCgroup::join_descriptors() const {
  std::vector<int> fds;
  for (const OwnedFd& fd : procs_) fds.push_back(fd.get());
  return fds;
}

CgroupUsage SessionCgroup::usage() const {
  CgroupUsage usage;
  for (const auto& [controller, dir] : dirs_) {
    if (version_ == CgroupVersion::v1 && controller != "memory") continue;
    const bool v1 = version_ == CgroupVersion::v1;
    usage.oom_kills = oom_kills(read_text(dir / (v1 ? "memory.oom_control" : "memory.events")));
    const std::string peak = read_text(dir / (v1 ? "memory.max_usage_in_bytes" : "memory.peak"));
    std::uint64_t bytes = 0;
    if (std::from_chars(peak.data(), peak.data() + peak.size(), bytes).ec == std::errc()) usage.peak_bytes = bytes;
  }
  return usage;
}

}  // namespace airlock::control
