// ChildProcess; see child_process.hpp.
//
// Started with fork() and execve(), not posix_spawn, because posix_spawn cannot change the child's uid
// (SECURITY.md N6: a sandbox runs as an unprivileged uid when Airlock is root). Between fork and exec the
// child is a copy of a multi-threaded process, so it makes only async-signal-safe calls (system calls, no
// allocation): every string and array it uses is built before fork. A failure before exec is reported, as
// a ChildFailure, through a close-on-exec pipe that the parent reads to its end: EOF alone means the exec
// succeeded.
#include "runtime/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "runtime/owned_fd.hpp"

namespace airlock::control {
namespace {

namespace asio = boost::asio;

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

// What the child reports when it cannot get as far as a successful exec.
enum class ChildStep : int { cgroup, descriptors, identity, exec };
struct ChildFailure {
  ChildStep step = ChildStep::exec;
  int error = 0;
};

// Everything the child needs between fork and exec, prepared before fork.
struct ChildPlan {
  std::array<int, 4> sources{-1, -1, -1, -1};  // become descriptors 0..3 (3 only when set)
  int kept = 3;                                 // descriptors below this one survive exec
  int report = -1;                              // the report pipe's write end (close-on-exec)
  const RunAs* run_as = nullptr;
  std::vector<int> join_cgroups;
  std::vector<std::string> candidates;  // the paths execve tries, in order (the PATH search, done ahead)
  std::vector<char*> argv;
  std::vector<char*> envp;
};

// Where execvp would look for `program`: itself when it names a path, else each entry of this process's
// PATH (glibc's default when unset).
std::vector<std::string> exec_candidates(const std::string& program) {
  if (program.find('/') != std::string::npos) return {program};
  const char* path = std::getenv("PATH");
  std::string_view directories = path != nullptr ? path : "/bin:/usr/bin";
  std::vector<std::string> candidates;
  for (;;) {
    const std::size_t colon = directories.find(':');
    std::string_view directory = directories.substr(0, colon);
    candidates.push_back(fmt::format("{}/{}", directory.empty() ? "." : directory, program));
    if (colon == std::string_view::npos) break;
    directories.remove_prefix(colon + 1);
  }
  return candidates;
}

[[noreturn]] void report_and_exit(int report, ChildStep step, int error) noexcept {
  const ChildFailure failure{step, error};
  [[maybe_unused]] ssize_t ignored = ::write(report, &failure, sizeof failure);
  ::_exit(127);
}

// Every descriptor from `first` up is closed (close_range needs Linux 5.9; older kernels get the loop).
void close_from(int first) noexcept {
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
  rlimit limit{};
  const int last = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536 ? static_cast<int>(limit.rlim_cur) : 65536;
  for (int fd = first; fd < last; ++fd) ::close(fd);
}

// The kernel's struct sigaction for rt_sigaction (not glibc's, whose sa_mask is 128 bytes).
struct KernelSigaction {
  void (*handler)(int) = SIG_DFL;
  unsigned long flags = 0;
  void (*restorer)() = nullptr;
  std::uint64_t mask = 0;  // _NSIG (64) bits
};

// In the child, from fork to exec: async-signal-safe calls only. Signals are blocked on entry (the parent
// blocked them around fork), so none of the daemon's handlers can run here.
[[noreturn]] void become_child(const ChildPlan& plan) noexcept {
  // Default dispositions: the daemon's own (an ignored SIGPIPE, say), and whatever the daemon inherited
  // ignored (exec keeps SIG_IGN), must not change how a harness's programs behave. The system call, not
  // glibc's sigaction, which refuses the real-time signals it reserves (32, 33) even to reset them.
  KernelSigaction default_action{};  // SIG_DFL (0), no flags, empty mask
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal != SIGKILL && signal != SIGSTOP) {
      ::syscall(SYS_rt_sigaction, signal, &default_action, nullptr, sizeof(default_action.mask));
    }
  }

  // The cgroups first, while nothing of the program's has run, and before the descriptors move (one of
  // these may sit where a pipe end is about to go).
  for (int procs : plan.join_cgroups) {
    if (::write(procs, "0", 1) != 1) report_and_exit(plan.report, ChildStep::cgroup, errno);
  }

