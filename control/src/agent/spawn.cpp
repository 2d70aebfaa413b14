// spawn_in_session (see spawn.hpp).
#include "agent/spawn.hpp"

#include <signal.h>
#include <spawn.h>

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawn passes it on

namespace airlock::control::agent {

Spawned spawn_in_session(const std::vector<std::string>& argv, const std::filesystem::path& workdir, int in, int out, int err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in, 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, err, 2);
  posix_spawn_file_actions_addchdir_np(&actions, workdir.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t all_signals;
  sigset_t no_signals;
  sigfillset(&all_signals);
  sigemptyset(&no_signals);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> pointers;
  pointers.reserve(argv.size() + 1);
  for (const std::string& argument : argv) pointers.push_back(const_cast<char*>(argument.c_str()));  // NOLINT: execve's argv
  pointers.push_back(nullptr);
  Spawned spawned;
  spawned.error = ::posix_spawnp(&spawned.pid, argv.front().c_str(), &actions, &attributes, pointers.data(), environ);
  if (spawned.error != 0) spawned.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  return spawned;
}

}  // namespace airlock::control::agent
