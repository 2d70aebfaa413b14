// ChildProcess; see child_process.hpp.
#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

namespace airlock::control {
namespace {

namespace asio = boost::asio;

// A descriptor that closes itself unless released.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) noexcept : fd_(fd) {}
  ~OwnedFd() { reset(); }
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

[[noreturn]] void fail(int error, std::string_view what) {
  throw std::system_error(error, std::generic_category(), std::string(what));
}

struct Pipe {
  OwnedFd read, write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(errno, "cannot create a pipe for a child process");
  return {OwnedFd(fds[0]), OwnedFd(fds[1])};
}

// A memfd holding `bytes`, positioned at its start.
OwnedFd memfd_with(const std::string& bytes) {
  OwnedFd fd(::memfd_create("airlock-args", MFD_CLOEXEC));
  if (fd.get() < 0) fail(errno, "cannot create a memfd for a child process");
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(errno, "cannot write a child process's arguments");
    written += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) fail(errno, "cannot rewind a child process's arguments");
  return fd;
}

struct FileActions {
  posix_spawn_file_actions_t actions;
  FileActions() { posix_spawn_file_actions_init(&actions); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
};

struct SpawnAttributes {
  posix_spawnattr_t attributes;
  SpawnAttributes() { posix_spawnattr_init(&attributes); }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
};

}  // namespace

ChildProcess::ChildProcess(const asio::any_io_executor& executor, const SpawnOptions& options)
    : stdin_(executor), stdout_(executor), stderr_(executor), pidfd_(executor) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  OwnedFd extra = options.fd3 ? memfd_with(*options.fd3) : OwnedFd();

  FileActions files;
  posix_spawn_file_actions_adddup2(&files.actions, in.read.get(), 0);
  posix_spawn_file_actions_adddup2(&files.actions, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&files.actions, err.write.get(), 2);
  if (extra.get() >= 0) posix_spawn_file_actions_adddup2(&files.actions, extra.get(), 3);
  posix_spawn_file_actions_addclosefrom_np(&files.actions, extra.get() >= 0 ? 4 : 3);

  // Default signal dispositions and an empty mask: the daemon's own (an ignored SIGPIPE, say) must not
  // change how a harness's shell pipelines behave.
  SpawnAttributes attributes;
  sigset_t defaults;
  sigfillset(&defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attributes.attributes, &defaults);
  posix_spawnattr_setsigmask(&attributes.attributes, &empty);
  posix_spawnattr_setpgroup(&attributes.attributes, 0);
  posix_spawnattr_setflags(&attributes.attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(options.program.c_str()));
  for (const std::string& argument : options.arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : options.environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  int error = ::posix_spawnp(&pid, options.program.c_str(), &files.actions, &attributes.attributes, argv.data(), envp.data());
  if (error != 0) fail(error, fmt::format("cannot start {}", options.program));
  pid_ = pid;

  // glibc 2.36 declares pidfd_open without C linkage for C++: the system call directly.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd < 0) {
    int saved = errno;
    kill();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    fail(saved, "cannot watch a child process (pidfd_open)");
  }
  pidfd_.assign(pidfd);
  stdin_.assign(in.write.release());
  stdout_.assign(out.read.release());
  stderr_.assign(err.read.release());
  stdin_.non_blocking(true);
  stdout_.non_blocking(true);
  stderr_.non_blocking(true);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

asio::awaitable<ExitStatus> ChildProcess::wait() {
  // A pidfd becomes readable when the process exits; waitpid then reaps it without blocking.
  auto [ec] = co_await pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, asio::as_tuple(asio::use_awaitable));
  if (ec) kill();  // cancelled (the daemon is stopping): do not wait for a process that may never end
  int status = 0;
  pid_t got = -1;
  do {
    got = ::waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  reaped_ = true;
  ExitStatus exit;
  if (got == pid_ && WIFEXITED(status)) exit.code = WEXITSTATUS(status);
  if (got == pid_ && WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  co_return exit;
}

void ChildProcess::kill() noexcept {
  if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
}

}  // namespace airlock::control
