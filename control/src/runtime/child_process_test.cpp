// ChildProcess with real processes: pipes both ways, exit codes and signals, descriptor 3, that no other
// descriptor of ours reaches the child, the PATH search, and (as root) another identity.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "airlock/testing/temp_dir.hpp"
#include "runtime/child_process.hpp"

namespace airlock::control {
namespace {

namespace asio = boost::asio;

struct Outcome {
  std::string out;
  std::string err;
  ExitStatus status;
};

// Runs the child to its end: writes `input` and closes stdin, reads both pipes to EOF, waits.
Outcome run(const SpawnOptions& options, std::string input = {}) {
  asio::io_context io;
  ChildProcess child(io.get_executor(), options);
  Outcome outcome;
  auto body = [&]() -> asio::awaitable<void> {
    boost::system::error_code ec;
    if (!input.empty()) co_await asio::async_write(child.stdin_pipe(), asio::buffer(input), asio::redirect_error(asio::use_awaitable, ec));
    child.stdin_pipe().close(ec);
    auto out = asio::dynamic_buffer(outcome.out);
    auto err = asio::dynamic_buffer(outcome.err);
    co_await asio::async_read(child.stdout_pipe(), out, asio::redirect_error(asio::use_awaitable, ec));
    co_await asio::async_read(child.stderr_pipe(), err, asio::redirect_error(asio::use_awaitable, ec));
    outcome.status = co_await child.wait();
  };
  auto done = asio::co_spawn(io, body(), asio::use_future);
  io.run();
  done.get();
  return outcome;
}

}  // namespace

TEST_CASE("child process: stdin in, stdout and stderr out, and the exit code") {
  Outcome o = run({"/bin/sh", {"-c", "cat; echo to-stderr >&2; exit 3"}, {}, std::nullopt, std::nullopt, {}}, "hello child\n");
  CHECK(o.out == "hello child\n");
  CHECK(o.err == "to-stderr\n");
  CHECK(o.status.code == 3);
  CHECK(o.status.signal == 0);
}

TEST_CASE("child process: the environment is exactly what was given") {
  Outcome o = run({"/usr/bin/env", {}, {"ONLY=this", "PATH=/usr/bin"}, std::nullopt, std::nullopt, {}});
  CHECK(o.out == "ONLY=this\nPATH=/usr/bin\n");
  CHECK(o.status.code == 0);
}

TEST_CASE("child process: descriptor 3 reads the given bytes and nothing else is inherited") {
  // A descriptor of ours without close-on-exec, as Asio leaves its sockets.
  int opened = ::open("/dev/null", O_RDONLY);
  int leaked = ::fcntl(opened, F_DUPFD, 50);  // above anything the child itself opens
  ::close(opened);
  REQUIRE(leaked >= 50);
  Outcome o = run({"/bin/sh", {"-c", "cat <&3; echo; ls /proc/self/fd | sort -n | tr '\\n' ' '"}, {"PATH=/usr/bin:/bin"},
                   std::string("args\0more", 9), std::nullopt, {}});
  ::close(leaked);
  // 0 1 2, the shell's 3, and the one ls opens for the directory it lists; never ours.
  CHECK(o.out.substr(0, 10) == std::string("args\0more\n", 10));
  const std::string fds = o.out.substr(10);
  CHECK(fds.starts_with("0 1 2 3 "));
  CHECK(fds.find(" " + std::to_string(leaked) + " ") == std::string::npos);
  CHECK(o.status.code == 0);
}

TEST_CASE("child process: a name without a slash is found on this process's PATH") {
  Outcome o = run({"sh", {"-c", "echo found"}, {}, std::nullopt, std::nullopt, {}});
  CHECK(o.out == "found\n");
  CHECK(o.status.code == 0);
  asio::io_context io;
  try {
    ChildProcess child(io.get_executor(), {"no-such-program-anywhere", {}, {}, std::nullopt, std::nullopt, {}});
    FAIL("started a program that is on no PATH entry");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) == "cannot start no-such-program-anywhere: No such file or directory");
  }
}

