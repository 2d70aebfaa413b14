// Session cgroups, the I/O, against a folder standing in for /sys/fs/cgroup: the v2 delegation (the
// daemon into a leaf, the controllers enabled for its children), each version's files as written, a
// machine whose group offers no controllers, and the counters read back. The real kernel path (a sandbox
// held to its limits on this machine's cgroups) is tests/sdk/runtime-limits.test.mjs.
#include "runtime/session_cgroup.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "airlock/testing/temp_dir.hpp"

namespace airlock::control {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string text_of(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

std::string mount_line(const fs::path& where, std::string_view type, std::string_view options) {
  return fmt::format("40 30 0:37 / {} rw,relatime - {} {} {}\n", where.string(), type, type, options);
}

TEST_CASE("session cgroup v2: the daemon moves into a leaf, its group hands memory, pids, cpu and io to the sessions") {
  TempDir root;
  const fs::path own = root.path() / "system.slice" / "airlock.service";
  fs::create_directories(own);
  root.write("system.slice/airlock.service/cgroup.controllers", "cpuset cpu io memory pids\n");
  root.write("system.slice/airlock.service/cgroup.subtree_control", "\n");

  CgroupHost host = CgroupHost::detect(mount_line(root.path(), "cgroup2", "rw,nsdelegate"), "0::/system.slice/airlock.service\n");
  REQUIRE_MESSAGE(host.usable(), host.problem());
  CHECK(host.version() == CgroupVersion::v2);
  CHECK(host.v2_io());
  CHECK(text_of(own / "daemon" / "cgroup.procs") == "0");
  CHECK(text_of(own / "cgroup.subtree_control") == "+memory +pids +cpu +io");
  CHECK(host.describe() == fmt::format("cgroup v2: {}", (own / "<session>").string()));

  {
    SessionCgroup group(host, "sesn_1", ResourceLimits{.memory_bytes = 268435456, .pids = 100, .cpus = 0.5});
    const fs::path dir = own / "sesn_1";
    CHECK(text_of(dir / "memory.max") == "268435456");
    CHECK(text_of(dir / "memory.swap.max") == "0");
    CHECK(text_of(dir / "pids.max") == "100");
    CHECK(text_of(dir / "cpu.max") == "50000 100000");
    CHECK(text_of(dir / "io.weight") == "default 50");
    CHECK(group.join_descriptors().size() == 1);

    root.write("system.slice/airlock.service/sesn_1/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
    root.write("system.slice/airlock.service/sesn_1/memory.peak", "268431360\n");
    const CgroupUsage usage = group.usage();
    CHECK(usage.oom_kills == 1);
    CHECK(usage.peak_bytes == std::optional<std::uint64_t>(268431360));
  }
}

TEST_CASE("session cgroup v2: a group that already hands out the controllers is left as it is") {
  TempDir root;
  fs::create_directories(root.path() / "svc");
  root.write("svc/cgroup.controllers", "cpu memory pids\n");
  root.write("svc/cgroup.subtree_control", "cpu memory pids\n");
  CgroupHost host = CgroupHost::detect(mount_line(root.path(), "cgroup2", "rw"), "0::/svc\n");
  REQUIRE_MESSAGE(host.usable(), host.problem());
  CHECK_FALSE(host.v2_io());
  CHECK_FALSE(fs::exists(root.path() / "svc" / "daemon"));
  CHECK(text_of(root.path() / "svc" / "cgroup.subtree_control") == "cpu memory pids\n");
}

TEST_CASE("session cgroup v2: a group without the controllers says what it has and what to do") {
  TempDir root;
  fs::create_directories(root.path() / "user.slice");
  root.write("user.slice/cgroup.controllers", "cpu\n");
  CgroupHost host = CgroupHost::detect(mount_line(root.path(), "cgroup2", "rw"), "0::/user.slice\n");
  CHECK_FALSE(host.usable());
  CHECK(host.problem() ==
        fmt::format("{} does not offer the memory, pids and cpu controllers (it has: \"cpu\"): Operation not supported; run "
                    "Airlock as root or give it a delegated cgroup (docs/runtime.md, \"Resource limits\"), or set "
                    "runtime.limits: none to run sessions without limits",
                    (root.path() / "user.slice" / "cgroup.controllers").string()));
  CHECK_THROWS_WITH_AS(SessionCgroup(host, "sesn_1", ResourceLimits{}), doctest::Contains("Operation not supported"),
                       std::system_error);
}

TEST_CASE("session cgroup v1: a group per hierarchy under airlock/, memory+swap where swap is accounted") {
  TempDir root;
  const fs::path memory = root.path() / "memory" / "job";
  const fs::path pids = root.path() / "pids";
  const fs::path cpu = root.path() / "cpu,cpuacct";
  for (const fs::path& dir : {memory, pids, cpu}) fs::create_directories(dir);
  root.write("memory/job/memory.memsw.limit_in_bytes", "9223372036854771712\n");
  const std::string mountinfo = mount_line(root.path() / "memory", "cgroup", "rw,memory") +
                                mount_line(pids, "cgroup", "rw,pids") + mount_line(cpu, "cgroup", "rw,cpu,cpuacct");
  CgroupHost host = CgroupHost::detect(mountinfo, "8:pids:/\n4:memory:/job\n1:cpu,cpuacct:/\n");
  REQUIRE_MESSAGE(host.usable(), host.problem());
  CHECK(host.version() == CgroupVersion::v1);
  CHECK(host.v1_swap_accounting());

  SessionCgroup group(host, "sesn_2", ResourceLimits{.memory_bytes = 67108864, .pids = 64, .cpus = 2});
  CHECK(text_of(memory / "airlock" / "sesn_2" / "memory.limit_in_bytes") == "67108864");
  CHECK(text_of(memory / "airlock" / "sesn_2" / "memory.memsw.limit_in_bytes") == "67108864");
  CHECK(text_of(pids / "airlock" / "sesn_2" / "pids.max") == "64");
  CHECK(text_of(cpu / "airlock" / "sesn_2" / "cpu.cfs_period_us") == "100000");
  CHECK(text_of(cpu / "airlock" / "sesn_2" / "cpu.cfs_quota_us") == "200000");
  CHECK(group.join_descriptors().size() == 3);

  root.write("memory/job/airlock/sesn_2/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  root.write("memory/job/airlock/sesn_2/memory.max_usage_in_bytes", "67108864\n");
  CHECK(group.usage().oom_kills == 2);
  CHECK(group.usage().peak_bytes == std::optional<std::uint64_t>(67108864));
}

}  // namespace
}  // namespace airlock::control
