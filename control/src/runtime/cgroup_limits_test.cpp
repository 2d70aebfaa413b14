// Session cgroups, the pure part: the files each version writes, where the daemon's groups are found,
// and the OOM counter.
#include "runtime/cgroup_limits.hpp"

#include <doctest/doctest.h>

namespace airlock::control {
namespace {

// This build machine's layout: cgroup v1 hierarchies, and a cgroup2 mount without controllers beside them.
constexpr std::string_view kHybridMountinfo =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr std::string_view kHybridSelf =
    "8:pids:/\n4:memory:/process_api/fad3\n1:cpu,cpuacct:/svc\n0::/\n";

TEST_CASE("cgroup limits: the v1 files, memory before memory+swap, CPU as a quota of a 100 ms period") {
  const ResourceLimits limits{.memory_bytes = 268435456, .pids = 64, .cpus = 1.5};
  CHECK(limit_writes(CgroupVersion::v1, limits, true) ==
        std::vector<CgroupWrite>{{"memory", "memory.limit_in_bytes", "268435456"},
                                 {"memory", "memory.memsw.limit_in_bytes", "268435456"},
                                 {"pids", "pids.max", "64"},
                                 {"cpu", "cpu.cfs_period_us", "100000"},
                                 {"cpu", "cpu.cfs_quota_us", "150000"}});
  CHECK(limit_writes(CgroupVersion::v1, ResourceLimits{}, false) ==
        std::vector<CgroupWrite>{{"memory", "memory.limit_in_bytes", "1073741824"},
                                 {"pids", "pids.max", "512"},
                                 {"cpu", "cpu.cfs_period_us", "100000"},
                                 {"cpu", "cpu.cfs_quota_us", "100000"}});
}

TEST_CASE("cgroup limits: the v2 files, no swap, an I/O weight below the default where io is delegated") {
  const ResourceLimits limits{.memory_bytes = 536870912, .pids = 100, .cpus = 0.25};
  CHECK(limit_writes(CgroupVersion::v2, limits, false, true) ==
        std::vector<CgroupWrite>{{"", "memory.max", "536870912"},
                                 {"", "memory.swap.max", "0"},
                                 {"", "pids.max", "100"},
                                 {"", "cpu.max", "25000 100000"},
                                 {"", "io.weight", "default 50"}});
  CHECK(limit_writes(CgroupVersion::v2, limits).size() == 4);
}

TEST_CASE("cgroup placement: v1 hierarchies win on a hybrid machine, each with this process's own path") {
  std::string why;
  auto found = locate_cgroups(kHybridMountinfo, kHybridSelf, why);
  REQUIRE(found);
  CHECK(found->version == CgroupVersion::v1);
  CHECK(found->own == std::map<std::string, std::filesystem::path>{{"cpu", "/sys/fs/cgroup/cpu,cpuacct/svc"},
                                                                   {"memory", "/sys/fs/cgroup/memory/process_api/fad3"},
                                                                   {"pids", "/sys/fs/cgroup/pids"}});
}

TEST_CASE("cgroup placement: v2, and a mount whose root is not / (a cgroup namespace)") {
  std::string why;
  auto found = locate_cgroups("25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
                              "0::/system.slice/airlock.service\n", why);
  REQUIRE(found);
  CHECK(found->version == CgroupVersion::v2);
  CHECK(found->own.at("") == "/sys/fs/cgroup/system.slice/airlock.service");

  found = locate_cgroups("25 1 0:22 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                         "0::/system.slice/airlock.service\n", why);
  REQUIRE(found);
  CHECK(found->own.at("") == "/sys/fs/cgroup/airlock.service");
}

TEST_CASE("cgroup placement: none, or v1 without pids and no cgroup2, says why") {
  std::string why;
  CHECK_FALSE(locate_cgroups("22 1 0:20 / / rw - ext4 /dev/sda1 rw\n", "0::/\n", why));
  CHECK(why == "no cgroup file system is mounted (neither cgroup2 nor the v1 memory, pids and cpu hierarchies)");
  CHECK_FALSE(locate_cgroups("34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "4:memory:/\n", why));
  CHECK(why == "the cgroup v1 memory, pids and cpu hierarchies are not all mounted, and cgroup2 is not either");
}

TEST_CASE("cgroup counters: oom_kill from v1 memory.oom_control and v2 memory.events") {
  CHECK(oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3);
  CHECK(oom_kills("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n") == 2);
  CHECK(oom_kills("oom_kill_disable 0\nunder_oom 0\n") == 0);
}

}  // namespace
}  // namespace airlock::control
