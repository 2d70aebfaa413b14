// A session's /workspace with a size limit (runtime.limits.workspace_bytes), when Airlock is root: an ext4
// file system in a sparse image file, DATA_DIR/sessions/<id>/workspace.img, loop-mounted nosuid,nodev on
// DATA_DIR/sessions/<id>/workspace while the sandbox runs. A full workspace is ENOSPC inside the sandbox,
// never a full host disk; the image takes on disk what the files take.
//
// The workspace outlives its session as a plain directory: once the sandbox has ended, save_workspace
// copies the volume's files (cp -a) into a directory that then takes the mount point's place, and removes
// the image. A daemon killed in between leaves the image; the next start mounts it again and saves it, so
// nothing the harness wrote is lost.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace airlock::control {

class WorkspaceVolume {
 public:
  // A new volume of `bytes` (sparse): mke2fs makes its file system, with the root directory owned by
  // uid:gid, mode 0700 and empty (no lost+found); mounted on `mount_point`, which must exist. Throws
  // std::runtime_error saying what failed (no mke2fs, no loop device, no CAP_SYS_ADMIN), the image removed.
  static WorkspaceVolume create(const std::filesystem::path& image, const std::filesystem::path& mount_point,
                                std::uint64_t bytes, uid_t uid, gid_t gid);
  // An image that is already there (left by a daemon that was killed), mounted again on `mount_point`.
  static WorkspaceVolume mount(const std::filesystem::path& image, const std::filesystem::path& mount_point);

  WorkspaceVolume(WorkspaceVolume&& other) noexcept;
  WorkspaceVolume& operator=(WorkspaceVolume&&) = delete;
  WorkspaceVolume(const WorkspaceVolume&) = delete;
  WorkspaceVolume& operator=(const WorkspaceVolume&) = delete;
  // Unmounts (lazily: nothing of the sandbox is left to hold it); the loop device goes with the mount.
  ~WorkspaceVolume();

  const std::filesystem::path& image() const noexcept { return image_; }
  const std::filesystem::path& mount_point() const noexcept { return mount_point_; }

 private:
  WorkspaceVolume(std::filesystem::path image, std::filesystem::path mount_point)
      : image_(std::move(image)), mount_point_(std::move(mount_point)) {}

  std::filesystem::path image_;
  std::filesystem::path mount_point_;  // empty once moved from
};

// The volume's files become a plain directory at its mount point: copied with `cp -a` beside it
// (<mount point>.saving), the volume unmounted, the copy renamed into place and the image removed. Throws
// std::runtime_error with cp's words when the copy fails (a full host disk), leaving the image where it is.
boost::asio::awaitable<void> save_workspace(boost::asio::any_io_executor executor, WorkspaceVolume volume);

}  // namespace airlock::control
