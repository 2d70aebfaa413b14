// Starting the processes the agent harness runs for a turn (a bash tool call, a Claude Code turn): each the
// leader of a session of its own, so that a time limit or an interrupt ends everything it started with one
// signal to the group.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace airlock::control::agent {

struct Spawned {
  pid_t pid = -1;
  int error = 0;  // errno of the failure when pid is -1
};

// Starts `argv` (argv[0] looked up on PATH when it has no '/') in `workdir`, with `in`, `out` and `err` as
// its descriptors 0, 1 and 2, default signal handling and no signal blocked (the harness ignores SIGINT
// and SIGPIPE; what it starts must not inherit that).
Spawned spawn_in_session(const std::vector<std::string>& argv, const std::filesystem::path& workdir, int in, int out, int err);

}  // namespace airlock::control::agent
