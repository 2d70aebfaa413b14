// The workspace's nosuid,nodev bind mount on the host; see workspace_mount.hpp.
#include "runtime/workspace_mount.hpp"

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace airlock::control {
namespace {

namespace fs = std::filesystem;

// A mountinfo field with its \ooo escapes decoded.
std::string unescape(std::string_view field) {
  const auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && octal(field[i + 1]) && octal(field[i + 2]) && octal(field[i + 3])) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

bool strictly_below(const fs::path& path, const fs::path& dir) {
  auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end() && p != path.end();
}

}  // namespace

WorkspaceMount::WorkspaceMount(fs::path workspace) : workspace_(std::move(workspace)) {
  const char* path = workspace_.c_str();
  struct statvfs current {};
  if (::statvfs(path, &current) != 0) {
    throw std::system_error(errno, std::generic_category(), fmt::format("cannot inspect the mount of {}", workspace_.string()));
  }
  if (::mount(path, path, nullptr, MS_BIND, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(), fmt::format("cannot bind-mount {} onto itself", workspace_.string()));
  }
  // A bind remount sets every per-mount flag: keep the ones the file system has (ro, noexec, atime).
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
  if ((current.f_flag & ST_RDONLY) != 0) flags |= MS_RDONLY;
  if ((current.f_flag & ST_NOEXEC) != 0) flags |= MS_NOEXEC;
  if ((current.f_flag & ST_NOATIME) != 0) flags |= MS_NOATIME;
  if ((current.f_flag & ST_NODIRATIME) != 0) flags |= MS_NODIRATIME;
  if ((current.f_flag & ST_RELATIME) != 0) flags |= MS_RELATIME;
  if (::mount(nullptr, path, nullptr, flags, nullptr) != 0) {
    const int error = errno;
    ::umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
    throw std::system_error(error, std::generic_category(), fmt::format("cannot remount {} nosuid,nodev", workspace_.string()));
  }
}

WorkspaceMount::~WorkspaceMount() { ::umount2(workspace_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW); }

std::vector<fs::path> mount_points_under(std::string_view mountinfo, const fs::path& dir) {
  std::vector<fs::path> found;
  while (!mountinfo.empty()) {
    const std::size_t end = mountinfo.find('\n');
    std::string_view line = mountinfo.substr(0, end);
    mountinfo.remove_prefix(end == std::string_view::npos ? mountinfo.size() : end + 1);
    // "ID PARENT MAJOR:MINOR ROOT MOUNT_POINT ...": the fifth field.
    std::size_t start = 0;
    for (int field = 0; field < 4 && start != std::string_view::npos; ++field) {
      start = line.find(' ', start);
      if (start != std::string_view::npos) ++start;
    }
    if (start == std::string_view::npos) continue;
    fs::path point = unescape(line.substr(start, line.find(' ', start) - start));
    if (strictly_below(point, dir)) found.push_back(std::move(point));
  }
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) { return a.native().size() > b.native().size(); });
  return found;
}

std::size_t unmount_all_under(const fs::path& dir) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string mountinfo((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(dir, ec);  // the kernel lists resolved paths
  std::size_t unmounted = 0;
  for (const fs::path& point : mount_points_under(mountinfo, ec ? dir : canonical)) {
    if (::umount2(point.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) ++unmounted;
  }
  return unmounted;
}

}  // namespace airlock::control