  // Every descriptor moved above 9 first: a pipe end may itself be 0..3 (a daemon started with stdin closed).
  const int report = ::fcntl(plan.report, F_DUPFD_CLOEXEC, 10);
  if (report < 0) report_and_exit(plan.report, ChildStep::descriptors, errno);
  std::array<int, 4> moved{-1, -1, -1, -1};
  for (std::size_t i = 0; i < moved.size(); ++i) {
    if (plan.sources[i] < 0) continue;
    moved[i] = ::fcntl(plan.sources[i], F_DUPFD_CLOEXEC, 10);
    if (moved[i] < 0) report_and_exit(report, ChildStep::descriptors, errno);
  }
  for (std::size_t i = 0; i < moved.size(); ++i) {
    // dup2 leaves the new descriptor without close-on-exec: these are the ones the program gets.
    if (moved[i] >= 0 && ::dup2(moved[i], static_cast<int>(i)) < 0) report_and_exit(report, ChildStep::descriptors, errno);
  }
  if (::dup3(report, plan.kept, O_CLOEXEC) < 0) report_and_exit(report, ChildStep::descriptors, errno);
  close_from(plan.kept + 1);  // everything else of the daemon's: sockets, the database, key files
  const int reporter = plan.kept;

  ::setpgid(0, 0);
  if (plan.run_as != nullptr) {
    // The system calls, not glibc's wrappers: those synchronise the identity of every thread of the
    // process, machinery a forked child must not run. Groups first: only root may change them.
    const RunAs& who = *plan.run_as;
    const long gid = who.gid;
    const long uid = who.uid;
    if (::syscall(SYS_setgroups, who.groups.size(), who.groups.data()) != 0 || ::syscall(SYS_setresgid, gid, gid, gid) != 0 ||
        ::syscall(SYS_setresuid, uid, uid, uid) != 0) {
      report_and_exit(reporter, ChildStep::identity, errno);
    }
  }

  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  // As execvp: a candidate that does not exist is skipped; EACCES is what remains if one was found but
  // could not be run.
  int error = ENOENT;
  bool denied = false;
  for (const std::string& candidate : plan.candidates) {
    ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
    error = errno;
    if (error == EACCES) {
      denied = true;
    } else if (error != ENOENT && error != ENOTDIR) {
      report_and_exit(reporter, ChildStep::exec, error);
    }
  }
  report_and_exit(reporter, ChildStep::exec, denied ? EACCES : error);
}

}  // namespace

ChildProcess::ChildProcess(const asio::any_io_executor& executor, const SpawnOptions& options)
    : stdin_(executor), stdout_(executor), stderr_(executor), pidfd_(executor) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  OwnedFd extra = options.fd3 ? memfd_with(*options.fd3) : OwnedFd();
  Pipe report = make_pipe();

  ChildPlan plan;
  plan.sources = {in.read.get(), out.write.get(), err.write.get(), extra.get()};
  plan.kept = extra.get() >= 0 ? 4 : 3;
  plan.report = report.write.get();
  plan.run_as = options.run_as ? &*options.run_as : nullptr;
  plan.join_cgroups = options.join_cgroups;
  plan.candidates = exec_candidates(options.program);
  plan.argv.push_back(const_cast<char*>(options.program.c_str()));
  for (const std::string& argument : options.arguments) plan.argv.push_back(const_cast<char*>(argument.c_str()));
  plan.argv.push_back(nullptr);
  for (const std::string& entry : options.environment) plan.envp.push_back(const_cast<char*>(entry.c_str()));
  plan.envp.push_back(nullptr);

  // Every signal blocked across fork, so that no handler of the daemon's runs in the child before it
  // resets them (Asio's signal_set handler would write to the daemon's own pipe).
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::fork();
  if (pid == 0) become_child(plan);
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) fail(fork_error, fmt::format("cannot start {}", options.program));
  pid_ = pid;

  report.write.reset();  // the child holds the only write end now: EOF once it has exec'd or exited
  ChildFailure failure;
  ssize_t got = -1;
  do {
    got = ::read(report.read.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    switch (failure.step) {
      case ChildStep::exec: fail(failure.error, fmt::format("cannot start {}", options.program));
      case ChildStep::identity:
        fail(failure.error, fmt::format("cannot start {} as uid {} gid {}", options.program, options.run_as->uid,
                                        options.run_as->gid));
      case ChildStep::cgroup: fail(failure.error, fmt::format("cannot start {}: joining its cgroup failed", options.program));
      case ChildStep::descriptors: break;
    }
    fail(failure.error, fmt::format("cannot start {}: setting up its descriptors failed", options.program));
  }

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
