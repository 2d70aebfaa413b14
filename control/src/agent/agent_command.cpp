// `airlock agent`: the built-in harness, run inside a session's sandbox (docs/runtime.md, "The built-in
// agent"). It reads the agent definition from AIRLOCK_AGENT_FILE, the client events from stdin (the
// `stdin: json` protocol), and prints session events on stdout; its diagnostics go to stderr, which the
// daemon keeps in the session's stderr.log. With `--adapter claude-code` it runs Claude Code's CLI instead,
// one turn per message (claude_code_runner.hpp).
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/agent_loop.hpp"
#include "agent/claude_code.hpp"
#include "agent/claude_code_runner.hpp"
#include "airlock/control/commands.hpp"
#include "runtime/harness_output.hpp"

namespace airlock::control {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kUsage =
    "usage: airlock agent\n"
    "       airlock agent --adapter claude-code [-- COMMAND ARGS...]\n"
    "\n"
    "The built-in agent harness. It runs inside a session's sandbox, started by airlock serve: the agent\n"
    "definition comes from AIRLOCK_AGENT_FILE, client events arrive on stdin as JSON lines, session events\n"
    "leave on stdout. The model API is ANTHROPIC_BASE_URL (default https://api.anthropic.com), reached\n"
    "through HTTPS_PROXY with the key in ANTHROPIC_API_KEY, a placeholder the proxy swaps for the real one.\n"
    "See docs/runtime.md, \"The built-in agent\".\n"
    "\n"
    "--adapter claude-code runs Claude Code's CLI for each user.message instead (default command: claude -p\n"
    "--output-format stream-json --verbose), adding --resume SESSION after the first turn, and turns its\n"
    "stream-json output into session events. See docs/runtime.md, \"The Claude Code adapter\".\n";

std::optional<json> read_json_file(const char* variable, std::string& error) {
  const char* path = std::getenv(variable);
  if (path == nullptr || *path == '\0') {
    error = fmt::format("{} is not set; airlock agent runs in a session's sandbox, started by airlock serve", variable);
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  json parsed = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!in || parsed.is_discarded()) {
    error = fmt::format("cannot read {} ({}) as JSON", path, variable);
    return std::nullopt;
  }
  return parsed;
}

// Does the session hold a user.message before the harness starts (AIRLOCK_EVENTS_FILE)? Then its first
// turn is on its way on stdin; otherwise the harness reports idle at once.
bool has_initial_message() {
  std::string ignored;
  std::optional<json> events = read_json_file("AIRLOCK_EVENTS_FILE", ignored);
  if (!events || !events->is_array()) return false;
  return std::any_of(events->begin(), events->end(), [](const json& e) { return e.value("type", "") == "user.message"; });
}

void print_line(const json& event) {
  static std::mutex mutex;
  const std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex);
  std::cout << line << std::flush;
}

void fail_session(const std::string& message) {
  print_line({{"type", "session.error"},
              {"error", {{"type", "unknown_error"}, {"message", message}, {"retry_status", {{"type", "terminal"}}}}}});
}

// Reads stdin as JSON lines into the inbox until EOF or `stop`.
void read_stdin(agent::Inbox& inbox, const std::atomic<bool>& stop) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  char buffer[16384];
  while (!stop.load()) {
    pollfd ready{STDIN_FILENO, POLLIN, 0};
    if (::poll(&ready, 1, 200) <= 0) continue;
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n <= 0) break;
    lines.clear();
    splitter.feed(std::string_view(buffer, static_cast<std::size_t>(n)), lines);
    for (const std::string& line : lines) {
      json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (event.is_object()) inbox.push(std::move(event));
    }
  }
  inbox.close();
}

// Runs a harness's turns while a thread reads stdin into `inbox`. The reader is joined before this
// returns, so an interrupt it reads never reaches hooks of a loop that is gone.
int run_with_stdin(agent::Inbox& inbox, const std::function<int()>& turns) {
  std::atomic<bool> stop{false};
  std::thread reader(read_stdin, std::ref(inbox), std::cref(stop));
  const int status = turns();
  stop.store(true);
  reader.join();
  return status;
}

