// airlock::proxy relay — `airlock relay`, the small process inside a sandbox that has a network namespace
// of its own. The sandbox has only loopback; Airlock's proxy is reached through its Unix socket,
// bind-mounted into the sandbox (DATA_DIR/proxy.sock on the host, /run/airlock/proxy.sock inside). The
// relay listens on a loopback TCP port (what HTTPS_PROXY names) and splices every connection to that
// socket, byte for byte: the proxy does everything else (identification, interception, audit).
//
//   airlock relay --listen HOST:PORT --socket PATH [--idle-timeout SECONDS] [-- COMMAND [ARGS...]]
//
// With a COMMAND the relay runs it once its listener is bound (so the command never races the port),
// forwards SIGTERM/SIGINT to it, and exits with its status (128+N when it was killed by signal N; 127 when
// it could not be run). Without one it runs until SIGTERM/SIGINT and exits 0. The relay never writes to
// stdout (stdout belongs to the command); messages go to stderr. Exit codes: 1 failure, 2 usage error.
#pragma once

#include <span>
#include <string_view>

namespace airlock::proxy {

// `airlock relay ARGS...` (the arguments after the command name); returns the process exit code.
int relay_command(std::span<const std::string_view> args);

}  // namespace airlock::proxy
