// The workspace's size-limited volume; see workspace_volume.hpp.
#include "runtime/workspace_volume.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "runtime/child_process.hpp"
#include "runtime/owned_fd.hpp"

namespace airlock::control {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using boost::system::error_code;

// mke2fs takes well under a second; cp copies at most the volume's size.
constexpr auto kMakeFsTimeout = std::chrono::seconds(30);
constexpr auto kCopyTimeout = std::chrono::minutes(30);
constexpr std::size_t kKeptOutput = 2048;  // of a tool's stderr, for the error that quotes it

[[noreturn]] void fail_errno(int error, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::generic_category().message(error)));
}

struct ToolResult {
  ExitStatus exit;
  std::string output;  // its stdout and stderr, the first kKeptOutput bytes
};

asio::awaitable<void> collect(asio::posix::stream_descriptor& pipe, std::string& output) {
  std::array<char, 1024> buffer{};
  for (;;) {
    auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    output.append(buffer.data(), std::min(n, kKeptOutput - std::min(output.size(), kKeptOutput)));
  }
}

// Where the host keeps a tool (mke2fs is in /sbin, which a daemon's PATH may lack).
std::string host_tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"}) {
    std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

// Runs a tool of the host's (mke2fs, cp) to its end, or kills it at `timeout`.
asio::awaitable<ToolResult> run_tool(asio::any_io_executor executor, std::vector<std::string> argv,
                                     std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  SpawnOptions options;
  options.program = host_tool(argv.front());
  options.arguments.assign(argv.begin() + 1, argv.end());
  options.environment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
  ChildProcess child(executor, options);
  error_code ignored;
  child.stdin_pipe().close(ignored);
  ToolResult result;
  asio::steady_timer deadline(executor, timeout);
  deadline.async_wait([&child](error_code ec) {
    if (!ec) child.kill();
  });
  result.exit = co_await (child.wait() && collect(child.stdout_pipe(), result.output) &&
                          collect(child.stderr_pipe(), result.output));
  deadline.cancel();
  co_return result;
}

std::string describe(const std::string& tool, const ToolResult& result) {
  std::string said = result.output;
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  const std::string how = result.exit.signal != 0 ? fmt::format("was killed by signal {}", result.exit.signal)
                                                  : fmt::format("exited with status {}", result.exit.code);
  return said.empty() ? fmt::format("{} {}", tool, how) : fmt::format("{} {}: {}", tool, how, said);
}

// mke2fs on the sandbox's side of the session start, which is synchronous: about 50 ms for a GiB.
ToolResult run_tool_now(std::vector<std::string> argv, std::chrono::steady_clock::duration timeout) {
  asio::io_context io(1);
  ToolResult result;
  std::exception_ptr error;
  asio::co_spawn(io, run_tool(io.get_executor(), std::move(argv), timeout),
                 [&](const std::exception_ptr& e, ToolResult r) {
                   error = e;
                   result = std::move(r);
                 });
  io.run();
  if (error) std::rethrow_exception(error);
  return result;
}

// Attaches `image` to a free loop device (detached again with its last user: LO_FLAGS_AUTOCLEAR) and
// returns that device, open.
OwnedFd attach_loop(const fs::path& image, std::string& device) {
  OwnedFd file(::open(image.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (file.get() < 0) fail_errno(errno, fmt::format("cannot open {}", image.string()));
  OwnedFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (control.get() < 0) fail_errno(errno, "cannot open /dev/loop-control (loop devices are needed for workspace limits)");
  // Another process may take the free device between the two calls: then ask again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (number < 0) fail_errno(errno, "no free loop device");
    device = fmt::format("/dev/loop{}", number);
    OwnedFd loop(::open(device.c_str(), O_RDWR | O_CLOEXEC));
    if (loop.get() < 0) fail_errno(errno, fmt::format("cannot open {}", device));
    loop_config config{};
    config.fd = static_cast<std::uint32_t>(file.get());
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) return loop;
    if (errno != EBUSY) fail_errno(errno, fmt::format("cannot attach {} to {}", image.string(), device));
  }
  throw std::runtime_error("no free loop device after 16 attempts");
}

