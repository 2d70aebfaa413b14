// Process trees from /proc: a real shell with a child of its own.
#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "runtime/process_tree.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawn passes it on

namespace airlock::control {

TEST_CASE("process tree: a shell's sleeping child is found with its argv, and nothing below a leaf") {
  pid_t shell = -1;
  std::vector<char*> argv = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),  // NOLINT: execve's argv
                             const_cast<char*>("sleep 30 & wait"), nullptr};        // NOLINT
  REQUIRE(::posix_spawn(&shell, "/bin/sh", nullptr, nullptr, argv.data(), environ) == 0);
  // Polled until the child has exec'd sleep: just after its fork it is still a copy of the shell.
  const std::vector<std::string> sleeping = {"sleep", "30"};
  std::vector<pid_t> below;
  for (int i = 0; i < 500; ++i) {
    below = descendants(shell);
    if (below.size() == 1 && command_line(below[0]) == sleeping) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(below.size() == 1);
  CHECK(command_line(below[0]) == sleeping);
  CHECK(descendants(below[0]).empty());
  CHECK(command_line(shell) == std::vector<std::string>{"/bin/sh", "-c", "sleep 30 & wait"});
  ::kill(below[0], SIGKILL);
  int status = 0;
  ::waitpid(shell, &status, 0);
  CHECK(command_line(shell).empty());  // reaped: gone
}

}  // namespace airlock::control
