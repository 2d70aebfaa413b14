// The workspace's volume (as root, on real loop devices): its size is a hard limit the writer meets as
// ENOSPC, its root is the sandbox's and empty, it is mounted nosuid,nodev, and saving it leaves a plain
// directory with every file as it was, also from a volume a killed daemon left behind.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "airlock/testing/skip.hpp"
#include "airlock/testing/temp_dir.hpp"
#include "runtime/workspace_volume.hpp"

namespace airlock::control {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

constexpr std::uint64_t kVolumeBytes = 32ULL << 20;
constexpr uid_t kOwner = 2000000123;

constexpr const char* kNoVolumes = "volumes need root and loop devices (/dev/loop-control)";
bool volumes_possible() { return ::geteuid() == 0 && ::access("/dev/loop-control", F_OK) == 0; }

std::string mount_line_at(const fs::path& point) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string found;
  while (std::getline(in, line)) {
    if (line.find(" " + point.string() + " ") != std::string::npos) found = line;  // the last one wins
  }
  return found;
}

// A session directory: its workspace (created) and where its image goes.
struct VolumeDir {
  VolumeDir() { fs::create_directories(workspace); }
  testing::TempDir dir;
  fs::path workspace = dir.path() / "workspace";
  fs::path image = dir.path() / "workspace.img";
};

void save(WorkspaceVolume volume) {
  asio::io_context io(1);
  std::exception_ptr error;
  asio::co_spawn(io, save_workspace(io.get_executor(), std::move(volume)), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes 1 MiB blocks into `path` until the file system refuses; returns the errno it refused with.
int fill(const fs::path& path, std::uint64_t& written) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const std::string block(1 << 20, 'x');
  int error = 0;
  for (int i = 0; i < 1024 && error == 0; ++i) {
    const ssize_t n = ::write(fd, block.data(), block.size());
    if (n < 0) error = errno;
    else written += static_cast<std::uint64_t>(n);
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  ::close(fd);
  return error;
}

}  // namespace

TEST_CASE("workspace volume: owned by the sandbox, empty, nosuid,nodev, and full at its size with ENOSPC") {
  AIRLOCK_SKIP_UNLESS(volumes_possible(), kNoVolumes);
  const VolumeDir v;
  const fs::path& workspace = v.workspace;
  const fs::path& image = v.image;
  {
    WorkspaceVolume volume = WorkspaceVolume::create(image, workspace, kVolumeBytes, kOwner, kOwner);
    const std::string line = mount_line_at(workspace);
    CHECK(line.find("nosuid") != std::string::npos);
    CHECK(line.find("nodev") != std::string::npos);
    CHECK(line.find(" - ext4 /dev/loop") != std::string::npos);
    struct stat root {};
    REQUIRE(::stat(workspace.c_str(), &root) == 0);
    CHECK(root.st_uid == kOwner);
    CHECK(root.st_gid == kOwner);
    CHECK((root.st_mode & 07777) == 0700);
    CHECK(fs::is_empty(workspace));  // no lost+found
    CHECK(fs::file_size(image) == kVolumeBytes);

    std::uint64_t written = 0;
    CHECK(fill(workspace / "big", written) == ENOSPC);
    CHECK(written > kVolumeBytes / 2);
    CHECK(written < kVolumeBytes);
    // Sparse: the image takes on the host what was written, not its whole size up front.
    struct stat on_disk {};
    REQUIRE(::stat(image.c_str(), &on_disk) == 0);
    CHECK(static_cast<std::uint64_t>(on_disk.st_blocks) * 512 < kVolumeBytes + (4ULL << 20));
  }
  CHECK(mount_line_at(workspace).empty());
  CHECK(fs::is_empty(workspace));
}

TEST_CASE("workspace volume: saved as a plain directory, every file, link and mode kept, the image removed") {
  AIRLOCK_SKIP_UNLESS(volumes_possible(), kNoVolumes);
  const VolumeDir v;
  const fs::path& workspace = v.workspace;
  const fs::path& image = v.image;
  WorkspaceVolume volume = WorkspaceVolume::create(image, workspace, kVolumeBytes, kOwner, kOwner);
  fs::create_directories(workspace / "out" / "deep");
  { std::ofstream(workspace / "out" / "deep" / "digest.md") << "# digest\n"; }
  REQUIRE(::chown((workspace / "out" / "deep" / "digest.md").c_str(), kOwner, kOwner) == 0);
  REQUIRE(::chmod((workspace / "out" / "deep" / "digest.md").c_str(), 0640) == 0);
  fs::create_symlink("/etc/shadow", workspace / "shadow");  // copied as a link, never followed
  fs::create_hard_link(workspace / "out" / "deep" / "digest.md", workspace / "hard");

  save(std::move(volume));
  CHECK(mount_line_at(workspace).empty());
  CHECK_FALSE(fs::exists(image));
  CHECK_FALSE(fs::exists(v.dir.path() / "workspace.saving"));
  CHECK(read(workspace / "out" / "deep" / "digest.md") == "# digest\n");
  struct stat file {};
  REQUIRE(::stat((workspace / "out" / "deep" / "digest.md").c_str(), &file) == 0);
  CHECK(file.st_uid == kOwner);
  CHECK((file.st_mode & 07777) == 0640);
  CHECK(file.st_nlink == 2);  // still one file with two names
  CHECK(fs::is_symlink(workspace / "shadow"));
  CHECK(fs::read_symlink(workspace / "shadow") == "/etc/shadow");
  struct stat root {};
  REQUIRE(::stat(workspace.c_str(), &root) == 0);
  CHECK(root.st_uid == kOwner);
  CHECK((root.st_mode & 07777) == 0700);
}

TEST_CASE("workspace volume: one a killed daemon left behind is mounted again and saved") {
  AIRLOCK_SKIP_UNLESS(volumes_possible(), kNoVolumes);
  const VolumeDir v;
  const fs::path& workspace = v.workspace;
  const fs::path& image = v.image;
  {
    WorkspaceVolume volume = WorkspaceVolume::create(image, workspace, kVolumeBytes, kOwner, kOwner);
    std::ofstream(workspace / "report.txt") << "half done";
  }  // unmounted as the next start does with what a killed daemon left (serve.cpp), the image kept
  REQUIRE(fs::exists(image));
  CHECK(fs::is_empty(workspace));
  fs::create_directories(v.dir.path() / "workspace.saving" / "stale");  // a copy the killed daemon did not finish

  save(WorkspaceVolume::mount(image, workspace));
  CHECK(read(workspace / "report.txt") == "half done");
  CHECK_FALSE(fs::exists(workspace / "stale"));
  CHECK_FALSE(fs::exists(image));
}

TEST_CASE("workspace volume: a failure says what failed and leaves no image behind") {
  AIRLOCK_SKIP_UNLESS(volumes_possible(), kNoVolumes);
  testing::TempDir dir;
  const fs::path image = dir.path() / "workspace.img";
  // The mount point is missing.
  CHECK_THROWS_WITH(WorkspaceVolume::create(image, dir.path() / "missing", kVolumeBytes, kOwner, kOwner),
                    doctest::Contains("cannot mount"));
  CHECK_FALSE(fs::exists(image));
  // Too small for mke2fs.
  fs::create_directories(dir.path() / "workspace");
  CHECK_THROWS_WITH(WorkspaceVolume::create(image, dir.path() / "workspace", 4096, kOwner, kOwner),
                    doctest::Contains("mke2fs exited with status 1"));
  CHECK_FALSE(fs::exists(image));
}

}  // namespace airlock::control
