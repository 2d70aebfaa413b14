// ClaudeCodeRunner (see claude_code_runner.hpp).
#include "agent/claude_code_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "agent/spawn.hpp"
#include "runtime/harness_output.hpp"
#include "runtime/owned_fd.hpp"

namespace airlock::control::agent {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPollMilliseconds = 100;
constexpr auto kInterruptGrace = std::chrono::seconds(2);  // SIGINT, then SIGKILL
constexpr auto kExitGrace = std::chrono::seconds(10);      // after its result line, for the CLI to exit on its own
constexpr auto kDrainGrace = std::chrono::seconds(2);      // after it exited, for stdout a leftover process holds

void note(std::string_view text) { std::cerr << "airlock agent (claude-code): " << text << "\n" << std::flush; }

// A started CLI and its process group. The group is killed when the leader exits (what it left running goes
// with it) and when this goes first; the leader is always reaped.
class CliProcess {
 public:
  explicit CliProcess(pid_t pid) : pid_(pid) {}
  ~CliProcess() {
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);  // bounded: SIGKILL cannot be caught
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  void signal_group(int signal) const {
    if (!reaped_) ::kill(-pid_, signal);
  }
  // True once the leader has exited (and been reaped).
  bool poll_exit() {
    if (!reaped_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) {
      reaped_ = true;
      ::kill(-pid_, SIGKILL);
    }
    return reaped_;
  }
  int status() const { return status_; }

 private:
  pid_t pid_;
  int status_ = 0;
  bool reaped_ = false;
};

std::string describe_exit(const std::string& program, int status) {
  if (WIFSIGNALED(status)) return fmt::format("{} was killed by signal {} before it printed a result", program, WTERMSIG(status));
  const int code = WEXITSTATUS(status);
  if (code == 0) return fmt::format("{} exited without printing a result", program);
  return fmt::format("{} exited with status {} without printing a result", program, code);
}

}  // namespace

ClaudeCodeRunner::ClaudeCodeRunner(std::vector<std::string> command, std::string workdir, Inbox& inbox,
                                   std::function<void(const json&)> print)
    : command_(std::move(command)), workdir_(std::move(workdir)), inbox_(inbox), print_(std::move(print)) {}

void ClaudeCodeRunner::print_all(const std::vector<json>& events) {
  for (const json& event : events) print_(event);
}

int ClaudeCodeRunner::run(bool turn_waiting_for_input) {
  const json idle = {{"type", "session.status_idle"}, {"stop_reason", {{"type", "end_turn"}}}};
  if (!turn_waiting_for_input) print_(idle);
  while (std::optional<json> event = inbox_.next()) {
    const std::string type = event->value("type", "");
    if (type == "user.interrupt") {
      inbox_.clear_interrupt();  // the turn it was for has ended (or there was none)
    } else if (type == "user.message") {
      run_turn(stdin_text(*event));
    } else if (starts_turn(type)) {
      // Claude Code asks for no custom tool result or confirmation: the turn Airlock opened for it ends.
      note(fmt::format("{} is not acted on: Claude Code waits for none", type));
      print_(idle);
    } else {
      note(fmt::format("{} is not acted on", type));
    }
  }
  return 0;
}

void ClaudeCodeRunner::run_turn(const std::string& prompt) {
  print_(mapping_.begin_turn());
  if (inbox_.interrupted()) {  // interrupted before it started
    print_all(mapping_.end_interrupted());
    return;
  }
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    print_all(mapping_.end_without_result("the message has no text for Claude Code to read"));
    return;
  }
  const std::vector<std::string> argv_strings = claude_code_turn_command(command_, mapping_.session_id());
  const std::string& program = argv_strings.front();

  std::array<int, 2> fds{-1, -1};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    print_all(mapping_.end_without_result(fmt::format("cannot create a pipe: {}", std::system_category().message(errno))));
    return;
  }
  OwnedFd child_stdin(fds[0]);
  OwnedFd prompt_writer(fds[1]);
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    print_all(mapping_.end_without_result(fmt::format("cannot create a pipe: {}", std::system_category().message(errno))));
    return;
  }
  OwnedFd output_reader(fds[0]);
  OwnedFd child_stdout(fds[1]);

  // Its stderr is the harness's own: the session's stderr log.
  const Spawned spawned = spawn_in_session(argv_strings, workdir_, child_stdin.get(), child_stdout.get(), STDERR_FILENO);
  child_stdin.reset();
  child_stdout.reset();
  if (spawned.pid < 0) {
    print_all(mapping_.end_without_result(fmt::format("cannot start {}: {}", program, std::system_category().message(spawned.error))));
    return;
  }
  CliProcess cli(spawned.pid);
  // Neither end may block the loop: it must notice an interrupt and the CLI's exit in time.
  ::fcntl(prompt_writer.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(output_reader.get(), F_SETFL, O_NONBLOCK);

  LineSplitter splitter(kClaudeCodeLineMax);
  std::vector<std::string> lines;
  auto take_line = [this](std::string_view line) {
    MappedLine mapped = mapping_.map_line(line);
    print_all(mapped.events);
    if (mapped.diagnostic) note(*mapped.diagnostic);
  };
  std::size_t written = 0;
  std::array<char, 65536> buffer{};
  std::optional<Clock::time_point> interrupted_at;
  std::optional<Clock::time_point> ended_at;   // the result line came
  std::optional<Clock::time_point> exited_at;  // the leader was reaped
  bool killed_after_result = false;
  for (;;) {
    std::array<pollfd, 2> ready{};
    nfds_t count = 0;
    if (output_reader.get() >= 0) ready[count++] = {output_reader.get(), POLLIN, 0};
    if (prompt_writer.get() >= 0) ready[count++] = {prompt_writer.get(), POLLOUT, 0};
    ::poll(ready.data(), count, kPollMilliseconds);

    if (prompt_writer.get() >= 0) {
      const ssize_t n = ::write(prompt_writer.get(), prompt.data() + written, prompt.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      // All of it, or a CLI that stopped reading (EPIPE): either way its input is over.
      if (written == prompt.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) prompt_writer.reset();
    }
    if (output_reader.get() >= 0) {
      const ssize_t n = ::read(output_reader.get(), buffer.data(), buffer.size());
      if (n > 0) {
        lines.clear();
        splitter.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)), lines);
        for (const std::string& line : lines) take_line(line);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        output_reader.reset();
      }
    }

    const auto now = Clock::now();
    if (!ended_at && mapping_.turn_ended()) ended_at = now;
    if (!exited_at && cli.poll_exit()) exited_at = now;
    if (exited_at && (output_reader.get() < 0 || now - *exited_at > kDrainGrace)) break;
    if (!interrupted_at && inbox_.interrupted()) {
      interrupted_at = now;
      mapping_.mark_interrupted();
      cli.signal_group(SIGINT);
    }
    if (interrupted_at && now - *interrupted_at > kInterruptGrace) cli.signal_group(SIGKILL);
    if (ended_at && !exited_at && !killed_after_result && now - *ended_at > kExitGrace) {
      killed_after_result = true;
      note(fmt::format("{} did not exit within {} s of its result; killed", program, kExitGrace.count()));
      cli.signal_group(SIGKILL);
    }
  }
  if (std::optional<std::string> last = splitter.finish()) take_line(*last);
  if (interrupted_at) {
    print_all(mapping_.end_interrupted());
  } else {
    print_all(mapping_.end_without_result(describe_exit(program, cli.status())));
  }
}

}  // namespace airlock::control::agent
