// airlock::control — the composition root of the `airlock` binary: each subcommand takes the arguments
// that follow its name and returns the process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

#include <span>
#include <string_view>

namespace airlock::control {

// `airlock serve`: store, REST API, proxy listener, until SIGINT/SIGTERM (then drains for at most 5 s).
int serve_command(std::span<const std::string_view> args);

// `airlock proxy --control-url URL --session ID --token-file FILE ...`: the proxy alone, for one session,
// beside its sandbox, fed by a remote `airlock serve` (docs/sidecar.md).
int proxy_command(std::span<const std::string_view> args);

// `airlock ca [--data-dir DIR] [--bundle]`: prints the root CA certificate, or the trust bundle.
int ca_command(std::span<const std::string_view> args);

// `airlock doctor [serve's flags]`: checks what serve needs, one line each; 0 when nothing needed is missing.
int doctor_command(std::span<const std::string_view> args);

// `airlock agent`: the built-in agent harness, inside a session's sandbox (docs/runtime.md).
int agent_command(std::span<const std::string_view> args);

// The admin CLI, `airlock vaults|credentials|agents|environments|sessions|deployments|runs VERB ...`: a
// client of the REST API (docs/operations.md). `is_admin_resource` says whether a command name is one.
bool is_admin_resource(std::string_view name);
int admin_command(std::string_view resource, std::span<const std::string_view> args);

}  // namespace airlock::control
