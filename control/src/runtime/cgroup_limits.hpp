// The pure part of a session's cgroup: what its limits are, which files say so on cgroup v1 and v2,
// where the daemon's own groups are, and what the memory counters say afterwards. session_cgroup.hpp does
// the I/O.
//
// A sandbox's pid namespace keeps its processes from seeing ours; only a cgroup keeps them from taking
// the machine's memory, processes and CPU from the daemon, the proxy and every other session.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airlock::control {

struct ResourceLimits {
  std::uint64_t memory_bytes = 1ULL << 30;  // RAM; no swap on top of it
  std::uint32_t pids = 512;                 // processes and threads, together
  double cpus = 1.0;                        // CPU time, in CPUs (0.5: half of one)
  // Not the cgroup's: the size of the workspace's volume (workspace_volume.hpp); 0 is "none", no volume.
  std::uint64_t workspace_bytes = 1ULL << 30;

  friend bool operator==(const ResourceLimits&, const ResourceLimits&) = default;
};

enum class CgroupVersion { v1, v2 };

// The controllers every session group needs (v1: the hierarchies memory, pids and cpu).
inline constexpr const char* kCgroupControllers[] = {"memory", "pids", "cpu"};

// One file of the session's group and what to write to it. On v1 `controller` names the hierarchy; on v2
// it is empty (one group holds every controller).
struct CgroupWrite {
  std::string controller;
  std::string file;
  std::string value;

  friend bool operator==(const CgroupWrite&, const CgroupWrite&) = default;
};

// The writes that apply `limits`, in order. v1: memory.limit_in_bytes, then memory.memsw.limit_in_bytes
// (memory plus swap: the same, so no swap) where `v1_swap_accounting`, pids.max, cpu.cfs_period_us and
// cpu.cfs_quota_us. v2: memory.max, memory.swap.max 0, pids.max, cpu.max, and io.weight where `v2_io`.
std::vector<CgroupWrite> limit_writes(CgroupVersion version, const ResourceLimits& limits, bool v1_swap_accounting = false,
                                      bool v2_io = false);

// Where the daemon's own groups are. v1: for each of kCgroupControllers, the hierarchy's mount point plus
// this process's path in it; v2: the unified mount point plus this process's path, under the key "".
struct CgroupPlacement {
  CgroupVersion version = CgroupVersion::v2;
  std::map<std::string, std::filesystem::path> own;
};

// From the texts of /proc/self/mountinfo and /proc/self/cgroup: v1 when every controller has a v1
// hierarchy (hybrid systems mount cgroup2 beside them, without those controllers), else v2 when cgroup2 is
// mounted. nullopt, with `why` set, when neither is there.
std::optional<CgroupPlacement> locate_cgroups(std::string_view mountinfo, std::string_view self_cgroup, std::string& why);

// The "oom_kill N" line of v1's memory.oom_control or v2's memory.events: how many processes of the
// group the kernel killed for memory. 0 when the line is missing (kernels before 4.13).
std::uint64_t oom_kills(std::string_view text);

}  // namespace airlock::control
