// BashTool (see bash_tool.hpp).
#include "agent/bash_tool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "agent/spawn.hpp"
#include "runtime/owned_fd.hpp"

namespace airlock::control::agent {

namespace {

using Clock = std::chrono::steady_clock;

const char* shell() { return ::access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh"; }

}  // namespace

void BashTool::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (running_ > 0) ::kill(-running_, SIGKILL);
}

void BashTool::reset() {
  std::lock_guard lock(mutex_);
  cancelled_ = false;
}

ToolOutcome BashTool::run(const std::string& command, std::chrono::milliseconds timeout) {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    return {fmt::format("cannot create a pipe: {}", std::error_code(errno, std::system_category()).message()), true};
  }
  OwnedFd read_end(fds[0]);
  OwnedFd write_end(fds[1]);
  OwnedFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  const std::string program = shell();
  const Spawned spawned = spawn_in_session({program, "-c", command}, cwd_, null_in.get(), write_end.get(), write_end.get());
  write_end.reset();
  if (spawned.pid < 0) {
    return {fmt::format("cannot start {}: {}", program, std::error_code(spawned.error, std::system_category()).message()), true};
  }
  const pid_t pid = spawned.pid;
  {
    std::lock_guard lock(mutex_);
    running_ = pid;
    if (cancelled_) ::kill(-pid, SIGKILL);
  }

  const auto deadline = Clock::now() + timeout;
  std::string output;
  std::size_t dropped = 0;
  bool timed_out = false;
  int status = 0;
  bool reaped = false;
  std::array<char, 16384> buffer{};
  for (;;) {
    pollfd ready{read_end.get(), POLLIN, 0};
    const int waited = ::poll(&ready, 1, 100);
    if (waited > 0) {
      const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
      if (n > 0) {
        const std::size_t keep = std::min<std::size_t>(static_cast<std::size_t>(n), 4 * kToolOutputMax - output.size());
        output.append(buffer.data(), keep);
        dropped += static_cast<std::size_t>(n) - keep;
        continue;
      }
      if (n == 0) break;  // every writer is gone
    }
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      // What it left running keeps the pipe open; the call ends with the shell, so it goes.
      ::kill(-pid, SIGKILL);
    }
    if (Clock::now() > deadline) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    std::lock_guard lock(mutex_);
    if (cancelled_) break;
  }
  if (!reaped) ::waitpid(pid, &status, 0);
  bool cancelled = false;
  {
    std::lock_guard lock(mutex_);
    running_ = -1;
    cancelled = cancelled_;
  }
  ::kill(-pid, SIGKILL);  // anything it left behind

  std::string text = bounded_text(output);
  if (dropped > 0) text += fmt::format("\n[{} more bytes not shown]", dropped);
  if (cancelled) return {text + (text.empty() ? "" : "\n") + "interrupted", true};
  if (timed_out) {
    return {text + (text.empty() ? "" : "\n") + fmt::format("timed out after {} ms; the command was killed", timeout.count()),
            true};
  }
  if (WIFSIGNALED(status)) return {text + (text.empty() ? "" : "\n") + fmt::format("killed by signal {}", WTERMSIG(status)), true};
  const int code = WEXITSTATUS(status);
  if (code != 0) return {text + (text.empty() ? "" : "\n") + fmt::format("exit status {}", code), true};
  if (text.empty()) text = "(no output)";
  return {text, false};
}

}  // namespace airlock::control::agent
