// The airlock binary: flags in, subcommand out. Everything else lives in the libraries.
#include <chrono>
#include <iostream>
#include <string_view>
#include <vector>

#include "airlock/control/commands.hpp"
#include "airlock/cron/cron.hpp"
#include "airlock/proxy/relay.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: airlock <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve        run the daemon: REST API, egress proxy, scheduler (airlock serve --help)\n"
    "  proxy        the egress proxy alone for one session, beside its sandbox, fed by a remote airlock serve\n"
    "               (airlock proxy --control-url URL --session ID --token-file FILE [--transparent-listen IP:PORT]...)\n"
    "  doctor       check what serve needs on this machine, one line each (airlock doctor [serve's flags])\n"
    "  ca           print the root CA certificate that sandboxes trust (airlock ca --data-dir DIR [--bundle])\n"
    "  cron next    print the next fire times of a cron schedule (airlock cron next --expr EXPR --tz ZONE)\n"
    "  relay        inside a sandbox: forward 127.0.0.1 connections to the proxy's Unix socket and run the harness\n"
    "               (airlock relay --listen HOST:PORT --socket PATH [-- COMMAND ARGS...])\n"
    "  agent        inside a sandbox: the built-in agent harness, started by serve (airlock agent --help)\n"
    "  version      print the version\n"
    "\n"
    "admin commands, clients of the REST API (--url, --api-key, --json; airlock vaults --help):\n"
    "  vaults | credentials | agents | environments | sessions | deployments | runs\n"
    "               list, get, create, update, archive, delete; sessions events ID [--follow], sessions egress ID;\n"
    "               deployments run|pause|unpause|next ID\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::span<const std::string_view> rest(args.data() + 1, args.size() - 1);
  if (args[0] == "serve") return airlock::control::serve_command(rest);
  if (args[0] == "ca") return airlock::control::ca_command(rest);
  if (args[0] == "doctor") return airlock::control::doctor_command(rest);
  if (args[0] == "proxy") return airlock::control::proxy_command(rest);
  if (args[0] == "relay") return airlock::proxy::relay_command(rest);
  if (args[0] == "agent") return airlock::control::agent_command(rest);
  if (args[0] == "cron" && !rest.empty() && rest[0] == "next") {
    auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    return airlock::cron::cron_next_command(rest.subspan(1), std::cout, std::cerr, now);
  }
  if (airlock::control::is_admin_resource(args[0])) return airlock::control::admin_command(args[0], rest);
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "airlock 0.1.0\n";
    return 0;
  }
  std::cerr << "airlock: unknown command \"" << args[0] << "\"\n" << kUsage;
  return 2;
}
