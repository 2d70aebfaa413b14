// Session cgroups, the pure part (see cgroup_limits.hpp).
#include "runtime/cgroup_limits.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace airlock::control {
namespace {

constexpr std::uint64_t kCpuPeriodMicros = 100'000;  // the kernel's default CFS period
// Below the default weight of 100 (v2 io.weight): the daemon's own disk I/O (the store, the audit) goes first.
constexpr std::string_view kSessionIoWeight = "default 50";

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

bool contains(const std::vector<std::string_view>& list, std::string_view item) {
  for (std::string_view entry : list) {
    if (entry == item) return true;
  }
  return false;
}

// `path` (absolute, as /proc/self/cgroup gives it) under the mount of a hierarchy whose root is `root`
// (the mountinfo root field: not "/" inside a cgroup namespace that was mounted from outside it).
std::filesystem::path under_mount(std::string_view mount_point, std::string_view root, std::string_view path) {
  std::filesystem::path relative = std::filesystem::path(path).lexically_relative(root.empty() ? "/" : root);
  if (relative.empty() || *relative.begin() == "..") relative = std::filesystem::path(path).relative_path();
  std::filesystem::path own = std::filesystem::path(mount_point).lexically_normal();
  if (relative != "." && !relative.empty()) own = (own / relative).lexically_normal();
  return own;
}

}  // namespace

std::vector<CgroupWrite> limit_writes(CgroupVersion version, const ResourceLimits& limits, bool v1_swap_accounting,
                                      bool v2_io) {
  const auto quota = static_cast<std::uint64_t>(std::llround(limits.cpus * static_cast<double>(kCpuPeriodMicros)));
  const std::string memory = std::to_string(limits.memory_bytes);
  const std::string pids = std::to_string(limits.pids);
  std::vector<CgroupWrite> writes;
  if (version == CgroupVersion::v1) {
    writes.push_back({"memory", "memory.limit_in_bytes", memory});
    if (v1_swap_accounting) writes.push_back({"memory", "memory.memsw.limit_in_bytes", memory});
    writes.push_back({"pids", "pids.max", pids});
    writes.push_back({"cpu", "cpu.cfs_period_us", std::to_string(kCpuPeriodMicros)});
    writes.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(quota)});
  } else {
    writes.push_back({"", "memory.max", memory});
    writes.push_back({"", "memory.swap.max", "0"});
    writes.push_back({"", "pids.max", pids});
    writes.push_back({"", "cpu.max", fmt::format("{} {}", quota, kCpuPeriodMicros)});
    if (v2_io) writes.push_back({"", "io.weight", std::string(kSessionIoWeight)});
  }
  return writes;
}

std::optional<CgroupPlacement> locate_cgroups(std::string_view mountinfo, std::string_view self_cgroup, std::string& why) {
  // /proc/self/cgroup: "ID:controller,controller:/path" for v1, "0::/path" for v2.
  std::map<std::string, std::string, std::less<>> paths;  // v1 controller (or "" for v2) → our path
  for (std::string_view line : split(self_cgroup, '\n')) {
    const std::size_t first = line.find(':');
    const std::size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view path = line.substr(second + 1);
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    if (controllers.empty()) {
      paths[""] = std::string(path);
      continue;
    }
    for (std::string_view controller : split(controllers, ',')) paths[std::string(controller)] = std::string(path);
  }

  // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS".
  CgroupPlacement v1{CgroupVersion::v1, {}};
  std::optional<std::filesystem::path> unified;
  for (std::string_view line : split(mountinfo, '\n')) {
    const std::vector<std::string_view> fields = split(line, ' ');
    std::size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 1 >= fields.size()) continue;  // five fields come before the optional ones
    const std::string_view type = fields[dash + 1];
    const std::string_view root = fields[3];
    const std::string_view mount_point = fields[4];
    if (type == "cgroup2") {
      if (auto found = paths.find(""); found != paths.end()) unified = under_mount(mount_point, root, found->second);
    } else if (type == "cgroup" && dash + 3 < fields.size()) {
      const std::vector<std::string_view> options = split(fields[dash + 3], ',');
      for (const char* controller : kCgroupControllers) {
        auto found = paths.find(controller);
        if (contains(options, controller) && found != paths.end()) v1.own[controller] = under_mount(mount_point, root, found->second);
      }
    }
  }
  if (v1.own.size() == std::size(kCgroupControllers)) return v1;
  if (unified) return CgroupPlacement{CgroupVersion::v2, {{"", *unified}}};
  why = v1.own.empty() ? "no cgroup file system is mounted (neither cgroup2 nor the v1 memory, pids and cpu hierarchies)"
                       : "the cgroup v1 memory, pids and cpu hierarchies are not all mounted, and cgroup2 is not either";
  return std::nullopt;
}

std::uint64_t oom_kills(std::string_view text) {
  for (std::string_view line : split(text, '\n')) {
    constexpr std::string_view kKey = "oom_kill ";
    if (!line.starts_with(kKey)) continue;
    line.remove_prefix(kKey.size());
    std::uint64_t count = 0;
    std::from_chars(line.data(), line.data() + line.size(), count);
    return count;
  }
  return 0;
}

}  // namespace airlock::control