// Runs the CLI of `command` once per user.message (claude_code_runner.hpp), in /workspace when there is one.
int run_claude_code_adapter(std::vector<std::string> command) {
  std::error_code ec;
  const fs::path workdir = fs::is_directory("/workspace", ec) ? fs::path("/workspace") : fs::current_path(ec);
  agent::Inbox inbox;
  agent::ClaudeCodeRunner runner(std::move(command), workdir.string(), inbox, print_line);
  return run_with_stdin(inbox, [&runner] { return runner.run(has_initial_message()); });
}

}  // namespace

int agent_command(std::span<const std::string_view> args) {
  const bool adapter = !args.empty() && args[0] == "--adapter";
  if (adapter) {
    // `--adapter claude-code`, then nothing or `--` and a command.
    const bool known = args.size() >= 2 && args[1] == "claude-code";
    const bool command_ok = args.size() == 2 || (args.size() > 3 && args[2] == "--");
    if (!known || !command_ok) {
      std::cerr << (known ? "airlock agent: a command follows --\n" : "airlock agent: --adapter takes claude-code\n") << kUsage;
      return 2;
    }
  } else if (!args.empty()) {
    std::cout << kUsage;
    return args[0] == "--help" || args[0] == "-h" ? 0 : 2;
  }
  (void)::signal(SIGINT, SIG_IGN);   // interrupts arrive as user.interrupt lines
  (void)::signal(SIGPIPE, SIG_IGN);  // a closed stdout is an error result, not a death
  if (adapter) {
    std::vector<std::string> command = agent::default_claude_code_command();
    if (args.size() > 3) command.assign(args.begin() + 3, args.end());
    return run_claude_code_adapter(std::move(command));
  }

  std::string error;
  std::optional<json> definition = read_json_file("AIRLOCK_AGENT_FILE", error);
  if (!definition) {
    std::cerr << "airlock agent: " << error << "\n";
    fail_session("the built-in agent could not start: " + error);
    return 1;
  }
  const json agent_doc = definition->value("agent", json::object());
  agent::AgentSettings settings;
  const json model = agent_doc.value("model", json());
  settings.model = model.is_string() ? model.get<std::string>() : model.is_object() ? model.value("id", "") : "";
  if (agent_doc.contains("system") && agent_doc["system"].is_string()) settings.system = agent_doc["system"].get<std::string>();
  settings.toolset = agent::resolve_toolset(agent_doc.value("tools", json::array()));
  settings.mcp_servers = agent_doc.value("mcp_servers", json::array());
  for (const std::string& note : settings.toolset.notes) std::cerr << "airlock agent: " << note << "\n";

  const char* base = std::getenv("ANTHROPIC_BASE_URL");
  const std::string base_url = base != nullptr && *base != '\0' ? base : "https://api.anthropic.com";
  std::optional<ControlUrl> api = ControlUrl::parse(base_url);
  if (!api) {
    fail_session(fmt::format("ANTHROPIC_BASE_URL is not an http(s) URL: \"{}\"", base_url));
    return 1;
  }
  settings.model_api = std::move(*api);
  if (const char* key = std::getenv("ANTHROPIC_API_KEY")) settings.api_key = key;
  std::error_code ec;
  settings.workspace = fs::current_path(ec);
  if (const char* tokens = std::getenv("AIRLOCK_AGENT_MAX_TOKENS")) {
    const std::string_view text(tokens);
    int value = 0;
    auto [end, parse_error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (parse_error != std::errc{} || end != text.data() + text.size() || value < 1) {
      fail_session(fmt::format("AIRLOCK_AGENT_MAX_TOKENS is not a positive number: \"{}\"", text));
      return 1;
    }
    settings.max_tokens = value;
  }

  agent::HttpsClient client(agent::HttpsClient::proxy_from_environment(), std::chrono::seconds(30), std::chrono::minutes(5));
  agent::Inbox inbox;
  agent::AgentLoop loop(std::move(settings), client, inbox, print_line);
  return run_with_stdin(inbox, [&loop] { return loop.run(has_initial_message()); });
}

}  // namespace airlock::control
