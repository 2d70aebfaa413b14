// Keeping the secrets a daemon holds out of core files and away from same-user debuggers (SECURITY.md's
// secret hygiene): the master key, unsealed credentials and the proxy's snapshot all live in this process.
#pragma once

#include <string>

namespace airlock::control {

// RLIMIT_CORE 0 (soft and hard, so nothing in the process can raise it again) and PR_SET_DUMPABLE 0 (no
// core file whatever the limit, and no ptrace or /proc/PID/mem from processes of the same user, such as a
// sandbox that runs under the daemon's uid). Children get dumpable back at exec, which is the kernel's rule.
// Returns "" on success, else what failed (the caller logs it and goes on: a weaker machine is no reason
// to refuse service).
std::string disable_core_dumps();

}  // namespace airlock::control