void mount_image(const fs::path& image, const fs::path& mount_point) {
  std::string device;
  const OwnedFd loop = attach_loop(image, device);
  // nosuid,nodev as the bind mount without a limit (workspace_mount.hpp): a setuid bit or a device node
  // made in the workspace means nothing, on the host either. Once mounted, closing `loop` leaves the
  // device to the mount, and the unmount frees it.
  if (::mount(device.c_str(), mount_point.c_str(), "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "") != 0) {
    fail_errno(errno, fmt::format("cannot mount {} on {}", image.string(), mount_point.string()));
  }
}

}  // namespace

WorkspaceVolume WorkspaceVolume::create(const fs::path& image, const fs::path& mount_point, std::uint64_t bytes, uid_t uid,
                                        gid_t gid) {
  {
    OwnedFd file(::open(image.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (file.get() < 0) fail_errno(errno, fmt::format("cannot create {}", image.string()));
    if (::ftruncate(file.get(), static_cast<off_t>(bytes)) != 0) fail_errno(errno, fmt::format("cannot size {}", image.string()));
  }
  try {
    // No journal: the volume lives as long as one sandbox, and a daemon killed meanwhile has it checked by
    // the mount that saves it. No blocks reserved for root: the sandbox's uid gets all of it.
    const ToolResult made = run_tool_now({"mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0", "-E",
                                          fmt::format("root_owner={}:{},nodiscard", uid, gid), image.string()},
                                         kMakeFsTimeout);
    if (made.exit.code != 0) throw std::runtime_error(describe("mke2fs", made));
    WorkspaceVolume volume(image, mount_point);
    mount_image(image, mount_point);
    std::error_code ignored;
    fs::remove(mount_point / "lost+found", ignored);
    if (::chmod(mount_point.c_str(), 0700) != 0) fail_errno(errno, fmt::format("cannot chmod {}", mount_point.string()));
    return volume;
  } catch (...) {
    std::error_code ignored;
    fs::remove(image, ignored);
    throw;
  }
}

WorkspaceVolume WorkspaceVolume::mount(const fs::path& image, const fs::path& mount_point) {
  mount_image(image, mount_point);
  return WorkspaceVolume(image, mount_point);
}

WorkspaceVolume::WorkspaceVolume(WorkspaceVolume&& other) noexcept
    : image_(std::move(other.image_)), mount_point_(std::exchange(other.mount_point_, fs::path())) {}

WorkspaceVolume::~WorkspaceVolume() {
  if (!mount_point_.empty()) ::umount2(mount_point_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
}

asio::awaitable<void> save_workspace(asio::any_io_executor executor, WorkspaceVolume volume) {
  const fs::path target = volume.mount_point();
  const fs::path copy = fs::path(target).concat(".saving");
  const fs::path image = volume.image();
  std::error_code ignored;
  fs::remove_all(copy, ignored);  // a copy a killed daemon did not finish
  // -a: owners, modes, times and links as they are; symbolic links are copied, never followed.
  std::vector<std::string> argv = {"cp", "-a", "--", target.string(), copy.string()};  // (GCC 12: not inside co_await)
  const ToolResult copied = co_await run_tool(executor, std::move(argv), kCopyTimeout);
  if (copied.exit.code != 0) {
    fs::remove_all(copy, ignored);
    throw std::runtime_error(describe("cp", copied));
  }
  { const WorkspaceVolume unmounted = std::move(volume); }
  // The directory under the mount point is empty: rename(2) replaces it.
  if (::rename(copy.c_str(), target.c_str()) != 0) fail_errno(errno, fmt::format("cannot rename {} to {}", copy.string(), target.string()));
  fs::remove(image, ignored);
}

}  // namespace airlock::control
