// ChildProcess: a process started with its stdin, stdout and stderr as pipes read and written through
// Asio, and its exit awaited through a pidfd (no SIGCHLD handler, no polling).
//
// The child gets exactly the file descriptors 0, 1, 2 (and 3 when `fd3` is given); every other descriptor
// of this process is closed in the child before exec, so no socket, database or key file of Airlock's leaks
// into it (Asio does not open its descriptors close-on-exec). It is its own process group leader, starts
// with default signal dispositions and an empty signal mask, and, with `run_as`, with another identity.
//
// The destructor kills the child (SIGKILL) if it has not been reaped, and reaps it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace airlock::control {

struct ExitStatus {
  int code = -1;    // exit code, or -1 when killed by a signal
  int signal = 0;   // the signal that killed it, or 0
};

// The identity a child takes before exec: exactly these uid, gid and supplementary groups, and so no
// capabilities. Changing it needs root (CAP_SETUID and CAP_SETGID).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

struct SpawnOptions {
  std::string program;                 // found on this process's PATH when it has no '/'
  std::vector<std::string> arguments;  // argv[1..]
  std::vector<std::string> environment;  // "NAME=value" entries: the child's whole environment
  std::optional<std::string> fd3;      // when set, the child's descriptor 3 reads these bytes (a memfd)
  std::optional<RunAs> run_as;         // when set, the child switches to this identity before exec
  // cgroup.procs files open for writing: the child writes "0" to each first, joining those groups before it
  // runs anything (a session's limits then hold for everything it starts).
  std::vector<int> join_cgroups;
};

class ChildProcess {
 public:
  // Throws std::system_error naming the program when it cannot be started (or cannot switch to run_as).
  ChildProcess(const boost::asio::any_io_executor& executor, const SpawnOptions& options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  boost::asio::posix::stream_descriptor& stdin_pipe() noexcept { return stdin_; }
  boost::asio::posix::stream_descriptor& stdout_pipe() noexcept { return stdout_; }
  boost::asio::posix::stream_descriptor& stderr_pipe() noexcept { return stderr_; }

  // Completes when the child has exited, and reaps it. Call once.
  boost::asio::awaitable<ExitStatus> wait();
  // SIGKILL to the child (its sandbox dies with it: bubblewrap runs with --die-with-parent).
  void kill() noexcept;
  bool exited() const noexcept { return reaped_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  boost::asio::posix::stream_descriptor stdin_;
  boost::asio::posix::stream_descriptor stdout_;
  boost::asio::posix::stream_descriptor stderr_;
  boost::asio::posix::stream_descriptor pidfd_;
};

}  // namespace airlock::control
