// Session cgroups, the I/O (the pure part is cgroup_limits.hpp). CgroupHost is what serve finds at start:
// which cgroup version the machine has and where Airlock's session groups go, or why it cannot have any.
// SessionCgroup is one running sandbox's group: created with its limits before the sandbox starts, joined
// by the sandbox's first process between fork and exec (SpawnOptions::join_cgroups), so that nothing the
// harness starts runs outside it, and removed once the sandbox is gone.
//
// Where the groups go (docs/runtime.md, "Resource limits"):
//   v1: <the daemon's own group in each of the memory, pids and cpu hierarchies>/airlock/<session id>
//   v2: <the daemon's own group>/<session id>, after the daemon has moved itself into the leaf
//       <own>/daemon and enabled memory, pids and cpu (and io) for its children: the kernel hands
//       controllers only to the children of a group that holds no process itself. Under systemd that
//       group is the service's, given to it with Delegate=yes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/cgroup_limits.hpp"
#include "runtime/owned_fd.hpp"

namespace airlock::control {

class CgroupHost {
 public:
  // From this process's /proc/self/mountinfo and /proc/self/cgroup.
  static CgroupHost detect();
  // From the given texts (tests point them at a temporary folder standing in for /sys/fs/cgroup).
  static CgroupHost detect(std::string_view mountinfo, std::string_view self_cgroup);

  bool usable() const noexcept { return problem_.empty(); }
  // Why sessions cannot be limited, and what to do; empty when they can.
  const std::string& problem() const noexcept { return problem_; }
  CgroupVersion version() const noexcept { return placement_.version; }
  // For the start log: "cgroup v1: /sys/fs/cgroup/memory/.../airlock, ..." or "cgroup v2: ...".
  std::string describe() const;
  // The directories of the group called `name`, with their v1 controller ("" on v2).
  std::vector<std::pair<std::string, std::filesystem::path>> group_dirs(const std::string& name) const;
  // Removes the group `name` a previous process left behind (killed before it could), when it is empty.
  void remove_group(const std::string& name) const noexcept;
  bool v1_swap_accounting() const noexcept { return v1_swap_accounting_; }
  bool v2_io() const noexcept { return v2_io_; }

 private:
  CgroupPlacement placement_;
  std::string problem_;
  bool v1_swap_accounting_ = false;
  bool v2_io_ = false;
};

struct CgroupUsage {
  std::uint64_t oom_kills = 0;               // processes the kernel killed for the memory limit
  std::optional<std::uint64_t> peak_bytes;   // the most memory it held (v1 always; v2 from Linux 5.19)
};

class SessionCgroup {
 public:
  // Creates the group `name` and writes `limits`. Throws std::system_error naming the file or folder.
  SessionCgroup(const CgroupHost& host, const std::string& name, const ResourceLimits& limits);
  // Kills whatever is still in the group and removes it.
  ~SessionCgroup();
  SessionCgroup(const SessionCgroup&) = delete;
  SessionCgroup& operator=(const SessionCgroup&) = delete;

  // The cgroup.procs files, open for writing: a process that writes "0" to each joins the group.
  std::vector<int> join_descriptors() const;
  CgroupUsage usage() const;

 private:
  CgroupVersion version_;
  std::vector<std::pair<std::string, std::filesystem::path>> dirs_;
  std::vector<OwnedFd> procs_;
};

}  // namespace airlock::control