TEST_CASE("child process: signals are back to their defaults and unblocked in the child") {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous {};
  ::sigaction(SIGPIPE, &ignore, &previous);  // as airlock serve does
  // Inherited as ignored by the daemon itself (a launcher may leave real-time signals ignored), including
  // one glibc reserves (33), which its sigaction cannot reset: the child still starts with defaults.
  struct KernelSigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask;
  };
  const KernelSigaction kernel_ignore{SIG_IGN, 0, nullptr, 0};
  KernelSigaction kernel_previous{};
  REQUIRE(::syscall(SYS_rt_sigaction, 33, &kernel_ignore, &kernel_previous, sizeof(std::uint64_t)) == 0);
  struct sigaction previous_rtmin {};
  ::sigaction(SIGRTMIN, &ignore, &previous_rtmin);
  sigset_t blocked;
  sigset_t mask_before;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &mask_before);
  Outcome o = run({"/bin/sh", {"-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status"}, {}, std::nullopt, std::nullopt, {}});
  ::pthread_sigmask(SIG_SETMASK, &mask_before, nullptr);
  ::sigaction(SIGPIPE, &previous, nullptr);
  ::sigaction(SIGRTMIN, &previous_rtmin, nullptr);
  ::syscall(SYS_rt_sigaction, 33, &kernel_previous, nullptr, sizeof(std::uint64_t));
  // (grep's own: nothing blocked, nothing ignored)
  CHECK(o.out == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("child process: run_as starts the program as exactly that uid, gid and groups") {
  const RunAs sandbox{2000000001, 2000000001, {2000000000}};
  if (::geteuid() != 0) {
    asio::io_context io;
    try {
      ChildProcess child(io.get_executor(), {"/bin/true", {}, {}, std::nullopt, sandbox, {}});
      FAIL("switched identity without being root");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()) == "cannot start /bin/true as uid 2000000001 gid 2000000001: Operation not permitted");
    }
    return;
  }
  Outcome o = run({"/bin/sh", {"-c", "id -u; id -g; id -G; grep -E '^Cap(Prm|Eff):' /proc/self/status"}, {"PATH=/usr/bin:/bin"},
                   std::nullopt, sandbox, {}});
  CHECK(o.out == "2000000001\n2000000001\n2000000001 2000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n");
  CHECK(o.status.code == 0);

  // A program that uid may not reach: the error says so, naming the program.
  testing::TempDir dir;  // 0700, root's
  const std::filesystem::path program = dir.write("program", "#!/bin/sh\nexit 0\n");
  std::filesystem::permissions(program, std::filesystem::perms::owner_all);
  asio::io_context io;
  try {
    ChildProcess child(io.get_executor(), {program.string(), {}, {}, std::nullopt, sandbox, {}});
    FAIL("ran a program in a directory its uid cannot enter");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) == fmt::format("cannot start {}: Permission denied", program.string()));
  }
}

TEST_CASE("child process: kill ends it with SIGKILL") {
  asio::io_context io;
  ChildProcess child(io.get_executor(), {"/bin/sleep", {"600"}, {}, std::nullopt, std::nullopt, {}});
  ExitStatus status;
  auto done = asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    child.kill();
    status = co_await child.wait();
  }, asio::use_future);
  io.run();
  done.get();
  CHECK(child.exited());
  CHECK(status.code == -1);
  CHECK(status.signal == 9);
}

TEST_CASE("child process: a program that does not exist is an error naming it") {
  asio::io_context io;
  try {
    ChildProcess child(io.get_executor(), {"/no/such/program", {}, {}, std::nullopt, std::nullopt, {}});
    FAIL("started a program that does not exist");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) == "cannot start /no/such/program: No such file or directory");
  }
}

TEST_CASE("child process: the destructor kills and reaps a running child") {
  pid_t pid = 0;
  {
    asio::io_context io;
    ChildProcess child(io.get_executor(), {"/bin/sleep", {"600"}, {}, std::nullopt, std::nullopt, {}});
    pid = child.pid();
    CHECK(::kill(pid, 0) == 0);
  }
  CHECK(::kill(pid, 0) == -1);  // reaped: no such process any more
}

}  // namespace airlock::control
