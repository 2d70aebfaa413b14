// The host side of a session's workspace while its sandbox runs (SECURITY.md N6), when Airlock is root:
// DATA_DIR/sessions/<id>/workspace bind-mounted onto itself, nosuid and nodev, before bubblewrap starts
// (so the sandbox's /workspace is that mount, with those flags locked), and unmounted once the sandbox
// has ended. A setuid bit or a device node made in the workspace means nothing through it, on the host
// either. (The files belong to the sandbox's unprivileged uid anyway: a setuid bit there could only ever
// give that uid.)
//
// A daemon killed while sandboxes run leaves their mounts behind: the next start unmounts them
// (unmount_all_under), before any session directory is removed.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace airlock::control {

class WorkspaceMount {
 public:
  // Throws std::system_error naming the directory when the kernel refuses (no CAP_SYS_ADMIN).
  explicit WorkspaceMount(std::filesystem::path workspace);
  ~WorkspaceMount();  // unmounts, lazily (MNT_DETACH): nothing of the sandbox is left to hold it
  WorkspaceMount(const WorkspaceMount&) = delete;
  WorkspaceMount& operator=(const WorkspaceMount&) = delete;

 private:
  std::filesystem::path workspace_;
};

// The mount points in `mountinfo` (the text of /proc/self/mountinfo) strictly below `dir`, deepest first,
// with the kernel's octal escapes (\040 for a space, ...) decoded.
std::vector<std::filesystem::path> mount_points_under(std::string_view mountinfo, const std::filesystem::path& dir);

// Unmounts every mount point below `dir` in this process's mount namespace; returns how many went.
std::size_t unmount_all_under(const std::filesystem::path& dir);

}  // namespace airlock::control
