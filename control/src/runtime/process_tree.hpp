// The processes below one process, read from /proc: how the runtime finds a sandbox's relay (which
// forwards SIGINT to the harness) under the bubblewrap process it started.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace airlock::control {

// Children, grandchildren and so on of `root`, parents before their children; empty when it has none or
// is gone.
std::vector<pid_t> descendants(pid_t root);

// The argv of `pid` (/proc/PID/cmdline); empty when it is gone or unreadable.
std::vector<std::string> command_line(pid_t pid);

}  // namespace airlock::control
