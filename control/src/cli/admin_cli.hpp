// The admin CLI: `airlock vaults|credentials|agents|environments|sessions|deployments|runs VERB ...`, a
// client of the REST API (docs/operations.md, "The admin CLI").
//
// Where it connects: --url, else AIRLOCK_URL, else http://127.0.0.1:8420. With which key: --api-key,
// else AIRLOCK_API_KEY (the first of a comma-separated list), else ./.airlock/admin.key. Output: an
// aligned table (lists) or a field table (one object) for people, the API's JSON with --json. Exit
// codes: 0 done, 1 the API refused (its message printed) or could not be reached, 2 usage.
//
// Secrets never come from the command line: a credential's value is read from an environment variable
// (--from-env), a file (--from-file), or a prompt that does not echo.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace airlock::control::cli {

// What the command reads from its surroundings; tests give their own.
struct Surroundings {
  std::function<std::optional<std::string>(const std::string&)> getenv;
  std::istream& in;  // the prompt's answer (a line), when no --from-env or --from-file is given
  std::ostream& out;
  std::ostream& err;
  bool interactive = false;  // stdin is a terminal: prompt on stderr, with echo off
};

// True for the resource names the admin CLI answers to.
bool is_resource(std::string_view name);

// `resource` is vaults, credentials, ...; `args` what follows it.
int admin_command(std::string_view resource, std::span<const std::string_view> args, Surroundings& io);
// The same with the process's environment, stdin, stdout and stderr.
int admin_command(std::string_view resource, std::span<const std::string_view> args);

}  // namespace airlock::control::cli
