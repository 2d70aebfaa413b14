// The workspace's host mount: which mountinfo lines are below the sessions dir, and (as root) a real bind
// mount that is nosuid,nodev while it lives and gone after it, and the cleanup of mounts left behind.
#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "airlock/testing/skip.hpp"
#include "airlock/testing/temp_dir.hpp"
#include "runtime/workspace_mount.hpp"

namespace airlock::control {
namespace {

namespace fs = std::filesystem;

// The options of the mount at `point` in this process's mountinfo, or "" when nothing is mounted there.
std::string mount_options_at(const fs::path& point) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string options;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    // "ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS ..." (the test's paths have no spaces)
    std::size_t field = 0;
    for (int i = 0; i < 4; ++i) field = line.find(' ', field) + 1;
    const std::size_t point_end = line.find(' ', field);
    if (line.substr(field, point_end - field) != point.string()) continue;
    options = line.substr(point_end + 1, line.find(' ', point_end + 1) - point_end - 1);  // the last one wins
  }
  return options;
}

}  // namespace

TEST_CASE("workspace mount: mount points strictly below a directory, escapes decoded, deepest first") {
  const std::string mountinfo =
      "22 1 0:21 / /sys rw,relatime - sysfs sysfs rw\n"
      "40 26 254:0 /data/sessions/sesn_1/workspace /data/sessions/sesn_1/workspace rw,nosuid,nodev - ext4 /dev/vda rw\n"
      "41 26 254:0 /data/sessions /data/sessions rw - ext4 /dev/vda rw\n"
      "42 26 254:0 /x /data/sessions2/sesn_2/workspace rw - ext4 /dev/vda rw\n"
      "43 40 0:50 / /data/sessions/sesn_1/workspace/deeper rw - tmpfs tmpfs rw\n"
      "44 26 254:0 /y /data/sessions/with\\040space\\134/workspace rw - ext4 /dev/vda rw\n"
      "short line";
  CHECK(mount_points_under(mountinfo, "/data/sessions") ==
        std::vector<fs::path>{"/data/sessions/sesn_1/workspace/deeper", "/data/sessions/with space\\/workspace",
                              "/data/sessions/sesn_1/workspace"});
  CHECK(mount_points_under(mountinfo, "/elsewhere").empty());
  CHECK(mount_points_under("", "/data/sessions").empty());
}

TEST_CASE("workspace mount: nosuid,nodev while it lives, gone after it, and leftovers are unmounted") {
  AIRLOCK_SKIP_UNLESS(::geteuid() == 0, "only root may mount");
  testing::TempDir dir;
  const fs::path workspace = dir.path() / "sessions" / "sesn_1" / "workspace";
  fs::create_directories(workspace);
  CHECK(mount_options_at(workspace) == "");
  {
    WorkspaceMount mount(workspace);
    const std::string options = mount_options_at(workspace);
    CHECK(options.find("nosuid") != std::string::npos);
    CHECK(options.find("nodev") != std::string::npos);
    CHECK(options.find("rw") == 0);
  }
  CHECK(mount_options_at(workspace) == "");

  // What a daemon killed while its sandboxes ran leaves behind: unmounted at the next start.
  std::optional<WorkspaceMount> left_behind;
  left_behind.emplace(workspace);
  CHECK(unmount_all_under(dir.path() / "sessions") == 1);
  CHECK(mount_options_at(workspace) == "");
  CHECK(unmount_all_under(dir.path() / "sessions") == 0);
  left_behind.reset();  // its unmount now finds nothing: harmless
}

}  // namespace airlock::control
