// The process half of `airlock agent --adapter claude-code` (the mapping is claude_code.hpp): reads the
// client events, runs the CLI once per user.message, in its own process group in the working directory,
// the message's text on its stdin, and prints what its stdout maps to. An interrupt sends the group SIGINT,
// then SIGKILL 2 s later. The CLI's stderr is the adapter's (the session's stderr.log).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/claude_code.hpp"
#include "agent/inbox.hpp"

namespace airlock::control::agent {

class ClaudeCodeRunner {
 public:
  ClaudeCodeRunner(std::vector<std::string> command, std::string workdir, Inbox& inbox,
                   std::function<void(const nlohmann::json&)> print);

  // Until the end of input. `turn_waiting_for_input`: a user.message is on its way (else idle at once).
  int run(bool turn_waiting_for_input);

 private:
  void run_turn(const std::string& prompt);
  void print_all(const std::vector<nlohmann::json>& events);

  std::vector<std::string> command_;
  std::string workdir_;
  Inbox& inbox_;
  std::function<void(const nlohmann::json&)> print_;
  ClaudeCodeMapping mapping_;
};

}  // namespace airlock::control::agent
